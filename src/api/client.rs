//! One blocking HTTP client for both endpoints: timeouts, retries with exponential backoff and
//! full jitter on 429, 5xx, timeouts and connection errors, honouring `Retry-After`.

use super::ApiConfig;
use crate::error::{Error, Result};
use rand::Rng;
use serde_json::Value;
use std::time::Duration;

/// Longest single backoff wait (Retry-After included).
const MAX_WAIT: Duration = Duration::from_secs(120);
/// Largest response body read (a batch of large embeddings as JSON).
const BODY_LIMIT: u64 = 512 * 1024 * 1024;
/// How much of an error body an error message quotes.
const EXCERPT_CHARS: usize = 300;

pub struct Client {
    agent: ureq::Agent,
    config: ApiConfig,
}

/// What one attempt came to.
enum Attempt {
    Done(Value),
    /// Worth retrying: what went wrong, and the server's Retry-After if any.
    Retry(String, Option<Duration>),
    /// Not worth retrying (401, 400, a bad URL...).
    Fatal(String),
}

impl Client {
    pub fn new(config: ApiConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("faultmap/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client { agent, config }
    }

    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// POSTs `body` as JSON to `{base}/{path}` and returns the JSON response, retrying
    /// transient failures up to `max_retries` times. The error after the last attempt names
    /// the endpoint and the last status or transport error, never the key.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let endpoint = self.config.endpoint(path);
        let mut retry = 0u32;
        loop {
            let (message, retryable, retry_after) = match self.attempt(&endpoint, body) {
                Attempt::Done(v) => return Ok(v),
                Attempt::Retry(m, after) => (m, true, after),
                Attempt::Fatal(m) => (m, false, None),
            };
            if !retryable || retry >= self.config.max_retries {
                let attempts = retry + 1;
                let message = if retryable {
                    format!(
                        "gave up after {attempts} attempt{}: {message}",
                        if attempts == 1 { "" } else { "s" }
                    )
                } else {
                    message
                };
                return Err(Error::Api {
                    endpoint: self.config.redact(&endpoint),
                    message: self.config.redact(&message),
                });
            }
            std::thread::sleep(self.wait(retry, retry_after));
            retry += 1;
        }
    }

    /// The wait before retry number `retry` (0-based): Retry-After when the server sent one,
    /// else a uniformly random time up to `backoff_base * 2^retry` ("full jitter").
    fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(MAX_WAIT);
        }
        let cap = self
            .config
            .backoff_base
            .saturating_mul(1u32 << retry.min(16))
            .min(Duration::from_secs(30));
        cap.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
    }

    fn attempt(&self, endpoint: &str, body: &Value) -> Attempt {
        let mut request = self
            .agent
            .post(endpoint)
            .header("Content-Type", "application/json");
        if let Some(key) = self.config.key() {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = match request.send_json(body) {
            Ok(r) => r,
            Err(e) => return transport_error(e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let text = match response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
        {
            Ok(t) => t,
            Err(e) => return transport_error(e),
        };
        if (200..300).contains(&status) {
            return match serde_json::from_str(&text) {
                Ok(v) => Attempt::Done(v),
                // A truncated or garbled body from a proxy is usually transient.
                Err(e) => Attempt::Retry(
                    format!(
                        "HTTP {status} with a body that is not JSON ({e}): {}",
                        excerpt(&text)
                    ),
                    None,
                ),
            };
        }
        let message = format!("HTTP {status}: {}", excerpt(&text));
        if status == 429 || status >= 500 {
            Attempt::Retry(message, retry_after)
        } else {
            Attempt::Fatal(message)
        }
    }
}

fn transport_error(e: ureq::Error) -> Attempt {
    use ureq::Error as E;
    match e {
        E::Timeout(_) | E::Io(_) | E::ConnectionFailed | E::Protocol(_) => {
            Attempt::Retry(format!("request failed: {e}"), None)
        }
        other => Attempt::Fatal(format!("request failed: {other}")),
    }
}

/// The first [`EXCERPT_CHARS`] characters of `text` on one line.
fn excerpt(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.is_empty() {
        return "(empty body)".into();
    }
    match trimmed.char_indices().nth(EXCERPT_CHARS) {
        Some((i, _)) => format!("{}...", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let mut c = ApiConfig::new("http://127.0.0.1:1/v1");
        c.backoff_base = Duration::from_millis(100);
        let client = Client::new(c);
        for retry in 0..8 {
            let w = client.wait(retry, None);
            assert!(w <= Duration::from_millis(100) * (1 << retry), "{w:?}");
        }
        assert_eq!(
            client.wait(3, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(client.wait(0, Some(Duration::from_secs(9999))), MAX_WAIT);
    }

    #[test]
    fn excerpt_is_short_and_one_line() {
        assert_eq!(excerpt("a\nb"), "a b");
        assert_eq!(excerpt(""), "(empty body)");
        assert!(excerpt(&"x".repeat(1000)).len() < 310);
    }
}
