//! `POST {base}/chat/completions`: cached completions, one at a time or many with bounded
//! concurrency ([`Llm::complete_all`]).

use super::{ApiConfig, Budget, Cache, Client};
use crate::error::{Error, Result};
use crate::progress::Progress;
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
    /// Sent as `seed` (OpenAI, vLLM, Ollama and llama.cpp honour it) and part of the cache
    /// key, so the k-th of several samples of one prompt is its own, reproducible entry.
    pub seed: Option<u64>,
}

impl Default for ChatParams {
    fn default() -> Self {
        ChatParams {
            temperature: 0.0,
            max_tokens: 512,
            seed: None,
        }
    }
}

/// One completion to ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub params: ChatParams,
}

/// The cache key of a completion: endpoint, model, parameters and messages.
pub fn cache_key(client: &Client, model: &str, messages: &[Message], params: ChatParams) -> u128 {
    let params = match params.seed {
        None => format!(
            "{{\"temperature\":{},\"max_tokens\":{}}}",
            params.temperature, params.max_tokens
        ),
        Some(seed) => format!(
            "{{\"temperature\":{},\"max_tokens\":{},\"seed\":{seed}}}",
            params.temperature, params.max_tokens
        ),
    };
    let text = serde_json::to_string(messages).expect("messages serialize");
    super::cache::key(&[&client.config().shown_endpoint(PATH), model, &params, &text])
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
    let mut body = json!({
        "model": model,
        "messages": messages,
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
    });
    if let Some(seed) = params.seed {
        body["seed"] = json!(seed);
    }
    let response = client.post(PATH, &body)?;
    let text = response
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Api {
            endpoint: client.config().shown_endpoint(PATH),
            message: "expected choices[0].message.content (a string) in the response".into(),
        })?
        .to_string();
    if let Some(c) = cache {
        c.put_text(KIND, key, &text)?;
    }
    Ok(text)
}

/// Consecutive failed completions after which [`Llm::complete_all`] starts no more: a server
/// that is down should not be retried once per row.
const GIVE_UP_AFTER: usize = 3;

/// A chat model on an OpenAI-compatible server, with the response cache.
pub struct Llm {
    client: Client,
    cache: Option<Cache>,
    model: String,
}

impl Llm {
    pub fn new(config: ApiConfig, model: impl Into<String>) -> Self {
        let cache = config.cache_dir.clone().map(Cache::new);
        Llm {
            client: Client::new(config),
            cache,
            model: model.into(),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The text of one completion (cached).
    pub fn complete(&self, messages: &[Message], params: ChatParams) -> Result<String> {
        complete(
            &self.client,
            self.cache.as_ref(),
            &self.model,
            messages,
            params,
        )
    }

    /// The cached completion of `request`, if any: never sends anything. A caller that plans
    /// a second round of requests from the answers of a first uses it to bound its budget.
    pub fn cached(&self, request: &ChatRequest) -> Option<String> {
        let key = cache_key(&self.client, &self.model, &request.messages, request.params);
        self.cache.as_ref().and_then(|c| c.get_text(KIND, key))
    }

    /// Refuses (a usage error, exit 2) when `calls`, a run's planned calls after the cache,
    /// are above `--max-calls`. For runs of several rounds, whose later requests depend on
    /// earlier answers: checked once on an upper bound before anything is sent.
    pub fn check_max_calls(&self, calls: u64, what: &str) -> Result<()> {
        match self.client.config().max_calls {
            Some(max) if calls > max => Err(Error::Usage(format!(
                "{what}: this run would make up to {calls} API calls, above --max-calls {max}; raise it or narrow the input"
            ))),
            _ => Ok(()),
        }
    }

    /// The completions of `requests`, in order, each its own `Result` so that a caller can fall
    /// back per item. The budget (calls not in the cache) is printed as `what` and checked
    /// against `--max-calls` first: above it the whole call fails with a usage error. After
    /// [`GIVE_UP_AFTER`] failures in a row the rest fail without being sent.
    pub fn complete_all(
        &self,
        requests: &[ChatRequest],
        what: &str,
        progress: &Progress,
    ) -> Result<Vec<Result<String>>> {
        let config = self.client.config();
        // One cache read per request: hits are answered here, only misses are sent.
        let answers: Vec<Option<String>> = requests.iter().map(|r| self.cached(r)).collect();
        let missing: Vec<usize> = (0..requests.len())
            .filter(|&i| answers[i].is_none())
            .collect();
        let budget = Budget {
            calls: missing.len() as u64,
            texts: missing.len() as u64,
            cached: (requests.len() - missing.len()) as u64,
            tokens: missing
                .iter()
                .map(|&i| {
                    let r = &requests[i];
                    r.messages
                        .iter()
                        .map(|m| Budget::tokens_of(&m.content))
                        .sum::<u64>()
                        + r.params.max_tokens as u64
                })
                .sum(),
        };
        budget.check(
            &format!("{what}: {} ({})", config.shown_endpoint(PATH), self.model),
            config.max_calls,
            config.quiet,
        )?;
        let bar = progress.bar(missing.len() as u64, what);
        let fetched = super::pool::map_bounded(
            missing.len(),
            config.max_concurrent,
            GIVE_UP_AFTER,
            |j| {
                let r = &requests[missing[j]];
                self.complete(&r.messages, r.params)
            },
            || bar.inc(1),
        );
        bar.finish_and_clear();
        let mut fetched = fetched.into_iter();
        Ok(answers
            .into_iter()
            .map(|answer| match answer {
                Some(text) => Ok(text),
                None => fetched.next().flatten().unwrap_or_else(|| {
                    Err(Error::Api {
                        endpoint: config.shown_endpoint(PATH),
                        message: format!(
                            "not sent: {GIVE_UP_AFTER} completions in a row had failed"
                        ),
                    })
                }),
            })
            .collect())
    }
}
