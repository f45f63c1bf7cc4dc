//! An OpenAI-compatible HTTP client (`POST /embeddings`, `POST /chat/completions`) with
//! retries, bounded concurrency, a persistent cache and a call budget. Everything here is
//! optional: without `--embedder api` or an LLM option no command touches the network.

pub mod args;
pub mod budget;
pub mod cache;
pub mod chat;
pub mod client;
pub mod embeddings;
pub mod gate;
pub mod pool;
pub mod redact;
pub mod reply;

pub use args::{ApiArgs, ApiConfig, ChatArgs, EmbeddingApiArgs};
pub use budget::Budget;
pub use cache::Cache;
pub use chat::Llm;
pub use client::Client;
pub use redact::redact;
