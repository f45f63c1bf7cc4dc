//! `POST {base}/chat/completions`: cached completions, one at a time or many with bounded
//! concurrency ([`Llm::complete_all`]).

use super::{ApiConfig, Budget, Cache, Client};
use crate::error::{Error, Result};
use crate::progress::Progress;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

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

/// The JSON a reply must be (structured output): sent as `response_format` with a JSON
/// schema, which OpenAI, vLLM, Ollama and llama.cpp (as a grammar) enforce, so that even a
/// small local model answers in the shape asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplySchema {
    /// The schema's name (`[a-z_]`), as OpenAI requires one.
    pub name: &'static str,
    /// A JSON Schema of an object.
    pub schema: Value,
}

impl ReplySchema {
    /// The `response_format` field of a request.
    fn response_format(&self) -> Value {
        json!({
            "type": "json_schema",
            "json_schema": {"name": self.name, "strict": true, "schema": self.schema},
        })
    }
}

/// One completion to ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub params: ChatParams,
    /// The reply's shape, when the task wants JSON.
    pub schema: Option<ReplySchema>,
}

/// The cache key of a completion: endpoint, model, parameters (with the reply schema) and
/// messages.
pub fn cache_key(client: &Client, model: &str, request: &ChatRequest) -> u128 {
    let mut params = json!({
        "temperature": request.params.temperature,
        "max_tokens": request.params.max_tokens,
    });
    if let Some(seed) = request.params.seed {
        params["seed"] = json!(seed);
    }
    if let Some(schema) = &request.schema {
        params["response_format"] = schema.response_format();
    }
    let text = serde_json::to_string(&request.messages).expect("messages serialize");
    super::cache::key(&[
        &client.config().shown_endpoint(PATH),
        model,
        &params.to_string(),
        &text,
    ])
}

/// Checks a reply to the `i`-th request: `Err(why)` when it cannot be used. Only replies that
/// pass are cached, so that a rerun asks again instead of replaying a useless answer.
pub type Check<'a> = dyn Fn(usize, &str) -> std::result::Result<(), String> + Sync + 'a;

/// A [`Check`] that takes any reply with some text.
pub fn non_empty(_: usize, reply: &str) -> std::result::Result<(), String> {
    if reply.trim().is_empty() {
        Err("the reply is empty".into())
    } else {
        Ok(())
    }
}

/// Characters of an unusable reply quoted in its error, so a user sees what came back.
const UNUSABLE_QUOTE_CHARS: usize = 200;

/// Consecutive failed completions after which [`Llm::complete_all`] starts no more: a server
/// that is down should not be retried once per row.
const GIVE_UP_AFTER: usize = 3;

/// A chat model on an OpenAI-compatible server, with the response cache.
pub struct Llm {
    client: Client,
    cache: Option<Cache>,
    model: String,
    /// Once a server refused `response_format`, it is not sent again.
    structured_refused: AtomicBool,
    /// The server's slot count is read once, before the first request.
    slots_read: Once,
}

