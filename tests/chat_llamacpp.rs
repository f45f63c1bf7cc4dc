//! Every chat feature end to end against a real local model: llama.cpp's server (run by the
//! PyPI package xllamacpp) serving SmolLM2-135M-Instruct, 2 slots, 2 threads. Ignored by
//! default; `.ci/run` starts the server with `.ci/chat-server run` and runs this with
//! `-- --ignored --nocapture --test-threads 1`, which sets
//! `FAULTMAP_CHAT_URL=http://127.0.0.1:PORT/v1`, `FAULTMAP_CHAT_MODEL` (the name the server
//! reports) and `FAULTMAP_CHAT_LOG` (the server's log, where it notes each task it starts and
//! each request abandoned by its client).
//!
//! By hand: `.ci/chat-server run cargo test --release --test chat_llamacpp -- --ignored
//! --nocapture --test-threads 1`.
//!
//! The checks are on structure, never on wording: exit 0, the report parses and matches its
//! schema, every reply the model gave was usable (no `naming_error`, `judge_error`,
//! `consistency_error`), the summary counts equal the items, and nothing timed out with the
//! defaults (`--timeout 60`, `--max-concurrent 16` against 2 slots): the server started exactly
//! the calls the budget line announced and cancelled none (the log is shared, so these counts
//! need `--test-threads 1`). Each command's LLM work is kept small (36 calls in all); each
//! prints its wall time, calls and the tokens the server generated.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

mod common;

