//! `slices` on rows without a score or label: outcomes from reference similarity (offline) and
//! from sampling agreement (`--sample`, against a loopback server on 127.0.0.1).

use crate::common;

use common::fake_api::{FakeApi, Fault};
use common::{faultmap, faultmap_env, json, stderr};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;

const REFERENCE_ONLY: &str = "fixtures/reference_answers.jsonl";
const SECRET: &str = "sk-faultmap-test-SECRET-outcome-41d2";

fn rows(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_rows(dir: &tempfile::TempDir, name: &str, rows: &[Value]) -> String {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    for r in rows {
        writeln!(f, "{r}").unwrap();
    }
    path.to_str().unwrap().to_string()
}

/// The topic of the rows in a slice: the one all its rows share, if any.
fn slice_topic(slice: &Value, topics: &[String]) -> Option<String> {
    let set: BTreeSet<&String> = slice["sample_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &topics[i.as_u64().unwrap() as usize])
        .collect();
    (set.len() == 1).then(|| set.into_iter().next().unwrap().clone())
}

fn topics(path: &str) -> Vec<String> {
    rows(path)
        .iter()
        .map(|r| r["metadata"]["topic"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn reference_only_rows_find_the_diverging_topic() {
    let out = faultmap(&["slices", REFERENCE_ONLY, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let outcomes = &report["parameters"]["outcomes"];
    assert_eq!(outcomes["reference_similarity"], 180);
    assert_eq!(outcomes["score"], 0);
    assert_eq!(outcomes["label"], 0);
    assert!(outcomes.get("sampling").is_none());
    let topics = topics(REFERENCE_ONLY);
    let slices = report["slices"].as_array().unwrap();
    assert!(!slices.is_empty(), "no slice found");
    for s in slices {
        assert_eq!(slice_topic(s, &topics).as_deref(), Some("export"), "{s}");
        for e in s["examples"].as_array().unwrap() {
            assert_eq!(e["outcome_source"], "reference_similarity");
            let score = e["score"].as_f64().unwrap();
            assert!(
                (0.0..0.35).contains(&score),
                "a failing example scores {score}"
            );
        }
    }
    // Same input, same bytes.
    assert_eq!(
        out.stdout,
        faultmap(&["slices", REFERENCE_ONLY, "--format", "json"]).stdout
    );
}

#[test]
fn a_stricter_match_threshold_fails_more_rows() {
    let failures = |t: &str| {
        let out = faultmap(&[
            "slices",
            REFERENCE_ONLY,
            "--format",
            "json",
            "--match-threshold",
            t,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json(&out)["total_failures"].as_u64().unwrap()
    };
    assert!(failures("0.35") < failures("0.99"));
}

#[test]
fn scored_and_reference_rows_mix() {
    let dir = tempfile::tempdir().unwrap();
    let mut mixed = rows("fixtures/support_tickets.jsonl");
    mixed.truncate(120);
    let reference = rows(REFERENCE_ONLY);
    mixed.extend(reference.iter().cloned());
    // One reference row also carries a label: the label decides.
    mixed[130]["label"] = Value::from("pass");
    let path = write_rows(&dir, "mixed.jsonl", &mixed);
    let out = faultmap(&["slices", &path, "--format", "json", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let outcomes = &report["parameters"]["outcomes"];
    assert_eq!(outcomes["score"], 120);
    assert_eq!(outcomes["label"], 1);
    assert_eq!(outcomes["reference_similarity"], 179);
    assert_eq!(report["total_prompts"], 300);
    // Examples from scored rows carry no outcome source; derived ones do.
    let sources: BTreeSet<String> = report["slices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["examples"].as_array().unwrap().clone())
        .map(|e| e["outcome_source"].as_str().unwrap_or("input").to_string())
        .collect();
    assert!(sources.contains("input") && sources.contains("reference_similarity"));
}

#[test]
fn a_row_with_no_outcome_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = rows(REFERENCE_ONLY);
    bad[2].as_object_mut().unwrap().remove("reference");
    let path = write_rows(&dir, "bad.jsonl", &bad);
    let out = faultmap(&["slices", &path, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad.jsonl:3"), "{err}");
    assert!(err.contains("field `score`"), "{err}");
    assert!(
        err.contains("`reference` with a `response`"),
        "names the alternatives: {err}"
    );
    // A reference without a response: the response is what is missing.
    let mut bad = rows(REFERENCE_ONLY);
    bad[4].as_object_mut().unwrap().remove("response");
    let path = write_rows(&dir, "no_response.jsonl", &bad);
    let err = stderr(&faultmap(&["slices", &path, "--format", "json"]));
    assert!(
        err.contains("no_response.jsonl:5") && err.contains("field `response`"),
        "{err}"
    );
    // --skip-invalid leaves such rows out and counts them.
    let out = faultmap(&["slices", &path, "--format", "json", "--skip-invalid"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["parameters"]["skipped_rows"], 1);
    // CSV without score, label or reference columns: the header is the problem.
    let csv = dir.path().join("plain.csv");
    std::fs::write(&csv, "prompt,response\nhello,hi\n").unwrap();
    let out = faultmap(&["slices", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("no outcome column") && err.contains("`reference` and `response` columns"),
        "{err}"
    );
}

/// Prompt → reference answer of the fixture.
fn references() -> HashMap<String, String> {
    rows(REFERENCE_ONLY)
        .iter()
        .map(|r| {
            (
                r["prompt"].as_str().unwrap().to_string(),
                r["reference"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Answers that agree with the fixture's reference answer, except for export questions, whose
/// samples scatter over unrelated sentences (one per seed).
fn scripted(request: &Value) -> String {
    const SCATTER: [&str; 6] = [
        "The weather in Lisbon is mild in spring.",
        "Photosynthesis turns sunlight into chemical energy.",
        "Chess openings reward controlling the center early.",
        "A haiku has three lines of five, seven and five syllables.",
        "Volcanic soil is rich in minerals for vineyards.",
        "Jazz drummers often keep time on the ride cymbal.",
    ];
    let prompt = request["messages"][0]["content"].as_str().unwrap();
    if prompt.to_lowercase().contains("export") {
        let seed = request["seed"].as_u64().unwrap() as usize;
        SCATTER[seed % SCATTER.len()].to_string()
    } else {
        references()[prompt].clone()
    }
}

const SAMPLE: &[&str] = &[
    "slices",
    REFERENCE_ONLY,
    "--format",
    "json",
    // Hides the references, so every row is scored by sampling; the field is in no row on
    // purpose.
    "--reference-field",
    "no_reference_here",
    "--allow-missing-fields",
    "--sample",
    "4",
    "--llm-model",
    "fake-chat",
];

fn distinct_prompts() -> usize {
    references().len()
}

#[test]
fn sampling_agreement_finds_the_scattering_topic_and_reruns_from_the_cache() {
    let api = FakeApi::with_chat(|_| Fault::None, scripted);
    let cache = tempfile::tempdir().unwrap();
    let mut args = SAMPLE.to_vec();
    let base = api.base();
    args.extend([
        "--api-base",
        &base,
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    let env = [("FAULTMAP_API_KEY", SECRET)];
    let first = faultmap_env(&args, &env);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // One request per distinct prompt and seed (rows sharing a prompt share its samples).
    assert_eq!(api.requests(), distinct_prompts() * 4);
    let seeds: BTreeSet<u64> = api
        .chats
        .lock()
        .unwrap()
        .iter()
        .map(|c| c["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, (0..4).collect());
    let report = json(&first);
    let outcomes = &report["parameters"]["outcomes"];
    assert_eq!(outcomes["sampling_agreement"], 180);
    assert_eq!(outcomes["sampling"]["samples"], 4);
    assert_eq!(outcomes["sampling"]["llm_model"], "fake-chat");
    assert_eq!(outcomes["sampling"]["failed_rows"], 0);
    let topics = topics(REFERENCE_ONLY);
    let slices = report["slices"].as_array().unwrap();
    assert!(!slices.is_empty(), "no slice found");
    for s in slices {
        assert_eq!(slice_topic(s, &topics).as_deref(), Some("export"), "{s}");
        for e in s["examples"].as_array().unwrap() {
            assert_eq!(e["outcome_source"], "sampling_agreement");
            assert!(e["score"].as_f64().unwrap() < 0.5);
        }
    }
    // High agreement elsewhere: with --all, a non-export topic's slice barely fails.
    let mut all = args.clone();
    all.push("--all");
    let report_all = json(&faultmap_env(&all, &env));
    let calm = report_all["slices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| slice_topic(s, &topics).is_some_and(|t| t != "export"))
        .expect("a slice of another topic");
    assert!(calm["failure_rate"].as_f64().unwrap() < 0.2, "{calm}");
    // The rerun comes from the cache: no request, same bytes; the key never shows.
    let before = api.requests();
    let second = faultmap_env(&args, &env);
    assert_eq!(api.requests(), before, "the rerun must not call the API");
    assert_eq!(first.stdout, second.stdout);
    for out in [&first, &second] {
        assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
        assert!(!stderr(out).contains(SECRET));
    }
}

#[test]
fn sample_refuses_over_the_call_budget_and_without_a_model() {
    let api = FakeApi::with_chat(|_| Fault::None, scripted);
    let base = api.base();
    let mut args = SAMPLE.to_vec();
    args.extend(["--api-base", &base, "--no-cache", "--max-calls", "5"]);
    let out = faultmap_env(&args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-calls 5"), "{}", stderr(&out));
    assert_eq!(api.requests(), 0, "nothing is sent over the budget");
    let out = faultmap_env(
        &[
            "slices",
            REFERENCE_ONLY,
            "--sample",
            "3",
            "--api-base",
            &base,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--llm-model"), "{}", stderr(&out));
    assert_eq!(api.requests(), 0);
    // N = 1 has no pair to measure dispersion on.
    let out = faultmap_env(&["slices", REFERENCE_ONLY, "--sample", "1"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn failed_samples_stop_the_run_or_leave_the_rows_out() {
    let plan = |n| {
        if n == 0 {
            Fault::ServerError
        } else {
            Fault::None
        }
    };
    let run = |extra: &[&str]| {
        let api = FakeApi::with_chat(plan, scripted);
        let base = api.base();
        let mut args = SAMPLE.to_vec();
        args.extend([
            "--api-base",
            &base,
            "--no-cache",
            "--max-retries",
            "0",
            "--max-concurrent",
            "1",
        ]);
        args.extend_from_slice(extra);
        faultmap_env(&args, &[])
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("reference_answers.jsonl:") && err.contains("sampled answer"),
        "{err}"
    );
    let out = run(&["--skip-invalid"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let failed = report["parameters"]["outcomes"]["sampling"]["failed_rows"]
        .as_u64()
        .unwrap();
    assert!(failed >= 1);
    assert_eq!(report["parameters"]["skipped_rows"], failed);
    assert_eq!(report["total_prompts"].as_u64().unwrap(), 180 - failed);
    assert!(stderr(&out).contains("sampled answers failed"));
}

#[test]
fn table_and_markdown_say_where_outcomes_came_from() {
    for format in ["table", "markdown"] {
        let out = faultmap(&[
            "slices",
            "fixtures/reference_answers.jsonl",
            "--format",
            format,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Outcomes: 180 from reference similarity"),
            "{format}: {text}"
        );
    }
    // Rows with their own outcomes: no such line.
    let out = faultmap(&[
        "slices",
        "fixtures/support_tickets.jsonl",
        "--format",
        "table",
    ]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Outcomes:"));
}
