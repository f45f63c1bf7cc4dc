//! The API flags every subcommand shares, and the resolved configuration.

use crate::error::{Error, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable for the base URL (`--api-base` wins).
pub const ENV_BASE: &str = "FAULTMAP_API_BASE";
/// Environment variable for a separate embeddings server (`--embedding-api-base` wins).
pub const ENV_EMBEDDING_BASE: &str = "FAULTMAP_EMBEDDING_API_BASE";
/// Environment variables read for the API key, in order. There is no flag: a key on the
/// command line would land in shell history and process lists.
pub const ENV_KEYS: [&str; 2] = ["FAULTMAP_API_KEY", "OPENAI_API_KEY"];

/// How an OpenAI-compatible server is reached (`--embedder api`). The key is read from
/// FAULTMAP_API_KEY or OPENAI_API_KEY, never from a flag.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "API (OpenAI-compatible server)")]
pub struct ApiArgs {
    /// Base URL of the API, e.g. http://127.0.0.1:8080/v1 or https://api.openai.com/v1
    /// [default: $FAULTMAP_API_BASE]
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,
    /// Seconds before a request is abandoned (and retried).
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = crate::cmd::common::whole::<1, { u64::MAX }>)]
    pub timeout: u64,
    /// Retries of a request after a 429, a 5xx, a timeout or a connection error
    /// (exponential backoff with full jitter; Retry-After is honoured).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_retries: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = crate::cmd::common::whole::<1, 1024>)]
    pub max_concurrent: u64,
    /// Where API responses are cached [default: $XDG_CACHE_HOME/faultmap or ~/.cache/faultmap]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Neither read nor write the response cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Refuse to start (exit 2) when the run would make more API calls than this (after the
    /// cache).
    #[arg(long, value_name = "N")]
    pub max_calls: Option<u64>,
}

/// The embeddings server and model (`--embedder api`): only on commands that embed prompts.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "API (OpenAI-compatible server)")]
pub struct EmbeddingApiArgs {
    /// Base URL of the embeddings server when it is not the chat server (llama.cpp serves
    /// embeddings from a separate `llama-server --embeddings` process)
    /// [default: $FAULTMAP_EMBEDDING_API_BASE, else --api-base]
    #[arg(long, value_name = "URL")]
    pub embedding_api_base: Option<String>,
    /// Embedding model name sent to the server (required with --embedder api).
    #[arg(long, value_name = "NAME")]
    pub embedding_model: Option<String>,
    /// Texts per embeddings request.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = crate::cmd::common::whole::<1, 100_000>)]
    pub embedding_batch: u64,
}

/// The chat model: only on commands with an option that asks an LLM.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "API (OpenAI-compatible server)")]
pub struct ChatArgs {
    /// Chat model name sent to the server, for the options that ask an LLM (--name-with-llm,
    /// score --judge / --consistency, slices --sample).
    #[arg(long, value_name = "NAME")]
    pub llm_model: Option<String>,
}

/// A resolved API configuration. `Debug` never shows the key.
#[derive(Clone)]
pub struct ApiConfig {
    /// Base URL without a trailing slash.
    pub base: String,
    key: Option<String>,
    /// Credentials written into `base` ([`super::redact::url_secrets`]), redacted like the key.
    url_secrets: Vec<String>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub max_concurrent: usize,
    pub embedding_batch: usize,
    /// `None`: no cache.
    pub cache_dir: Option<PathBuf>,
    pub max_calls: Option<u64>,
    /// No budget line on stderr.
    pub quiet: bool,
    /// First backoff step; the n-th retry waits a random time up to `backoff_base * 2^n`
    /// (capped at 30 s) unless the server sent Retry-After.
    pub backoff_base: Duration,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("base", &self.redact(&self.base))
            .field("key", &self.key.as_ref().map(|_| super::redact::REDACTED))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_concurrent", &self.max_concurrent)
            .field("embedding_batch", &self.embedding_batch)
            .field("cache_dir", &self.cache_dir)
            .field("max_calls", &self.max_calls)
            .finish()
    }
}

impl ApiConfig {
    /// A configuration for `base` with the flags' defaults, no key and no cache.
    pub fn new(base: &str) -> Self {
        ApiConfig {
            base: base.trim_end_matches('/').to_string(),
            key: None,
            url_secrets: super::redact::url_secrets(base),
            timeout: Duration::from_secs(60),
            max_retries: 5,
            max_concurrent: 16,
            embedding_batch: 64,
            cache_dir: None,
            max_calls: None,
            quiet: false,
            backoff_base: Duration::from_millis(500),
        }
    }