impl Llm {
    pub fn new(config: ApiConfig, model: impl Into<String>) -> Self {
        let cache = config.cache_dir.clone().map(Cache::new);
        Llm {
            client: Client::new(config),
            cache,
            model: model.into(),
            structured_refused: AtomicBool::new(false),
            slots_read: Once::new(),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Requests the client keeps in flight now.
    pub fn concurrency(&self) -> usize {
        self.client.gate().limit()
    }

    /// The text of one completion, from the cache when present (and passing `check`). A
    /// reply that fails `check` is an error quoting its start, and is not cached.
    pub fn complete(
        &self,
        request: &ChatRequest,
        check: &Check,
        index: usize,
        on_retry: &dyn Fn(&str),
    ) -> Result<String> {
        let key = cache_key(&self.client, &self.model, request);
        if let Some(text) = self.cached_by_key(key) {
            if check(index, &text).is_ok() {
                return Ok(text);
            }
        }
        self.fetch(request, key, check, index, on_retry)
    }

    /// Asks the server (the cache missed, under `key`), checks the reply and caches it when
    /// usable.
    fn fetch(
        &self,
        request: &ChatRequest,
        key: u128,
        check: &Check,
        index: usize,
        on_retry: &dyn Fn(&str),
    ) -> Result<String> {
        let text = self.ask(request, on_retry)?;
        if let Err(why) = check(index, &text) {
            return Err(Error::UnusableReply {
                why,
                began: super::client::excerpt_of(&text, UNUSABLE_QUOTE_CHARS),
            });
        }
        if let Some(c) = &self.cache {
            c.put_text(KIND, key, &text)?;
        }
        Ok(text)
    }

    /// Sends `request` (with `response_format` unless the server refused it before). A server
    /// that answers a request with a schema with 400 or 422 is asked again without it; when
    /// that works, the schema is left out from then on and a warning says so once.
    fn ask(&self, request: &ChatRequest, on_retry: &dyn Fn(&str)) -> Result<String> {
        let mut body = json!({
            "model": self.model,
            "messages": request.messages,
            "temperature": request.params.temperature,
            "max_tokens": request.params.max_tokens,
        });
        if let Some(seed) = request.params.seed {
            body["seed"] = json!(seed);
        }
        let schema = request
            .schema
            .as_ref()
            .filter(|_| !self.structured_refused.load(Ordering::SeqCst));
        let response = match schema {
            None => self.client.try_post(PATH, &body, on_retry),
            Some(schema) => {
                let mut structured = body.clone();
                structured["response_format"] = schema.response_format();
                match self.client.try_post(PATH, &structured, on_retry) {
                    Err(refused) if matches!(refused.status, Some(400 | 422)) => {
                        let plain = self.client.try_post(PATH, &body, on_retry);
                        if plain.is_ok()
                            && !self.structured_refused.swap(true, Ordering::SeqCst)
                            && !self.client.config().quiet
                        {
                            crate::diag!(
                                "{}: the server refused structured output (response_format: {}); asking without it, and reading JSON out of free text",
                                self.client.config().shown_endpoint(PATH),
                                refused.message
                            );
                        }
                        plain
                    }
                    other => other,
                }
            }
        }
        .map_err(|f| self.client.api_error(PATH, f.message))?;
        response
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                self.client.api_error(
                    PATH,
                    "expected choices[0].message.content (a string) in the response".into(),
                )
            })
    }

    fn cached_by_key(&self, key: u128) -> Option<String> {
        self.cache.as_ref().and_then(|c| c.get_text(KIND, key))
    }

    /// The cached completion of `request`, if any: never sends anything. A caller that plans
    /// a second round of requests from the answers of a first uses it to bound its budget.
    pub fn cached(&self, request: &ChatRequest) -> Option<String> {
        self.cached_by_key(cache_key(&self.client, &self.model, request))
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

    /// Fits the requests in flight to the server, once: llama.cpp's `/props` tells how many
    /// requests it runs at once (`total_slots`); more would only queue there, and a queued
    /// request can time out before it starts.
    fn fit_to_server(&self) {
        self.slots_read.call_once(|| {
            let slots = self
                .client
                .probe("props")
                .and_then(|props| props.get("total_slots")?.as_u64())
                .filter(|&n| n > 0);
            if let Some(slots) = slots {
                if self.client.gate().cap(slots as usize) && !self.client.config().quiet {
                    crate::diag!(
                        "{}: the server runs {slots} request{} at a time; sending no more at once",
                        self.client.config().shown_endpoint(PATH),
                        if slots == 1 { "" } else { "s" }
                    );
                }
            }
        });
    }

    /// The completions of `requests`, in order, each its own `Result` so that a caller can fall
    /// back per item. A reply that fails `check` is an error (quoting it) and is not cached;
    /// a cached reply that fails it is asked again. The budget (calls not in the cache) is
    /// printed as `what` and checked against `--max-calls` first: above it the whole call fails
    /// with a usage error. After [`GIVE_UP_AFTER`] failures in a row the rest fail without
    /// being sent. While requests are retried, the progress bar says why.
    pub fn complete_all(
        &self,
        requests: &[ChatRequest],
        what: &str,
        progress: &Progress,
        check: &Check,
    ) -> Result<Vec<Result<String>>> {
        let config = self.client.config();
        // One cache read per request: hits are answered here, only misses are sent.
        let keys: Vec<u128> = requests
            .iter()
            .map(|r| cache_key(&self.client, &self.model, r))
            .collect();
        let answers: Vec<Option<String>> = keys
            .iter()
            .enumerate()
            .map(|(i, &key)| {
                self.cached_by_key(key)
                    .filter(|text| check(i, text).is_ok())
            })
            .collect();
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
        if !missing.is_empty() {
            self.fit_to_server();
        }
        let bar = progress.bar(missing.len() as u64, what);
        let on_retry = |why: &str| bar.set_message(format!("{what} ({why})"));
        let fetched = super::pool::map_bounded(
            missing.len(),
            config.max_concurrent,
            GIVE_UP_AFTER,
            |j| {
                let i = missing[j];
                self.fetch(&requests[i], keys[i], check, i, &on_retry)
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
