//! `--name-with-llm` (slices, coverage) against the loopback server with scripted answers:
//! names in every format, per-slice fallback, answer parsing, the cache, the budget, escaping of
//! hostile model output, and the key kept out of every output. No test reaches beyond 127.0.0.1.

use crate::common;

use common::fake_api::{FakeApi, Fault};
use common::{faultmap_env, json, stderr};
use serde_json::Value;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

const SECRET: &str = "sk-faultmap-naming-SECRET-41c2";
const TICKETS: &str = "fixtures/support_tickets.jsonl";
const TESTS: &str = "fixtures/coverage_tests.jsonl";
const PRODUCTION: &str = "fixtures/coverage_production.jsonl";

/// The user message of a chat request.
fn user_message(request: &Value) -> String {
    request["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The first word of the keyword name quoted in a request (`vat` for `vat / tax / company`).
fn keyword_word(request: &Value) -> String {
    first_word(
        user_message(request)
            .lines()
            .find_map(|l| l.strip_prefix("Keyword name: "))
            .unwrap_or("none"),
    )
}

fn first_word(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or("none")
        .to_string()
}

/// A well-formed answer that can be traced back to its item.
fn good(request: &Value) -> String {
    let w = keyword_word(request);
    serde_json::json!({
        "name": format!("LLM named {w}"),
        "description": format!("Prompts about {w}."),
        "root_cause": format!("The model guesses about {w}."),
        "suggested_fix": format!("Tell the model the {w} policy."),
    })
    .to_string()
}

/// `faultmap` with the key set, and the given arguments.
fn run(args: &[&str]) -> Output {
    faultmap_env(args, &[("FAULTMAP_API_KEY", SECRET)])
}

fn assert_no_secret(out: &Output) {
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
    assert!(!stderr(out).contains(SECRET));
}

/// `slices TICKETS --name-with-llm` against `api`, caching in `cache`, plus `extra`.
fn slices_args<'a>(base: &'a str, cache: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "slices",
        TICKETS,
        "--name-with-llm",
        "--llm-model",
        "fake-chat",
        "--api-base",
        base,
        "--cache-dir",
        cache,
    ];
    args.extend_from_slice(extra);
    args
}