    pub fn with_key(mut self, key: Option<String>) -> Self {
        self.key = key.filter(|k| !k.is_empty());
        self
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// `text` with the key and the base URL's credentials replaced (see [`super::redact`]).
    pub fn redact(&self, text: &str) -> String {
        super::redact::redact_all(&super::redact(text, self.key()), &self.url_secrets)
    }

    /// `{base}/{path}`, credentials included: for the request only. A query string on the base
    /// (`?api-version=...`, `?api_key=...`) stays at the end.
    pub fn endpoint(&self, path: &str) -> String {
        let (root, query) = match self.base.split_once('?') {
            Some((root, query)) => (root, format!("?{query}")),
            None => (self.base.as_str(), String::new()),
        };
        let root = root.trim_end_matches('/');
        format!("{root}/{}{query}", path.trim_start_matches('/'))
    }

    /// `{base}/{path}` with the base URL's credentials redacted: for messages and cache keys
    /// (so a changed password does not invalidate the cache, and no key derives from it).
    pub fn shown_endpoint(&self, path: &str) -> String {
        self.redact(&self.endpoint(path))
    }
}

impl ApiArgs {
    /// The configuration of the chat server, from the flags and the environment.
    pub fn config(&self, quiet: bool) -> Result<ApiConfig> {
        let base = self.api_base.clone().or_else(|| env(ENV_BASE)).ok_or_else(|| {
            Error::Usage(format!(
                "the API needs a base URL: give --api-base URL or set {ENV_BASE} (e.g. http://127.0.0.1:8080/v1)"
            ))
        })?;
        self.config_for(&base, quiet)
    }

    fn config_for(&self, base: &str, quiet: bool) -> Result<ApiConfig> {
        let base = base.trim();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Usage(format!(
                "the API base URL `{}` must start with http:// or https://",
                super::redact::redact_all(base, &super::redact::url_secrets(base))
            )));
        }
        let key = ENV_KEYS
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        let mut config = ApiConfig::new(base).with_key(key);
        config.timeout = Duration::from_secs(self.timeout);
        config.max_retries = self.max_retries;
        config.max_concurrent = self.max_concurrent as usize;
        config.max_calls = self.max_calls;
        config.quiet = quiet;
        config.cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        Ok(config)
    }
}

impl EmbeddingApiArgs {
    /// The configuration of the embeddings server: --embedding-api-base when given, else the
    /// chat server's.
    pub fn config(&self, api: &ApiArgs, quiet: bool) -> Result<ApiConfig> {
        let mut config = match self
            .embedding_api_base
            .clone()
            .or_else(|| env(ENV_EMBEDDING_BASE))
        {
            Some(base) => api.config_for(&base, quiet)?,
            None => api.config(quiet)?,
        };
        config.embedding_batch = self.embedding_batch as usize;
        Ok(config)
    }
}

impl ChatArgs {
    /// The chat model for `option` (e.g. `--name-with-llm`): needs --llm-model and a base URL.
    pub fn llm(&self, api: &ApiArgs, option: &str, quiet: bool) -> Result<super::Llm> {
        let model = self.llm_model.clone().ok_or_else(|| {
            Error::Usage(format!(
                "{option} needs --llm-model NAME (the server's chat model) and --api-base URL or {ENV_BASE}"
            ))
        })?;
        Ok(super::Llm::new(api.config(quiet)?, model))
    }
}

/// A non-blank environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `$XDG_CACHE_HOME/faultmap`, else `~/.cache/faultmap`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache"))
    })?;
    Some(base.join("faultmap"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let c = ApiConfig::new("http://127.0.0.1:1/v1/").with_key(Some("sk-abc-123".into()));
        let shown = format!("{c:?}");
        assert!(!shown.contains("sk-abc-123"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
        assert_eq!(c.endpoint("embeddings"), "http://127.0.0.1:1/v1/embeddings");
        let q = ApiConfig::new("http://h/v1/?api-version=2024-02-01");
        assert_eq!(
            q.endpoint("/chat/completions"),
            "http://h/v1/chat/completions?api-version=2024-02-01"
        );
    }
}