use common::{faultmap_env, json, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

/// The server under test, from the environment `.ci/chat-server run` sets.
struct Server {
    /// `http://127.0.0.1:PORT/v1`.
    url: String,
    model: String,
    log: Option<PathBuf>,
}

fn server() -> Server {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (Some(url), Some(model)) = (var("FAULTMAP_CHAT_URL"), var("FAULTMAP_CHAT_MODEL")) else {
        panic!(
            "FAIL: FAULTMAP_CHAT_URL and FAULTMAP_CHAT_MODEL must be set: run through \
             `.ci/chat-server run cargo test --release --test chat_llamacpp -- --ignored`"
        );
    };
    let log = var("FAULTMAP_CHAT_LOG").map(PathBuf::from);
    if log.is_none() {
        eprintln!("FAULTMAP_CHAT_LOG is not set: the server-side counts of tasks are not checked");
    }
    Server {
        url: url.trim_end_matches('/').to_string(),
        model,
        log,
    }
}

impl Server {
    /// `http://127.0.0.1:PORT` (llama.cpp's own endpoints are not under /v1).
    fn root(&self) -> &str {
        self.url.strip_suffix("/v1").unwrap_or(&self.url)
    }

    fn get(&self, url: &str) -> String {
        ureq::get(url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// A counter of llama.cpp's Prometheus `/metrics` (0 when absent).
    fn metric(&self, name: &str) -> f64 {
        self.get(&format!("{}/metrics", self.root()))
            .lines()
            .find_map(|l| l.strip_prefix(&format!("llamacpp:{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// The server's log, whole (empty without one).
    fn log_text(&self) -> String {
        self.log
            .as_ref()
            .map(|p| {
                let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("read {p:?}: {e}"));
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .unwrap_or_default()
    }
}

/// What one run of faultmap cost, client and server side.
struct Run {
    out: Output,
    secs: f64,
    /// Calls announced by the budget lines on stderr (after the cache).
    calls: u64,
    /// Tasks the server started and requests it cancelled because the client went away (a
    /// timeout); `None` without the log.
    started: Option<usize>,
    cancelled: Option<usize>,
    tokens: f64,
    generating_secs: f64,
}

/// The calls of every `...: N API calls for ...` budget line on stderr.
fn budget_calls(err: &str) -> u64 {
    err.lines()
        .filter_map(|l| {
            let before = &l[..l.find(" API call")?];
            before.split_whitespace().last()?.parse::<u64>().ok()
        })
        .sum()
}

/// Runs faultmap (no key or API base from the caller's environment) against `server`.
fn run(server: &Server, args: &[&str]) -> Run {
    let log_before = server.log_text().len();
    let tokens_before = server.metric("tokens_predicted_total");
    let secs_before = server.metric("tokens_predicted_seconds_total");
    let started = Instant::now();
    let out = faultmap_env(args, &[]);
    let secs = started.elapsed().as_secs_f64();
    let log = server.log_text();
    let new = log.get(log_before..).unwrap_or("");
    let has_log = server.log.is_some();
    let count = |what: &str| has_log.then(|| new.lines().filter(|l| l.contains(what)).count());
    Run {
        calls: budget_calls(&stderr(&out)),
        started: count("launch_slot_"),
        cancelled: count("cancel task"),
        tokens: server.metric("tokens_predicted_total") - tokens_before,
        generating_secs: server.metric("tokens_predicted_seconds_total") - secs_before,
        out,
        secs,
    }
}

impl Run {
    /// Prints the figures, then checks exit 0 and that nothing timed out.
    fn report(&self, what: &str, counts: &str) {
        let opt = |v: Option<usize>| v.map_or("?".to_string(), |v| v.to_string());
        println!(
            "chat_llamacpp: {what}: {:.1}s wall, {} calls, server started {} tasks and cancelled {}, \
             generated {:.0} tokens ({:.0} tokens/s per busy slot); {counts}",
            self.secs,
            self.calls,
            opt(self.started),
            opt(self.cancelled),
            self.tokens,
            if self.generating_secs > 0.0 {
                self.tokens / self.generating_secs
            } else {
                0.0
            },
        );
        let err = stderr(&self.out);
        for line in err.lines().filter(|l| !l.trim().is_empty()) {
            println!("    stderr: {line}");
        }
        assert_eq!(self.out.status.code(), Some(0), "{what}: {err}");
        assert!(
            !err.contains("gave up after") && !err.contains("not sent:"),
            "{what}: requests failed: {err}"
        );
        if let (Some(started), Some(cancelled)) = (self.started, self.cancelled) {
            assert_eq!(
                cancelled, 0,
                "{what}: the server cancelled {cancelled} requests whose client went away \
                 (timed out after --timeout 60 while queued behind 2 slots?)"
            );
            assert_eq!(
                started as u64, self.calls,
                "{what}: the server started {started} tasks for {} calls announced (retries?)",
                self.calls
            );
        }
    }
}

fn api_args<'a>(server: &'a Server, cache: &'a Path) -> [&'a str; 6] {
    [
        "--api-base",
        server.url.as_str(),
        "--llm-model",
        server.model.as_str(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]
}

/// Fails with every problem found, after printing them (so one run shows them all).
fn assert_no_problems(what: &str, problems: &[String]) {
    for p in problems {
        println!("    PROBLEM {what}: {p}");
    }
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn read_rows(path: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {path:?}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_rows(path: &Path, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn jsonl(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a JSONL line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// `--name-with-llm`'s account: every reply parsed (structured output), so an item keeps its
/// keyword name only when its name was refused on content (a 135M model writes one-word
/// names, sentences and echoes, which `parse` rightly refuses); the counts add up.
fn check_named(what: &str, report: &Value, items: &[Value], problems: &mut Vec<String>) {
    let naming = &report["llm_naming"];
    let named = naming["named"].as_u64().unwrap_or(0);
    let kept = naming["kept_keyword_names"].as_u64().unwrap_or(0);
    if named + kept != items.len() as u64 {
        problems.push(format!(
            "llm_naming {naming} does not add up to {} {what}s",
            items.len()
        ));
    }
    let mut refused = 0;
    for item in items {
        match item.get("naming_error").and_then(Value::as_str) {
            Some(e) if !refused_on_content(e) => {
                problems.push(format!("{what} {:?}: naming_error {e}", item["name"]));
            }
            Some(e) => {
                refused += 1;
                println!("    {what} kept its keyword name, the model's was refused: {e}");
            }
            None if item.get("keyword_name").is_none() => {
                problems.push(format!("{what} {:?}: no keyword_name", item["name"]));
            }
            None => {}
        }
    }
    if refused as u64 != kept {
        problems.push(format!("{kept} kept keyword names, {refused} refused"));
    }
}

/// A naming error about what the name says, not about the reply's structure or the call.
fn refused_on_content(error: &str) -> bool {
    error.starts_with("unusable reply: ")
        && !error.contains("no JSON object")
        && !error.contains("is not a non-empty string")
}

#[test]
#[ignore = "needs a chat server: run through .ci/chat-server (see .ci/run)"]
fn the_server_answers() {
    let server = server();
    let models = server.get(&format!("{}/models", server.url));
    let models: Value = serde_json::from_str(&models).expect("/v1/models is JSON");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("/v1/models: data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&server.model.as_str()),
        "the server reports {ids:?}, not {}",
        server.model
    );
    let started = Instant::now();
    let url = format!("{}/chat/completions", server.url);
    let reply: Value = ureq::post(&url)
        .send_json(serde_json::json!({
            "model": server.model,
            "messages": [{"role": "user", "content": "Say hello in five words."}],
            "max_tokens": 20,
            "temperature": 0,
        }))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .body_mut()
        .read_json()
        .expect("a JSON completion");
    let text = reply["choices"][0]["message"]["content"]
        .as_str()
        .expect("choices[0].message.content");
    assert!(!text.trim().is_empty(), "an empty completion: {reply}");
    println!(
        "chat_llamacpp: {} at {}: 1 completion of {} tokens in {:.2}s",
        server.model,
        server.url,
        reply["usage"]["completion_tokens"],
        started.elapsed().as_secs_f64()
    );
}

/// Runs `command` (with `--name-with-llm --format json`) and checks its naming of the report's
/// `items` (`item` each): the schema, one call per item, every reply parsed.
fn name_with_llm(command: &[&str], what: &str, items: &str, item: &str, schema: &str) {
    let server = server();
    let cache = tempfile::tempdir().unwrap();
    let mut args = command.to_vec();
    args.extend(["--name-with-llm", "--format", "json"]);
    args.extend(api_args(&server, cache.path()));
    let run = run(&server, &args);
    let report = json(&run.out);
    let named = report[items].as_array().cloned().unwrap_or_default();
    run.report(
        what,
        &format!(
            "{} {items}, llm_naming {}",
            named.len(),
            report["llm_naming"]
        ),
    );
    let command_name = format!("{} --name-with-llm", command[0]);
    common::schema::validate(schema, &report, &command_name);
    assert!(!named.is_empty(), "no {item} to name");
    assert_eq!(run.calls, named.len() as u64, "one call per {item}");
    let mut problems = Vec::new();
    check_named(item, &report, &named, &mut problems);
    assert_no_problems(&command_name, &problems);
}

#[test]
#[ignore = "needs a chat server: run through .ci/chat-server (see .ci/run)"]
fn slices_name_with_llm() {
    name_with_llm(
        &["slices", "fixtures/support_tickets.jsonl"],
        "slices --name-with-llm (support_tickets, 375 rows)",
        "slices",
        "slice",
        "slices.schema.json",
    );
}

#[test]
#[ignore = "needs a chat server: run through .ci/chat-server (see .ci/run)"]
fn coverage_name_with_llm() {
    name_with_llm(
        &[
            "coverage",
            "--tests",
            "fixtures/coverage_tests.jsonl",
            "--production",
            "fixtures/coverage_production.jsonl",
        ],
        "coverage --name-with-llm (122 tests, 390 production prompts)",
        "gaps",
        "gap",
        "coverage.schema.json",
    );
}

#[test]
#[ignore = "needs a chat server: run through .ci/chat-server (see .ci/run)"]
fn score_judge() {
    let server = server();
    let cache = tempfile::tempdir().unwrap();
    let mut args = vec!["score", "fixtures/rag_answers.jsonl", "--judge"];
    args.extend(api_args(&server, cache.path()));
    let mut rows_args = args.clone();
    rows_args.extend(["--format", "jsonl"]);
    let first = run(&server, &rows_args);
    let rows = jsonl(&first.out);
    let judged = rows.iter().filter(|r| r["used_llm_judge"] == true).count();
    let judge_errors: Vec<&Value> = rows
        .iter()
        .filter(|r| r.get("judge_error").is_some())
        .collect();
    first.report(
        "score --judge (rag_answers, 17 rows)",
        &format!(
            "{} rows, {judged} decided by the judge, {} judge errors",
            rows.len(),
            judge_errors.len()
        ),
    );
    let row_schema = common::schema::Schema::load("score.schema.json#/$defs/row");
    for row in &rows {
        row_schema.check(row, "score --judge row");
    }
    // The summary, from the same cache: no call, and the same verdicts.
    let mut summary_args = args.clone();
    summary_args.extend(["--format", "json"]);
    let again = run(&server, &summary_args);
    again.report(
        "score --judge --format json (rerun on the same cache)",
        "the summary",
    );
    assert_eq!(again.calls, 0, "the rerun should be answered by the cache");
    let summary = json(&again.out);
    common::schema::validate("score.schema.json", &summary, "score --judge --format json");
    let judge = &summary["judge"];
    println!("    judge summary: {judge}");

    let mut problems = Vec::new();
    for r in &judge_errors {
        problems.push(format!("row {}: judge_error {}", r["id"], r["judge_error"]));
    }
    let in_band = judge["rows_in_band"].as_u64().unwrap_or(0);
    if in_band == 0 {
        problems.push("no row in the judge's band".into());
    }
    if first.calls != in_band {
        problems.push(format!(
            "{} calls for {in_band} rows in the band",
            first.calls
        ));
    }
    if judge["rows_judged"].as_u64() != Some(in_band) || judge["errors"].as_u64() != Some(0) {
        problems.push(format!(
            "judge summary {judge}: every row in the band should be judged"
        ));
    }
    if judge["rows_judged"].as_u64() != Some(judged as u64) {
        problems.push(format!(
            "rows_judged {} but {judged} rows have used_llm_judge",
            judge["rows_judged"]
        ));
    }
    for r in rows.iter().filter(|r| r["used_llm_judge"] == true) {
        let verdict = r["judge"]["verdict"].as_str().unwrap_or("");
        if !["faithful", "hallucinated"].contains(&verdict) || r["gate"] != "llm_judge" {
            problems.push(format!(
                "row {}: judge {} gate {}",
                r["id"], r["judge"], r["gate"]
            ));
        }
    }
    assert_no_problems("score --judge", &problems);
}

#[test]
#[ignore = "needs a chat server: run through .ci/chat-server (see .ci/run)"]
fn score_consistency() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    // 4 answered rows: 4 paraphrase calls, then 8 answers (1 + N calls per row, N = 2). The
    // answers are all in flight at once: 4 rounds on 2 slots, within --timeout 60.
    let rows: Vec<Value> = read_rows("fixtures/rag_answers.jsonl")
        .into_iter()
        .filter(|r| !r["response"].as_str().unwrap_or("").trim().is_empty())
        .take(4)
        .collect();
    let input = dir.path().join("rag4.jsonl");
    write_rows(&input, &rows);
    let cache = dir.path().join("cache");
    let mut args = vec![
        "score",
        input.to_str().unwrap(),
        "--consistency",
        "2",
        "--format",
        "jsonl",
    ];
    args.extend(api_args(&server, &cache));
    let run = run(&server, &args);
    let out = jsonl(&run.out);
    let checked = out
        .iter()
        .filter(|r| r["scores"]["consistency"].is_number())
        .count();
    run.report(
        "score --consistency 2 (4 rag_answers rows)",
        &format!("{} rows, {checked} with scores.consistency", out.len()),
    );
    let row_schema = common::schema::Schema::load("score.schema.json#/$defs/row");
    let mut problems = Vec::new();
    assert_eq!(out.len(), rows.len(), "one output row per input row");
    // One paraphrase call per row, then one answer per paraphrase kept: a small model's
    // paraphrases may be dropped on content (a fragment, the instructions, a changed number),
    // never for want of JSON.
    let kept: u64 = out
        .iter()
        .map(|r| {
            r["consistency_check"]["paraphrases"]
                .as_array()
                .map_or(0, Vec::len) as u64
        })
        .sum();
    if run.calls != rows.len() as u64 + kept {
        problems.push(format!(
            "{} calls for {} rows and {kept} paraphrases kept",
            run.calls,
            rows.len()
        ));
    }
    for r in &out {
        row_schema.check(r, "score --consistency row");
        let id = &r["id"];
        if let Some(e) = r.get("consistency_error") {
            let e = e.as_str().unwrap_or("");
            if e.starts_with("paraphrases: none usable: ") {
                println!("    row {id}: every paraphrase dropped on content: {e}");
            } else {
                problems.push(format!("row {id}: consistency_error {e}"));
            }
            continue;
        }
        let check = &r["consistency_check"];
        let len = |k: &str| check[k].as_array().map_or(0, Vec::len);
        let n = len("paraphrases");
        if !r["scores"]["consistency"].is_number()
            || !(1..=2).contains(&n)
            || len("answers") != n
            || len("agreements") != n
        {
            problems.push(format!(
                "row {id}: scores.consistency {} with {n} paraphrases, {} answers, {} agreements: {check}",
                r["scores"]["consistency"],
                len("answers"),
                len("agreements")
            ));
        }
    }
    for (i, r) in out.iter().enumerate().take(2) {
        println!(
            "    row {i}: paraphrases {}",
            r["consistency_check"]["paraphrases"]
        );
    }
    assert_no_problems("score --consistency 2", &problems);
}

#[test]
#[ignore = "needs a chat server: run through .ci/chat-server (see .ci/run)"]
fn slices_sample() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    // Sampling agreement scores rows with a response and no score, label or reference: the
    // PROMPTS commonest support prompts, ROWS_PER_PROMPT rows each, their scores dropped. Rows
    // with one prompt share its samples, so 24 rows make 3 x 2 = 6 calls. Few prompts on
    // purpose: SmolLM2 answers at length (up to the 512 tokens asked for), all calls are in
    // flight at once (--max-concurrent 16) and 2 slots serve them, so the last ones wait in the
    // server's queue; with 8 prompts (16 calls) half of them overran --timeout 60 and were
    // retried.
    const PROMPTS: usize = 3;
    const ROWS_PER_PROMPT: usize = 8;
    let all = read_rows("fixtures/support_tickets.jsonl");
    let mut prompts: Vec<(String, usize)> = Vec::new();
    for r in &all {
        let p = r["prompt"].as_str().unwrap().to_string();
        match prompts.iter_mut().find(|(q, _)| *q == p) {
            Some((_, n)) => *n += 1,
            None => prompts.push((p, 1)),
        }
    }
    prompts.sort_by_key(|(_, n)| std::cmp::Reverse(*n)); // stable: first seen first among equals
    let chosen: Vec<&str> = prompts
        .iter()
        .take(PROMPTS)
        .map(|(p, _)| p.as_str())
        .collect();
    let mut taken = vec![0; chosen.len()];
    let rows: Vec<Value> = all
        .iter()
        .filter_map(|r| {
            let k = chosen.iter().position(|p| r["prompt"] == *p)?;
            taken[k] += 1;
            (taken[k] <= ROWS_PER_PROMPT).then(|| {
                let mut row = r.clone();
                row.as_object_mut().unwrap().remove("score");
                row
            })
        })
        .collect();
    assert_eq!(rows.len(), PROMPTS * ROWS_PER_PROMPT);
    let input = dir.path().join("sample.jsonl");
    write_rows(&input, &rows);
    let cache = dir.path().join("cache");
    let mut args = vec![
        "slices",
        input.to_str().unwrap(),
        "--sample",
        "2",
        "--format",
        "json",
    ];
    args.extend(api_args(&server, &cache));
    let run = run(&server, &args);
    let report = json(&run.out);
    let outcomes = &report["parameters"]["outcomes"];
    run.report(
        "slices --sample 2 (24 support rows, 3 distinct prompts)",
        &format!(
            "outcomes {outcomes}, {} slices",
            report["slices"].as_array().map_or(0, Vec::len)
        ),
    );
    common::schema::validate("slices.schema.json", &report, "slices --sample 2");
    let mut problems = Vec::new();
    if run.calls != 2 * PROMPTS as u64 {
        problems.push(format!(
            "{} calls (expected {PROMPTS} prompts x 2 samples)",
            run.calls
        ));
    }
    if outcomes["sampling_agreement"].as_u64() != Some(rows.len() as u64) {
        problems.push(format!(
            "every row should be scored by sampling agreement: {outcomes}"
        ));
    }
    if outcomes["sampling"]["failed_rows"].as_u64() != Some(0)
        || report["parameters"]["skipped_rows"].as_u64().unwrap_or(0) != 0
    {
        problems.push(format!("rows left out: {outcomes}"));
    }
    if report["total_prompts"].as_u64() != Some(rows.len() as u64) {
        problems.push(format!("total_prompts {}", report["total_prompts"]));
    }
    assert_no_problems("slices --sample 2", &problems);
}