fn offline_slices() -> Value {
    let out = faultmap_env(&["slices", TICKETS, "--format", "json", "-q"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out)
}

#[test]
fn slices_get_llm_names_in_json_table_and_markdown() {
    let api = FakeApi::with_chat(|_| Fault::None, good);
    let base = api.base();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let offline = offline_slices();
    let out = run(&slices_args(&base, cache_dir, &["--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret(&out);
    let report = json(&out);
    common::schema::validate("slices.schema.json", &report, "a report named with an LLM");
    let slices = report["slices"].as_array().unwrap();
    let offline_slices = offline["slices"].as_array().unwrap();
    assert!(slices.len() >= 2);
    assert_eq!(slices.len(), offline_slices.len());
    assert_eq!(api.requests(), slices.len(), "one call per reported slice");
    assert_eq!(
        report["llm_naming"],
        serde_json::json!({"model": "fake-chat", "named": slices.len(), "kept_keyword_names": 0})
    );
    for (s, offline) in slices.iter().zip(offline_slices) {
        let keyword_name = offline["name"].as_str().unwrap();
        let w = first_word(keyword_name);
        assert_eq!(s["keyword_name"], keyword_name);
        assert_eq!(s["name"], format!("LLM named {w}"));
        assert_eq!(s["description"], format!("Prompts about {w}."));
        assert_eq!(s["root_cause"], format!("The model guesses about {w}."));
        assert_eq!(
            s["suggested_fix"],
            format!("Tell the model the {w} policy.")
        );
        assert!(s.get("naming_error").is_none());
        // Everything else is the offline report's.
        for field in [
            "size",
            "failures",
            "adjusted_p_value",
            "keywords",
            "sample_indices",
        ] {
            assert_eq!(s[field], offline[field], "{field}");
        }
    }

    // The requests: the slice's representative prompts and failing examples, temperature 0,
    // a fixed seed, the model; the key in the header only.
    let chats = api.chats.lock().unwrap().clone();
    for s in offline_slices {
        let keyword_name = s["name"].as_str().unwrap();
        let chat = chats
            .iter()
            .find(|c| user_message(c).contains(&format!("Keyword name: {keyword_name}\n")))
            .unwrap_or_else(|| panic!("no request for {keyword_name}"));
        let user = user_message(chat);
        for prompt in s["representative_prompts"].as_array().unwrap() {
            assert!(
                user.contains(prompt.as_str().unwrap()),
                "{prompt} in {user}"
            );
        }
        assert!(user.contains("Failing examples:"), "{user}");
        let example = &s["examples"][0];
        assert!(user.contains(example["prompt"].as_str().unwrap()), "{user}");
        assert_eq!(chat["model"], "fake-chat");
        assert_eq!(chat["temperature"], 0.0);
        assert_eq!(chat["seed"], 0);
        assert!(chat["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("\"root_cause\""));
    }
    assert!(api
        .auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == &format!("Bearer {SECRET}")));

    // Table and Markdown, from the cache.
    let first = &slices[0];
    let name = first["name"].as_str().unwrap();
    for format in ["table", "markdown"] {
        let out = run(&slices_args(&base, cache_dir, &["--format", format]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_no_secret(&out);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(name), "{format}: {text}");
        assert!(text.contains("Likely cause"), "{format}: {text}");
        assert!(text.contains("Suggested fix"), "{format}: {text}");
        assert!(text.contains("Named by the LLM fake"), "{format}: {text}");
    }
    assert_eq!(
        api.requests(),
        slices.len(),
        "table and markdown came from the cache"
    );
}

#[test]
fn a_failed_call_keeps_the_keyword_name_and_says_so() {
    // The first request fails for good (no retries; one at a time, in report order).
    let api = FakeApi::with_chat(
        |n| {
            if n == 0 {
                Fault::ServerError
            } else {
                Fault::None
            }
        },
        good,
    );
    let base = api.base();
    let out = run(&[
        "slices",
        TICKETS,
        "--name-with-llm",
        "--llm-model",
        "fake-chat",
        "--api-base",
        &base,
        "--no-cache",
        "--max-retries",
        "0",
        "--max-concurrent",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret(&out);
    let report = json(&out);
    common::schema::validate("slices.schema.json", &report, "a report named with an LLM");
    let offline = offline_slices();
    let slices = report["slices"].as_array().unwrap();
    let failed = &slices[0];
    assert_eq!(failed["name"], offline["slices"][0]["name"]);
    assert_eq!(failed["keyword_name"], offline["slices"][0]["name"]);
    let error = failed["naming_error"].as_str().unwrap();
    assert!(error.contains("HTTP 500"), "{error}");
    assert!(failed.get("description").is_none());
    for s in &slices[1..] {
        assert!(s["name"].as_str().unwrap().starts_with("LLM named "), "{s}");
        assert!(s.get("naming_error").is_none());
    }
    assert_eq!(report["llm_naming"]["kept_keyword_names"], 1);
    assert_eq!(report["llm_naming"]["named"], slices.len() - 1);
}

#[test]
fn fenced_and_prose_wrapped_answers_are_parsed_and_garbage_falls_back() {
    let next = AtomicUsize::new(0);
    let api = FakeApi::with_chat(
        |_| Fault::None,
        move |request| {
            let answer = good(request);
            match next.fetch_add(1, Ordering::SeqCst) % 5 {
                0 => format!("```json\n{answer}\n```"),
                1 => format!("Here is my answer:\n{answer}\nLet me know if you need more."),
                2 => "I am not able to name these prompts.".to_string(),
                3 => r#"{"name": "a name that is far too long to use"}"#.to_string(),
                _ => answer,
            }
        },
    );
    let base = api.base();
    let out = run(&[
        "slices",
        TICKETS,
        "--name-with-llm",
        "--llm-model",
        "fake-chat",
        "--api-base",
        &base,
        "--no-cache",
        "--max-concurrent",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    common::schema::validate("slices.schema.json", &report, "a report named with an LLM");
    let slices = report["slices"].as_array().unwrap();
    assert!(slices.len() >= 4, "the script needs four slices");
    for i in [0, 1] {
        assert!(slices[i]["name"]
            .as_str()
            .unwrap()
            .starts_with("LLM named "));
        assert!(slices[i]["root_cause"].is_string());
    }
    for i in [2, 3] {
        assert_eq!(slices[i]["name"], slices[i]["keyword_name"]);
        let error = slices[i]["naming_error"].as_str().unwrap();
        assert!(error.starts_with("unusable reply: "), "{error}");
    }
    assert!(slices[3]["naming_error"]
        .as_str()
        .unwrap()
        .contains("9 words"));
    assert_eq!(report["llm_naming"]["kept_keyword_names"], 2);
}

#[test]
fn a_rerun_is_served_from_the_cache() {
    let api = FakeApi::with_chat(|_| Fault::None, good);
    let base = api.base();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let first = run(&slices_args(&base, cache_dir, &["--format", "json"]));
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let calls = api.requests();
    assert!(calls > 0);
    assert!(
        stderr(&first).contains(&format!("{calls} API calls")),
        "{}",
        stderr(&first)
    );
    let second = run(&slices_args(&base, cache_dir, &["--format", "json"]));
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(api.requests(), calls, "nothing sent on the rerun");
    assert_eq!(second.stdout, first.stdout, "byte-identical report");
    let err = stderr(&second);
    assert!(
        err.contains(&format!(
            "0 API calls for 0 texts (~0 tokens); {calls} answered by the cache"
        )),
        "{err}"
    );
}

#[test]
fn max_calls_0_refuses_before_any_request() {
    let api = FakeApi::with_chat(|_| Fault::None, good);
    let base = api.base();
    let out = run(&[
        "slices",
        TICKETS,
        "--name-with-llm",
        "--llm-model",
        "fake-chat",
        "--api-base",
        &base,
        "--no-cache",
        "--max-calls",
        "0",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--max-calls 0") && err.contains("naming slices"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(api.requests(), 0);
    assert_no_secret(&out);
}

#[test]
fn name_with_llm_needs_a_model_and_a_base() {
    let coverage = ["coverage", "--tests", TESTS, "--production", PRODUCTION];
    for command in [&["slices", TICKETS][..], &coverage[..]] {
        let mut args = command.to_vec();
        args.extend(["--name-with-llm", "--api-base", "http://127.0.0.1:9/v1"]);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("--name-with-llm needs --llm-model"),
            "{}",
            stderr(&out)
        );

        let mut args = command.to_vec();
        args.extend(["--name-with-llm", "--llm-model", "m"]);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("--api-base"), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

/// Markup, pipes, newlines and an escape sequence in every field the model writes.
fn hostile(_: &Value) -> String {
    serde_json::json!({
        "name": "Pipes | <script>alert(1)</script> **bold**",
        "description": "First line\nsecond | line <img src=x onerror=alert(1)> [link](http://evil)",
        "root_cause": "Cause with \u{1b}[31mred\u{1b}[0m text\r\nand a break",
        "suggested_fix": "# Heading\n- list item `code`",
    })
    .to_string()
}

#[test]
fn hostile_model_output_is_escaped() {
    let api = FakeApi::with_chat(|_| Fault::None, hostile);
    let base = api.base();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();

    let out = run(&slices_args(&base, cache_dir, &["--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    common::schema::validate("slices.schema.json", &report, "a report named with an LLM");
    let s = &report["slices"][0];
    assert_eq!(s["name"], "Pipes | <script>alert(1)</script> **bold**");
    assert_eq!(
        s["root_cause"], "Cause with [31mred [0m text and a break",
        "one line, no control characters"
    );

    let out = run(&slices_args(&base, cache_dir, &["--format", "markdown"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(!md.contains("<script>") && !md.contains("<img"), "{md}");
    assert!(!md.contains("](http"), "{md}");
    assert!(
        md.contains("Pipes \\| &lt;script&gt;alert\\(1\\)&lt;/script&gt; \\*\\*bold\\*\\*"),
        "{md}"
    );
    assert!(
        md.contains("> **Suggested fix:** \\# Heading \\- list item \\`code\\`"),
        "{md}"
    );
    // Every table row keeps its 9 column separators.
    for row in md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
    {
        let separators = row.matches('|').count() - row.matches("\\|").count();
        assert_eq!(separators, 9, "{row}");
    }
    assert!(!md.contains('\u{1b}'));

    let out = run(&slices_args(&base, cache_dir, &["--format", "table"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        !table.contains('\u{1b}') && !table.contains('\r'),
        "{table}"
    );
    assert!(
        table.contains("     Description: First line second | line <img"),
        "{table}"
    );
    assert!(
        table.contains("     Suggested fix: # Heading - list item `code`"),
        "{table}"
    );
}

fn coverage_args<'a>(base: &'a str, cache: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "coverage",
        "--tests",
        TESTS,
        "--production",
        PRODUCTION,
        "--name-with-llm",
        "--llm-model",
        "fake-chat",
        "--api-base",
        base,
        "--cache-dir",
        cache,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn coverage_gaps_get_llm_names_and_descriptions() {
    let api = FakeApi::with_chat(|_| Fault::None, good);
    let base = api.base();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let emitted = cache.path().join("suggested.jsonl");
    let offline = faultmap_env(
        &[
            "coverage",
            "--tests",
            TESTS,
            "--production",
            PRODUCTION,
            "--format",
            "json",
            "-q",
        ],
        &[],
    );
    let offline = json(&offline);

    let out = run(&coverage_args(
        &base,
        cache_dir,
        &[
            "--format",
            "json",
            "--emit-tests",
            emitted.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret(&out);
    let report = json(&out);
    common::schema::validate(
        "coverage.schema.json",
        &report,
        "a report named with an LLM",
    );
    let gaps = report["gaps"].as_array().unwrap();
    assert!(gaps.len() >= 2);
    assert_eq!(api.requests(), gaps.len(), "one call per gap");
    assert_eq!(report["llm_naming"]["named"], gaps.len());
    for (g, offline) in gaps.iter().zip(offline["gaps"].as_array().unwrap()) {
        let keyword_name = offline["name"].as_str().unwrap();
        let w = first_word(keyword_name);
        assert_eq!(g["keyword_name"], keyword_name);
        assert_eq!(g["name"], format!("LLM named {w}"));
        assert_eq!(g["description"], format!("Prompts about {w}."));
        assert!(g.get("root_cause").is_none() && g.get("suggested_fix").is_none());
        assert_eq!(g["prompt_indices"], offline["prompt_indices"]);
    }
    // Thin topics keep their keyword names.
    assert_eq!(report["thin_topics"], offline["thin_topics"]);
    // The requests quote the gap's prompts; no failing examples, no root cause asked for.
    let chats = api.chats.lock().unwrap().clone();
    for g in offline["gaps"].as_array().unwrap() {
        let chat = chats
            .iter()
            .find(|c| {
                user_message(c)
                    .contains(&format!("Keyword name: {}\n", g["name"].as_str().unwrap()))
            })
            .unwrap();
        let user = user_message(chat);
        for prompt in g["representative_prompts"].as_array().unwrap() {
            assert!(user.contains(prompt.as_str().unwrap()), "{user}");
        }
        assert!(!user.contains("Failing examples"));
        assert!(!chat["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("root_cause"));
    }
    // --emit-tests carries the model's names.
    let lines = std::fs::read_to_string(&emitted).unwrap();
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["gap"], gaps[0]["name"]);

    for format in ["table", "markdown"] {
        let out = run(&coverage_args(&base, cache_dir, &["--format", format]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(gaps[0]["name"].as_str().unwrap()), "{text}");
        assert!(text.contains("Description"), "{text}");
        assert!(text.contains("Named by the LLM fake"), "{text}");
    }
    assert_eq!(api.requests(), gaps.len(), "from the cache");
}

#[test]
fn without_the_flag_nothing_is_added() {
    let report = offline_slices().to_string();
    for field in ["keyword_name", "llm_naming", "description", "naming_error"] {
        assert!(!report.contains(field), "{field}");
    }
}

/// The keyword name quoted in a request (`vat / company / issue`).
fn keyword_name(request: &Value) -> String {
    user_message(request)
        .lines()
        .find_map(|l| l.strip_prefix("Keyword name: "))
        .unwrap_or_default()
        .to_string()
}

/// The keyword name back, re-cased and in reverse order ("Issue Company Vat"), as a small
/// model answered (issue 18).
fn echoed(request: &Value) -> String {
    let keyword_name = keyword_name(request);
    let mut words: Vec<String> = keyword_name
        .split(" / ")
        .map(|w| w[..1].to_uppercase() + &w[1..])
        .collect();
    words.reverse();
    serde_json::json!({"name": words.join(" "), "description": "Prompts."}).to_string()
}

#[test]
fn names_that_echo_the_keyword_name_keep_it() {
    let offline = offline_slices();
    let keyword_names: Vec<String> = offline["slices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert!(keyword_names.len() >= 4, "{keyword_names:?}");
    let kn = keyword_names.clone();
    // One good name, one made of a number of the facts, one of two words of the keyword name,
    // the rest echoes.
    let api = FakeApi::with_chat(
        |_| Fault::None,
        move |request| {
            let asked = keyword_name(request);
            if asked == kn[0] {
                good(request)
            } else if asked == kn[1] {
                let size = first_word(&user_message(request).replace("A failure slice:", ""));
                serde_json::json!({"name": format!("Group of {size} prompts")}).to_string()
            } else if asked == kn[2] {
                let words: Vec<&str> = asked.split(" / ").take(2).collect();
                serde_json::json!({"name": format!("{} and {}", words[1], words[0])}).to_string()
            } else {
                echoed(request)
            }
        },
    );
    let base = api.base();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let out = run(&slices_args(&base, cache_dir, &["--format", "json"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let report = json(&out);
    common::schema::validate("slices.schema.json", &report, "echoed LLM names");
    let slices = report["slices"].as_array().unwrap();
    let kept = slices.len() - 1;
    assert_eq!(
        report["llm_naming"],
        serde_json::json!({"model": "fake-chat", "named": 1, "kept_keyword_names": kept})
    );
    assert!(
        err.contains(&format!(
            "{kept} of {} kept their keyword names",
            slices.len()
        )),
        "{err}"
    );
    assert_eq!(
        slices[0]["name"],
        format!("LLM named {}", first_word(&keyword_names[0]))
    );
    for (i, why) in [
        (1, "a number of the facts"),
        (2, "the name repeats the keyword name"),
        (3, "the name repeats the keyword name"),
    ] {
        let s = &slices[i];
        assert_eq!(s["name"], keyword_names[i], "{s}");
        assert_eq!(s["keyword_name"], keyword_names[i]);
        let error = s["naming_error"].as_str().unwrap();
        assert!(
            error.starts_with("unusable reply: ") && error.contains(why),
            "{i}: {error}"
        );
        assert!(s.get("description").is_none(), "{s}");
    }

    // Coverage gaps too: every answer echoes, nothing is named.
    let api = FakeApi::with_chat(|_| Fault::None, echoed);
    let base = api.base();
    let out = run(&coverage_args(&base, cache_dir, &["--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let gaps = report["gaps"].as_array().unwrap();
    assert!(!gaps.is_empty());
    assert_eq!(report["llm_naming"]["named"], 0);
    assert_eq!(report["llm_naming"]["kept_keyword_names"], gaps.len());
    for g in gaps {
        assert_eq!(g["name"], g["keyword_name"]);
        assert!(g["naming_error"]
            .as_str()
            .unwrap()
            .contains("repeats the keyword name"));
    }
}
