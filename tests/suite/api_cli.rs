//! `--embedder api` and the API client against a loopback server on 127.0.0.1 that injects
//! faults: retries, the final error, Retry-After, the call budget, key redaction, and resuming
//! from the cache after an interrupted run. No test reaches beyond 127.0.0.1.

use crate::common;

use common::fake_api::{echo, Behaviour, FakeApi, Fault};
use common::{faultmap_env, json, stderr};
use faultmap::api::chat::{non_empty, ChatParams, ChatRequest, Message, ReplySchema};
use faultmap::api::{ApiConfig, Client, Llm};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "sk-faultmap-test-SECRET-7f3a9c";
const INPUT: &str = "fixtures/support_tickets.jsonl";

fn client(api: &FakeApi, timeout_ms: u64, max_retries: u32) -> Client {
    let mut c = ApiConfig::new(&api.base()).with_key(Some(SECRET.into()));
    c.timeout = Duration::from_millis(timeout_ms);
    c.max_retries = max_retries;
    c.backoff_base = Duration::from_millis(10);
    Client::new(c)
}

fn embed_body() -> serde_json::Value {
    json!({"model": "fake", "input": ["hello world", "reset my password"]})
}

#[test]
fn retries_each_fault_then_succeeds() {
    for fault in [
        Fault::ServerError,
        Fault::Malformed,
        Fault::Drop,
        Fault::TooMany(0),
        Fault::Delay(Duration::from_millis(1500)),
    ] {
        let f = fault.clone();
        let api = FakeApi::start(move |n| if n < 2 { f.clone() } else { Fault::None });
        let out = client(&api, 500, 3)
            .post("embeddings", &embed_body())
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(out["data"].as_array().unwrap().len(), 2, "{fault:?}");
        assert_eq!(api.requests(), 3, "{fault:?}");
        assert!(api
            .auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == &format!("Bearer {SECRET}")));
    }
}

#[test]
fn chat_completion_returns_the_text() {
    let api = FakeApi::healthy();
    let dir = tempfile::tempdir().unwrap();
    let mut c = ApiConfig::new(&api.base());
    c.cache_dir = Some(dir.path().to_path_buf());
    c.quiet = true;
    let llm = faultmap::api::Llm::new(c, "m");
    let request = chat_request("hi there", None);
    for _ in 0..2 {
        let text = llm.complete(&request, &non_empty, 0, &|_| {}).unwrap();
        assert_eq!(text, "echo: hi there");
    }
    assert_eq!(
        api.requests(),
        1,
        "the second completion comes from the cache"
    );
}

fn chat_request(text: &str, schema: Option<ReplySchema>) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        params: ChatParams::default(),
        schema,
    }
}

fn answer_schema() -> ReplySchema {
    ReplySchema {
        name: "answer",
        schema: json!({
            "type": "object",
            "properties": {"answer": {"type": "string"}},
            "required": ["answer"],
            "additionalProperties": false,
        }),
    }
}

/// An `Llm` on `api` with a cache in `dir`, no retries and `concurrent` requests at once.
fn llm_on(api: &FakeApi, dir: &std::path::Path, concurrent: usize) -> Llm {
    let mut c = ApiConfig::new(&api.base());
    c.cache_dir = Some(dir.to_path_buf());
    c.max_retries = 0;
    c.max_concurrent = concurrent;
    c.quiet = true;
    Llm::new(c, "m")
}

