//! `POST {base}/chat/completions`: one cached completion.

use super::{Cache, Client};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::{json, Value};

const KIND: &str = "chat";
const PATH: &str = "chat/completions";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: "system".into(),
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: "user".into(),
            content: content.into(),
        }
    }
}

/// Sampling parameters of a completion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChatParams {
    pub temperature: f64,
    pub max_tokens: u32,
}

impl Default for ChatParams {
    fn default() -> Self {
        ChatParams {
            temperature: 0.0,
            max_tokens: 512,
        }
    }
}

/// The cache key of a completion: endpoint, model, parameters and messages.
pub fn cache_key(client: &Client, model: &str, messages: &[Message], params: ChatParams) -> u128 {
    let params = format!(
        "{{\"temperature\":{},\"max_tokens\":{}}}",
        params.temperature, params.max_tokens
    );
    let text = serde_json::to_string(messages).expect("messages serialize");
    super::cache::key(&[&client.config().endpoint(PATH), model, &params, &text])
}

/// Whether the completion is already cached (for budgets).
pub fn is_cached(
    client: &Client,
    cache: Option<&Cache>,
    model: &str,
    messages: &[Message],
    params: ChatParams,
) -> bool {
    cache.is_some_and(|c| {
        c.get_text(KIND, cache_key(client, model, messages, params))
            .is_some()
    })
}

/// The text of the first choice, from the cache when present.
pub fn complete(
    client: &Client,
    cache: Option<&Cache>,
    model: &str,
    messages: &[Message],
    params: ChatParams,
) -> Result<String> {
    let key = cache_key(client, model, messages, params);
    if let Some(text) = cache.and_then(|c| c.get_text(KIND, key)) {
        return Ok(text);
    }
    let body = json!({
        "model": model,
        "messages": messages,
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
    });
    let response = client.post(PATH, &body)?;
    let text = response
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Api {
            endpoint: client.config().endpoint(PATH),
            message: "expected choices[0].message.content (a string) in the response".into(),
        })?
        .to_string();
    if let Some(c) = cache {
        c.put_text(KIND, key, &text)?;
    }
    Ok(text)
}
