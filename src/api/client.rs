//! One blocking HTTP client for both endpoints: timeouts, retries with exponential backoff and
//! full jitter on 429, 5xx, timeouts and connection errors, honouring `Retry-After`, and a
//! [`Gate`] on the requests in flight that timeouts lower.

use super::gate::Gate;
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
/// How long the server's own description (`/props`) may take: it is optional.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Client {
    agent: ureq::Agent,
    config: ApiConfig,
    gate: Gate,
}

/// What one attempt came to.
enum Attempt {
    Done(Value),
    /// Worth retrying: what went wrong, whether it was a timeout, and the server's
    /// Retry-After if any.
    Retry(String, bool, Option<Duration>),
    /// Not worth retrying (401, 400, a bad URL...), with the HTTP status when there was one.
    Fatal(String, Option<u16>),
}

/// A POST that failed for good, before it becomes an [`Error::Api`]: the status lets a caller
/// tell a refused field (400) from an outage.
#[derive(Debug)]
pub struct Failure {
    pub status: Option<u16>,
    /// Redacted.
    pub message: String,
}

impl Client {
    pub fn new(config: ApiConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("faultmap/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let gate = Gate::new(config.max_concurrent);
        Client {
            agent,
            config,
            gate,
        }
    }

    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// Requests allowed in flight now.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// POSTs `body` as JSON to `{base}/{path}` and returns the JSON response, retrying
    /// transient failures up to `max_retries` times. The error after the last attempt names
    /// the endpoint and the last status or transport error, never the key.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.try_post(path, body, &|_| {})
            .map_err(|f| self.api_error(path, f.message))
    }

    /// An API error about `{base}/{path}` (redacted).
    pub fn api_error(&self, path: &str, message: String) -> Error {
        Error::Api {
            endpoint: self.config.shown_endpoint(path),
            message: self.config.redact(&message),
        }
    }

    /// [`Client::post`] that tells `on_retry` why each retry happens (for a progress bar)
    /// and fails with the last status. Each attempt holds a place in the [`Gate`]; an attempt
    /// that times out lowers its limit, which is announced on stderr.
    pub fn try_post(
        &self,
        path: &str,
        body: &Value,
        on_retry: &dyn Fn(&str),
    ) -> std::result::Result<Value, Failure> {
        let endpoint = self.config.endpoint(path);
        let mut retry = 0u32;
        loop {
            let permit = self.gate.acquire();
            let attempt = self.attempt(&endpoint, body);
            let (message, retryable, status, retry_after) = match attempt {
                Attempt::Done(v) => {
                    permit.succeeded();
                    return Ok(v);
                }
                Attempt::Retry(m, timed_out, after) => {
                    if !timed_out {
                        drop(permit);
                    } else if let Some(limit) = permit.timed_out() {
                        self.announce_lower_limit(limit);
                    }
                    (m, true, None, after)
                }
                Attempt::Fatal(m, status) => {
                    drop(permit);
                    (m, false, status, None)
                }
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
                return Err(Failure {
                    status,
                    message: self.config.redact(&message),
                });
            }
            on_retry(&format!(
                "retry {}/{}: {}",
                retry + 1,
                self.config.max_retries,
                self.config.redact(&message)
            ));
            std::thread::sleep(self.wait(retry, retry_after));
            retry += 1;
        }
    }

    fn announce_lower_limit(&self, limit: usize) {
        if !self.config.quiet {
            crate::diag!(
                "{}: a request timed out after {}s; sending {limit} at a time from now on (--timeout raises the wait)",
                self.config.shown_endpoint(""),
                self.config.timeout.as_secs()
            );
        }
    }

    /// GETs `{root}/{path}` once, where root is the base URL without its `/v1`: a server's
    /// own endpoints such as llama.cpp's `/props`. `None` on any failure (servers that lack
    /// it are the rule).
    pub fn probe(&self, path: &str) -> Option<Value> {
        let base = self.config.endpoint("");
        let root = base.trim_end_matches('/');
        let root = root.strip_suffix("/v1").unwrap_or(root);
        let url = format!("{root}/{}", path.trim_start_matches('/'));
        let mut request = self
            .agent
            .get(&url)
            .config()
            .timeout_global(Some(PROBE_TIMEOUT))
            .build();
        if let Some(key) = self.config.key() {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = request.call().ok()?;
        if response.status().as_u16() != 200 {
            return None;
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .ok()?;
        serde_json::from_str(&text).ok()
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
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
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
                    false,
                    None,
                ),
            };
        }
        let message = format!("HTTP {status}: {}", excerpt(&text));
        if status == 429 || status >= 500 {
            Attempt::Retry(message, false, retry_after)
        } else {
            Attempt::Fatal(message, Some(status))
        }
    }
}

/// `Retry-After` as seconds (`120`, `1.5`) or an HTTP date (RFC 9110: the wait is until then,
/// zero when it has passed); `None` when it is neither.
fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn transport_error(e: ureq::Error) -> Attempt {
    use ureq::Error as E;
    match e {
        E::Timeout(_) => Attempt::Retry(format!("request failed: {e}"), true, None),
        E::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Attempt::Retry(format!("request failed: {e}"), true, None)
        }
        E::Io(_) | E::ConnectionFailed | E::Protocol(_) => {
            Attempt::Retry(format!("request failed: {e}"), false, None)
        }
        other => Attempt::Fatal(format!("request failed: {other}"), None),
    }
}

/// The first [`EXCERPT_CHARS`] characters of `text` on one line.
pub fn excerpt(text: &str) -> String {
    excerpt_of(text, EXCERPT_CHARS)
}

/// The first `chars` characters of `text` on one line, `...` marking a cut.
pub fn excerpt_of(text: &str, chars: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.is_empty() {
        return "(empty body)".into();
    }
    match trimmed.char_indices().nth(chars) {
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
    fn retry_after_seconds_or_http_date() {
        let now = httpdate::parse_http_date("Tue, 01 Dec 2026 08:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 08:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 07:59:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn excerpt_is_short_and_one_line() {
        assert_eq!(excerpt("a\nb"), "a b");
        assert_eq!(excerpt(""), "(empty body)");
        assert!(excerpt(&"x".repeat(1000)).len() < 310);
    }
}