#[test]
fn structured_output_is_sent_and_dropped_once_a_server_refuses_it() {
    let quiet = faultmap::progress::Progress::hidden();
    let requests: Vec<ChatRequest> = (0..3)
        .map(|i| chat_request(&format!("q{i}"), Some(answer_schema())))
        .collect();
    // A server with structured outputs gets the schema as response_format.
    let api = FakeApi::with_chat(|_| Fault::None, |_| r#"{"answer": "yes"}"#.into());
    let dir = tempfile::tempdir().unwrap();
    let out = llm_on(&api, dir.path(), 1)
        .complete_all(&requests, "test", &quiet, &non_empty)
        .unwrap();
    assert!(out.iter().all(Result::is_ok));
    let chats = api.chats.lock().unwrap().clone();
    assert_eq!(chats.len(), 3);
    for body in &chats {
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["name"], "answer");
        assert_eq!(
            body["response_format"]["json_schema"]["schema"]["required"],
            json!(["answer"])
        );
    }
    // A server that refuses the field (400): the first request is asked again without it,
    // and the rest go without it from the start.
    let api = FakeApi::with_behaviour(
        |_| Fault::None,
        |_| r#"{"answer": "yes"}"#.into(),
        Behaviour {
            refuse_response_format: true,
            ..Behaviour::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = llm_on(&api, dir.path(), 1)
        .complete_all(&requests, "test", &quiet, &non_empty)
        .unwrap();
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    assert_eq!(api.requests(), 4, "one refused request, then three without");
    assert!(api
        .chats
        .lock()
        .unwrap()
        .iter()
        .all(|body| body.get("response_format").is_none()));
}

#[test]
fn unusable_replies_are_not_cached_and_their_start_is_quoted() {
    let quiet = faultmap::progress::Progress::hidden();
    let usable = |_: usize, text: &str| {
        if text.contains("\"answer\"") {
            Ok(())
        } else {
            Err("no answer in it".to_string())
        }
    };
    let good = Arc::new(AtomicBool::new(false));
    let g = good.clone();
    let api = FakeApi::with_chat(
        |_| Fault::None,
        move |_| {
            if g.load(Ordering::SeqCst) {
                r#"{"answer": "yes"}"#.into()
            } else {
                format!("Sure! I am happy to help {}", "and ramble ".repeat(50))
            }
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let requests = vec![chat_request("q", None)];
    let out = llm_on(&api, dir.path(), 1)
        .complete_all(&requests, "test", &quiet, &usable)
        .unwrap();
    let error = out[0].as_ref().unwrap_err().to_string();
    assert!(
        error.starts_with(
            "unusable reply: no answer in it; it began: \"Sure! I am happy to help and ramble"
        ) && error.len() < 400,
        "{error}"
    );
    // The junk was not cached: a rerun asks again, and caches the usable answer.
    good.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let out = llm_on(&api, dir.path(), 1)
            .complete_all(&requests, "test", &quiet, &usable)
            .unwrap();
        assert_eq!(out[0].as_ref().unwrap(), r#"{"answer": "yes"}"#);
    }
    assert_eq!(api.requests(), 2, "asked twice, then answered by the cache");
}

#[test]
fn requests_in_flight_follow_the_servers_slots() {
    let quiet = faultmap::progress::Progress::hidden();
    let api = FakeApi::with_behaviour(
        |_| Fault::None,
        echo,
        Behaviour {
            props_slots: Some(2),
            slots: Some(2),
            work: Duration::from_millis(50),
            ..Behaviour::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let requests: Vec<ChatRequest> = (0..12)
        .map(|i| chat_request(&format!("q{i}"), None))
        .collect();
    let llm = llm_on(&api, dir.path(), 16);
    let out = llm
        .complete_all(&requests, "test", &quiet, &non_empty)
        .unwrap();
    assert!(out.iter().all(Result::is_ok));
    assert_eq!(llm.concurrency(), 2, "capped at the server's slots");
    assert_eq!(api.most_at_once(), 2);
    assert_eq!(api.requests(), 12, "GET /props is not a completion");
}

#[test]
fn timeouts_lower_the_requests_in_flight() {
    // A 2-slot server that does not say so: 16 requests at once, 300 ms each, and a 1 s
    // timeout, so the queued ones time out. The client halves what it sends after the first
    // wave of timeouts (once, not once per request) and every item is answered in the end.
    let quiet = faultmap::progress::Progress::hidden();
    let api = FakeApi::with_behaviour(
        |_| Fault::None,
        echo,
        Behaviour {
            slots: Some(2),
            work: Duration::from_millis(300),
            ..Behaviour::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let mut c = ApiConfig::new(&api.base());
    c.cache_dir = Some(dir.path().to_path_buf());
    c.timeout = Duration::from_secs(1);
    c.max_retries = 8;
    c.backoff_base = Duration::from_millis(10);
    c.max_concurrent = 16;
    c.quiet = true;
    let llm = Llm::new(c, "m");
    let requests: Vec<ChatRequest> = (0..16)
        .map(|i| chat_request(&format!("q{i}"), None))
        .collect();
    let out = llm
        .complete_all(&requests, "test", &quiet, &non_empty)
        .unwrap();
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    let limit = llm.concurrency();
    assert!((1..=8).contains(&limit), "lowered from 16: {limit}");
    assert!(api.requests() > 16, "timed-out requests were retried");
}

#[test]
fn retry_after_is_honoured() {
    let api = FakeApi::start(|n| {
        if n == 0 {
            Fault::TooMany(1)
        } else {
            Fault::None
        }
    });
    let started = Instant::now();
    client(&api, 5000, 2)
        .post("embeddings", &embed_body())
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(api.requests(), 2);
}

#[test]
fn final_error_names_the_endpoint_and_hides_the_key() {
    let api = FakeApi::start(|_| Fault::ServerError);
    let err = client(&api, 5000, 2)
        .post("embeddings", &embed_body())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{}/embeddings", api.base())), "{err}");
    assert!(
        err.contains("HTTP 500") && err.contains("3 attempts"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
    assert_eq!(api.requests(), 3);
}

fn api_args<'a>(base: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "slices",
        INPUT,
        "--embedder",
        "api",
        "--api-base",
        base,
        "--embedding-model",
        "fake",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn cli_final_error_exits_2_without_the_key() {
    let api = FakeApi::start(|_| Fault::ServerError);
    let base = api.base();
    let out = faultmap_env(
        &api_args(
            &base,
            &["--no-cache", "--max-retries", "2", "--max-concurrent", "1"],
        ),
        &[("FAULTMAP_API_KEY", SECRET)],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{base}/embeddings")), "{err}");
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(!err.contains(SECRET) && !String::from_utf8_lossy(&out.stdout).contains(SECRET));
    assert_eq!(api.requests(), 3);
    assert!(api
        .auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == &format!("Bearer {SECRET}")));
}

#[test]
fn cli_budget_refusal() {
    let api = FakeApi::healthy();
    let base = api.base();
    let out = faultmap_env(
        &api_args(
            &base,
            &["--no-cache", "--embedding-batch", "10", "--max-calls", "3"],
        ),
        &[("OPENAI_API_KEY", SECRET)],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--max-calls 3") && err.contains("API calls"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
    assert_eq!(api.requests(), 0, "refused before any request");
}

#[test]
fn cli_usage_errors() {
    let out = faultmap_env(
        &[
            "slices",
            INPUT,
            "--embedder",
            "api",
            "--api-base",
            "http://127.0.0.1:9/v1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--embedding-model"),
        "{}",
        stderr(&out)
    );
    let out = faultmap_env(
        &[
            "slices",
            INPUT,
            "--embedder",
            "api",
            "--embedding-model",
            "m",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--api-base"), "{}", stderr(&out));
}

#[test]
fn score_refuses_the_api_embedder() {
    let out = faultmap_env(
        &[
            "score",
            "fixtures/support_tickets.jsonl",
            "--embedder",
            "api",
            "--embedding-model",
            "m",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unexpected argument '--embedder'"),
        "{}",
        stderr(&out)
    );
}

/// The `N` of the budget line "...: N API calls for ...".
fn planned_calls(err: &str) -> usize {
    let line = err
        .lines()
        .find(|l| l.contains(" API call"))
        .unwrap_or_else(|| panic!("{err}"));
    let before = line.split(" API call").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn cli_interrupted_run_resumes_from_the_cache() {
    let broken = Arc::new(AtomicBool::new(true));
    let b = broken.clone();
    // Fails for good after 3 requests while `broken`.
    let api = FakeApi::start(move |n| {
        if b.load(Ordering::SeqCst) && n >= 3 {
            Fault::ServerError
        } else {
            Fault::None
        }
    });
    let base = api.base();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let extra = [
        "--cache-dir",
        cache_dir,
        "--embedding-batch",
        "10",
        "--max-concurrent",
        "1",
        "--max-retries",
        "1",
    ];
    let out = faultmap_env(&api_args(&base, &extra), &[("FAULTMAP_API_KEY", SECRET)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let total = planned_calls(&err);
    assert!(total > 4, "{err}");
    assert_eq!(api.requests(), 5, "3 good, then one failure and one retry");

    broken.store(false, Ordering::SeqCst);
    let out = faultmap_env(&api_args(&base, &extra), &[("FAULTMAP_API_KEY", SECRET)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(planned_calls(&err), total - 3, "{err}");
    assert_eq!(api.requests(), 5 + total - 3, "only the missing batches");
    assert!(!err.contains(SECRET));

    // A third run makes no call at all, and gives the same report as one without the cache.
    let cached = faultmap_env(&api_args(&base, &extra), &[]);
    assert_eq!(cached.status.code(), Some(0));
    assert_eq!(api.requests(), 5 + total - 3);
    assert_eq!(cached.stdout, out.stdout);
    let fresh = faultmap_env(&api_args(&base, &["--no-cache"]), &[]);
    assert_eq!(fresh.stdout, out.stdout);
}

#[test]
fn cli_slices_end_to_end() {
    let api = FakeApi::healthy();
    let base = api.base();
    let out = faultmap_env(
        &api_args(&base, &["--no-cache", "-q"]),
        &[("FAULTMAP_API_KEY", SECRET)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "-q prints no budget: {}",
        stderr(&out)
    );
    let report = json(&out);
    let text = report.to_string();
    assert!(
        text.contains("\"api:fake\""),
        "the report names the embedder"
    );
    assert!(!text.contains(SECRET));
    assert!(api.requests() >= 1);
}

#[test]
fn complete_all_keeps_order_falls_back_per_item_and_gives_up() {
    let requests: Vec<ChatRequest> = (0..6)
        .map(|i| chat_request(&format!("question {i}"), None))
        .collect();
    let llm = |api: &FakeApi| {
        let mut c = ApiConfig::new(&api.base());
        c.max_retries = 0;
        c.max_concurrent = 1;
        c.quiet = true;
        Llm::new(c, "m")
    };
    let quiet = faultmap::progress::Progress::hidden();
    // Request 1 fails for good: its item is an error, the others are answered in order.
    let api = FakeApi::start(|n| {
        if n == 1 {
            Fault::ServerError
        } else {
            Fault::None
        }
    });
    let out = llm(&api)
        .complete_all(&requests, "test", &quiet, &non_empty)
        .unwrap();
    assert!(out[1].is_err());
    for i in [0, 2, 3, 4, 5] {
        assert_eq!(out[i].as_ref().unwrap(), &format!("echo: question {i}"));
    }
    // A dead server: three failures in a row, then nothing more is sent.
    let api = FakeApi::start(|_| Fault::ServerError);
    let out = llm(&api)
        .complete_all(&requests, "test", &quiet, &non_empty)
        .unwrap();
    assert!(out.iter().all(Result::is_err));
    assert_eq!(api.requests(), 3);
    // The budget refuses before any request.
    let api = FakeApi::healthy();
    let mut c = ApiConfig::new(&api.base());
    c.max_calls = Some(5);
    c.quiet = true;
    assert!(Llm::new(c, "m")
        .complete_all(&requests, "test", &quiet, &non_empty)
        .is_err());
    assert_eq!(api.requests(), 0);
}

#[test]
fn embeddings_go_to_the_embedding_api_base_when_given() {
    let embeddings = FakeApi::healthy();
    let base = embeddings.base();
    // --api-base points at a closed port: only the embeddings server may be asked.
    let out = faultmap_env(
        &api_args(
            "http://127.0.0.1:9/v1",
            &[
                "--no-cache",
                "--embedding-api-base",
                &base,
                "--max-retries",
                "0",
            ],
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(embeddings.requests() > 0);
    let out = faultmap_env(
        &api_args(
            "http://127.0.0.1:9/v1",
            &["--no-cache", "--max-retries", "0"],
        ),
        &[("FAULTMAP_EMBEDDING_API_BASE", &base)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = faultmap_env(&api_args(&base, &["--embedding-api-base", "ftp://x"]), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("must start with http://"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cli_killed_run_resumes_from_the_cache() {
    // While `stalled`, every request after the third hangs, so the run is killed mid-flight
    // (SIGKILL: no cleanup at all) with three batches answered and cached.
    let stalled = Arc::new(AtomicBool::new(true));
    let s = stalled.clone();
    let api = FakeApi::start(move |n| {
        if s.load(Ordering::SeqCst) && n >= 3 {
            Fault::Delay(Duration::from_secs(30))
        } else {
            Fault::None
        }
    });
    let base = api.base();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let extra = [
        "--cache-dir",
        cache_dir,
        "--embedding-batch",
        "10",
        "--max-concurrent",
        "1",
        "--timeout",
        "60",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultmap"))
        .args(api_args(&base, &extra))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("FAULTMAP_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("FAULTMAP_API_BASE")
        .env_remove("FAULTMAP_EMBEDDING_API_BASE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while api.requests() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no 4th request"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    stalled.store(false, Ordering::SeqCst);
    let asked_before = api.requests();
    assert_eq!(asked_before, 4);

    let out = faultmap_env(&api_args(&base, &extra), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let missing = planned_calls(&err);
    assert!(missing > 1, "{err}");
    // Only the batches not answered before the kill are asked again.
    assert_eq!(api.requests(), asked_before + missing, "{err}");
    // And the report equals one made without the cache, which makes every call.
    let fresh = faultmap_env(
        &api_args(&base, &["--no-cache", "--embedding-batch", "10"]),
        &[],
    );
    assert_eq!(fresh.stdout, out.stdout);
    assert_eq!(api.requests(), asked_before + missing + missing + 3);
}

/// Credentials written into --api-base (userinfo, `?api_key=`) never reach stderr or stdout:
/// not in the budget line of a successful run, not in the error of a failing one.
#[test]
fn credentials_in_the_base_url_are_redacted() {
    const PASSWORD: &str = "url-PASSWORD-91b2";
    const TOKEN: &str = "url-TOKEN-5d0e";
    for fails in [false, true] {
        let api = FakeApi::start(move |_| {
            if fails {
                Fault::ServerError
            } else {
                Fault::None
            }
        });
        let base = api
            .base()
            .replacen("http://", &format!("http://alice:{PASSWORD}@"), 1);
        let base = format!("{base}?api_key={TOKEN}");
        let out = faultmap_env(&api_args(&base, &["--no-cache", "--max-retries", "0"]), &[]);
        let err = stderr(&out);
        let expected = if fails { 2 } else { 0 };
        assert_eq!(out.status.code(), Some(expected), "{err}");
        let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            !all.contains(PASSWORD) && !all.contains(TOKEN) && !all.contains("alice"),
            "{err}"
        );
        assert!(err.contains("[REDACTED]@127.0.0.1"), "{err}");
    }
}
