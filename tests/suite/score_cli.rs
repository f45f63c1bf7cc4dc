//! End-to-end tests of `faultmap score`: the per-row JSONL, the summary, configuration,
//! calibration, the CI gate, and piping into `faultmap slices`.

use crate::common;

use common::{faultmap, json, stderr};
use faultmap::analysis::score::config::{ScoreConfig, DEFAULT_CONFIG_TOML};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FIXTURE: &str = "fixtures/rag_answers.jsonl";

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// The JSON objects of a JSONL stdout, one per line.
fn lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSONL line ({e}): {l}")))
        .collect()
}

fn fixture_rows() -> Vec<Value> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn temp_file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// `faultmap score --format jsonl` on rows of (prompt, context, response); it must exit 0.
fn score_rows(rows: &[(&str, &str, &str)]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let text: String = rows
        .iter()
        .map(|(prompt, context, response)| {
            let row =
                serde_json::json!({"prompt": prompt, "context": context, "response": response});
            format!("{row}\n")
        })
        .collect();
    let path = temp_file(&dir, "rows.jsonl", text.as_bytes());
    let out = faultmap(&["score", path.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    lines(&out)
}

/// The fixture scored with the default options (stdout is a pipe: JSONL by default).
fn scored_fixture() -> Vec<Value> {
    let out = faultmap(&["score", FIXTURE]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    lines(&out)
}

/// The scored row whose fixture `case` is `case` (the first one).
fn row_of_case<'a>(rows: &'a [Value], case: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["case"] == case)
        .unwrap_or_else(|| panic!("no row of case {case}"))
}

#[test]
fn jsonl_echoes_each_input_row_in_order_with_scores() {
    let out = faultmap(&["score", FIXTURE]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let input = fixture_rows();
    let output = lines(&out);
    assert_eq!(output.len(), input.len(), "one line per input row");
    for (i, (inp, row)) in input.iter().zip(&output).enumerate() {
        let inp = inp.as_object().unwrap();
        let row = row.as_object().unwrap();
        // The input fields come first, in input order, unchanged.
        let keys: Vec<&String> = row.keys().take(inp.len()).collect();
        assert_eq!(
            keys,
            inp.keys().collect::<Vec<_>>(),
            "row {i}: input keys moved"
        );
        for (k, v) in inp {
            assert_eq!(&row[k], v, "row {i}: field {k} changed");
        }
        let score = row["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "row {i}: score {score}");
        assert_eq!(row["score"], row["scores"]["final"], "row {i}");
        for key in [
            "unsupported",
            "low_confidence_sentences",
            "decision",
            "failure_type",
            "hallucination_status",
            "next_action",
            "gate",
            "reason",
            "confidence_pct",
        ] {
            assert!(row.contains_key(key), "row {i}: no `{key}`");
        }
        assert!(["ACCEPT", "REVIEW", "REJECT"].contains(&row["decision"].as_str().unwrap()));
    }
    let err = stderr(&out);
    let summary = format!("scored {} rows in ", input.len());
    assert!(err.contains(&summary), "{err}");
    assert!(err.contains("ACCEPT") && err.contains("REJECT"), "{err}");
}

#[test]
fn fixture_cases_land_where_they_should() {
    let rows = scored_fixture();
    for row in rows.iter().filter(|r| r["case"] == "no_context") {
        assert_eq!(row["decision"], "REVIEW", "{row}");
        assert_eq!(row["failure_type"], "undetermined", "{row}");
        assert!(row["scores"]["attribution"].is_null(), "{row}");
    }

    let empty = row_of_case(&rows, "empty_response");
    assert_eq!(empty["decision"], "REJECT", "{empty}");
    assert_eq!(empty["failure_type"], "empty_response", "{empty}");

    let swapped = row_of_case(&rows, "swapped_number");
    assert_eq!(swapped["decision"], "REJECT", "{swapped}");
    assert_eq!(swapped["hallucination_status"], "confirmed", "{swapped}");
    let unsupported: Vec<&str> = swapped["unsupported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["text"].as_str().unwrap())
        .collect();
    assert!(unsupported.contains(&"60"), "{unsupported:?}");
    assert!(!unsupported.contains(&"30"), "30 is in the context");

    let accepted = rows.iter().filter(|r| r["decision"] == "ACCEPT").count();
    assert!(accepted > 0, "no faithful row is accepted");
    for row in rows.iter().filter(|r| r["decision"] == "ACCEPT") {
        assert_eq!(row["label"], "faithful", "{row}");
    }
}

#[test]
fn json_summary_is_byte_identical_across_runs() {
    let a = faultmap(&["score", FIXTURE, "--format", "json"]);
    let b = faultmap(&["score", FIXTURE, "--format", "json"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let summary = json(&a);
    let n = fixture_rows().len() as u64;
    assert_eq!(summary["total_rows"], n);
    let decided: u64 = summary["decisions"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(decided, n);
    let no_context = fixture_rows()
        .iter()
        .filter(|r| r.get("context").is_none())
        .count();
    assert_eq!(summary["rows_without_context"], no_context as u64);
}

#[test]
fn table_and_markdown_summaries_render() {
    let table = faultmap(&["score", FIXTURE, "--format", "table"]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = stdout(&table);
    for needle in [
        "ACCEPT",
        "REJECT",
        "rows/s",
        "hash-tfidf",
        "First REJECT rows",
    ] {
        assert!(text.contains(needle), "no {needle} in {text}");
    }
    let md = faultmap(&["score", FIXTURE, "--format", "markdown"]);
    let text = stdout(&md);
    assert!(text.starts_with("## faultmap"), "{text}");
    assert!(text.contains("|---|---:|"), "{text}");
    assert!(!text.contains("\"60\""), "reasons are escaped: {text}");
}

#[test]
fn print_config_prints_the_defaults_and_they_parse_back() {
    let out = faultmap(&["score", "--print-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text, DEFAULT_CONFIG_TOML);
    let config = ScoreConfig::from_toml(&text, "printed").unwrap();
    assert_eq!(config, ScoreConfig::default());
}

#[test]
fn config_with_an_unknown_key_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(&dir, "bad.toml", b"[gates]\naccept_finall = 0.7\n");
    let out = faultmap(&["score", FIXTURE, "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("accept_finall"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    // A good partial file changes the decisions it should.
    let strict = temp_file(&dir, "strict.toml", b"[gates]\nreject_attribution = 0.99\n");
    let out = faultmap(&["score", FIXTURE, "--config", strict.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rejected = |rows: &[Value]| rows.iter().filter(|r| r["decision"] == "REJECT").count();
    let strict_rows = lines(&out);
    // every row with a context and attribution below 0.99 is rejected, more than by default
    assert!(strict_rows
        .iter()
        .filter(|r| r["scores"]["attribution"]
            .as_f64()
            .is_some_and(|a| a < 0.99))
        .all(|r| r["decision"] == "REJECT"));
    assert!(rejected(&strict_rows) > rejected(&scored_fixture()));
}

#[test]
fn bad_input_rows_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"prompt": "How do I reset my password?", "context": "Click Forgot password.", "response": "Click Forgot password."}"#;
    for (name, bad, field) in [
        (
            "missing response",
            r#"{"prompt": "x", "context": "y"}"#,
            "response",
        ),
        ("malformed JSON", r#"{"prompt": "x", "response": "#, ""),
        (
            "response not text",
            r#"{"prompt": "x", "response": 3}"#,
            "response",
        ),
    ] {
        let content = format!("{good}\n{good}\n{bad}\n{good}\n");
        let path = temp_file(&dir, "rows.jsonl", content.as_bytes());
        let out = faultmap(&["score", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("rows.jsonl:3"), "{name}: {err}");
        assert!(err.contains(field), "{name}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{name}: rows printed despite the error"
        );
    }
}

#[test]
fn outcomes_are_read_only_by_calibrate_and_label_map_names_other_words() {
    let dir = tempfile::tempdir().unwrap();
    // Labels in another vocabulary, and a score outside [0, 1]: scoring does not read them.
    let mut rows = String::new();
    for (i, row) in fixture_rows().iter().enumerate() {
        let mut row = row.clone();
        row["label"] = Value::from(if i % 3 == 0 {
            "not_attributable"
        } else {
            "attributable"
        });
        row["score"] = Value::from(7);
        rows.push_str(&format!("{row}\n"));
    }
    let path = temp_file(&dir, "begin_like.jsonl", rows.as_bytes());
    let path = path.to_str().unwrap();
    let out = faultmap(&["score", path, "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(&out).len(), fixture_rows().len());

    // --calibrate needs them: the error names the word and the remedy.
    let mut unscored = String::new();
    for line in rows.lines() {
        let mut row: Value = serde_json::from_str(line).unwrap();
        row.as_object_mut().unwrap().remove("score");
        unscored.push_str(&format!("{row}\n"));
    }
    let path = temp_file(&dir, "labelled.jsonl", unscored.as_bytes());
    let path = path.to_str().unwrap();
    let out = faultmap(&["score", path, "--calibrate", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("labelled.jsonl:1") && err.contains("`label`"),
        "{err}"
    );
    assert!(
        err.contains("\"not_attributable\"") && err.contains("--label-map"),
        "{err}"
    );
    let out = faultmap(&[
        "score",
        path,
        "--calibrate",
        "-q",
        "--label-map",
        "attributable=pass,Not_Attributable=fail",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["labelled_rows"], fixture_rows().len());

    // A mapping must say pass or fail.
    let out = faultmap(&["score", path, "--label-map", "attributable=ok"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("neither pass nor fail"),
        "{}",
        stderr(&out)
    );
}

/// A claim made of words from two context sentences ("Alice opened an office in Berlin") is
/// not what either sentence says: it must score below a restatement of one, though the context
/// as a whole has all its words (until 2026-12-06 a whole passage counted as the best sentence
/// and the two tied at 1.0).
#[test]
fn a_claim_joined_from_two_sentences_scores_below_a_restated_one() {
    let prompt = "Who opened the Berlin office?";
    let context =
        "Alice founded the company in Paris in 2010. Bob later opened an office in Berlin.";
    let scored = score_rows(&[
        (prompt, context, "Alice founded the company in Paris."),
        (prompt, context, "Alice opened an office in Berlin."),
    ]);
    let attribution = |r: &Value| r["scores"]["attribution"].as_f64().unwrap();
    let (restated, joined) = (&scored[0], &scored[1]);
    assert_eq!(attribution(restated), 1.0, "{restated}");
    assert!(attribution(joined) < 0.95, "{joined}");
    assert!(
        restated["scores"]["final"].as_f64() > joined["scores"]["final"].as_f64(),
        "{restated} vs {joined}"
    );
}

/// A restatement that adds "not" says the opposite of its context sentence, though every
/// content word is there: it is listed as an unsupported negation and scores below the faithful
/// copy. When the context itself says "not" about it, nothing is flagged.
#[test]
fn a_negation_the_context_does_not_make_is_flagged() {
    let prompt = "What does the warranty cover?";
    let context =
        "The warranty covers accidental damage for two years. Batteries are not included in the box.";
    let scored = score_rows(&[
        (
            prompt,
            context,
            "The warranty covers accidental damage for two years.",
        ),
        (
            prompt,
            context,
            "The warranty does not cover accidental damage.",
        ),
        (prompt, context, "Batteries are not included in the box."),
    ]);
    let final_of = |r: &Value| r["scores"]["final"].as_f64().unwrap();
    let (faithful, flipped, negated) = (&scored[0], &scored[1], &scored[2]);
    assert_eq!(
        flipped["unsupported"],
        serde_json::json!([{"text": "not", "kind": "negation"}]),
        "{flipped}"
    );
    assert!(
        final_of(faithful) > final_of(flipped),
        "{faithful} vs {flipped}"
    );
    assert_eq!(flipped["decision"], "REJECT", "{flipped}");
    for row in [faithful, negated] {
        assert_eq!(row["unsupported"], serde_json::json!([]), "{row}");
    }
}

/// A paraphrase the context supports must score above a verbatim copy of the context with one
/// number changed: the invented number is the hallucination.
#[test]
fn a_supported_paraphrase_scores_above_a_copy_with_an_invented_number() {
    let rows = [
        (
            "How long do I have to ask for a refund?",
            "Refunds are available within 30 days of purchase. After 30 days, purchases cannot be refunded.",
            "You can get a refund for up to 30 days after you buy.",
            "Refunds are available within 45 days of purchase.",
        ),
        (
            "When was the bridge opened?",
            "The Golden Gate Bridge opened to traffic on May 27, 1937, after four years of construction.",
            "It was opened in May 1937, following four years of building work.",
            "The Golden Gate Bridge opened to traffic on May 27, 1939.",
        ),
    ];
    let triples: Vec<(&str, &str, &str)> = rows
        .iter()
        .flat_map(|&(prompt, context, paraphrase, invented)| {
            [(prompt, context, paraphrase), (prompt, context, invented)]
        })
        .collect();
    let scored = score_rows(&triples);
    for pair in scored.chunks(2) {
        let (paraphrase, invented) = (&pair[0], &pair[1]);
        let final_of = |r: &Value| r["scores"]["final"].as_f64().unwrap();
        assert!(
            final_of(paraphrase) > final_of(invented),
            "{paraphrase} vs {invented}"
        );
        assert_eq!(invented["decision"], "REJECT", "{invented}");
        assert_eq!(
            invented["unsupported"].as_array().unwrap().len(),
            1,
            "{invented}"
        );
    }
}

#[test]
fn max_reject_rate_is_a_gate() {
    let out = faultmap(&[
        "score",
        FIXTURE,
        "--max-reject-rate",
        "0",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--max-reject-rate"),
        "{}",
        stderr(&out)
    );
    // The report is still written.
    assert!(json(&out)["decisions"]["REJECT"].as_u64().unwrap() > 0);
    let out = faultmap(&[
        "score",
        FIXTURE,
        "--max-reject-rate",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        // score always uses its own embedder: it has no --embedder to get wrong.
        (
            &["score", FIXTURE, "--embedder", "precomputed"],
            "unexpected argument '--embedder'",
        ),
        (
            &["score", FIXTURE, "--embedder", "static"],
            "unexpected argument '--embedder'",
        ),
        (
            &["score", FIXTURE, "--write-config", "x.toml"],
            "--calibrate",
        ),
        (
            &["score", FIXTURE, "--calibrate", "--holdout", "1"],
            "outside",
        ),
        (&["score"], "INPUT"),
    ];
    for (args, needle) in cases {
        let out = faultmap(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

/// Labelled rows like the fixture's, with varied wording: a faithful and a bad answer (a
/// swapped number or a vague one) for each prompt.
fn labelled_rows() -> String {
    let topics = [
        (
            "refund",
            "Refunds are available within {n} days of purchase from the Billing page.",
            "How many days do I have to request a refund",
            "You can request a refund within {n} days of purchase from the Billing page.",
        ),
        (
            "trial",
            "The free trial lasts {n} days and includes every feature.",
            "How long is the free trial",
            "The free trial lasts {n} days and includes every feature.",
        ),
        (
            "seats",
            "The Team plan includes {n} seats; extra seats are billed monthly.",
            "How many seats come with the Team plan",
            "The Team plan comes with {n} seats, and extra seats are billed monthly.",
        ),
        (
            "upload",
            "Each upload can be at most {n} MB; larger files are rejected.",
            "What is the maximum upload size",
            "Each upload can be at most {n} MB, and larger files are rejected.",
        ),
        (
            "history",
            "Message history is kept for {n} months on the Starter plan.",
            "How long is message history kept",
            "On the Starter plan message history is kept for {n} months.",
        ),
        (
            "api",
            "The API allows {n} requests per minute for each workspace.",
            "What is the API rate limit",
            "The API allows {n} requests per minute for each workspace.",
        ),
    ];
    let suffixes = ["?", " on my account?", " for our company?", " right now?"];
    let mut out = String::new();
    let mut i = 0;
    for (name, context, question, answer) in topics {
        for (k, suffix) in suffixes.iter().enumerate() {
            let n = 5 + 3 * i;
            i += 1;
            let prompt = format!("{question}{suffix}");
            let context = context.replace("{n}", &n.to_string());
            let good = answer.replace("{n}", &n.to_string());
            let bad = if k % 2 == 0 {
                answer.replace("{n}", &(4 * n + 1).to_string())
            } else {
                "It depends on various factors, so maybe check with someone.".to_string()
            };
            for (id, response, label) in [("ok", good, "faithful"), ("bad", bad, "hallucinated")] {
                let row = serde_json::json!({
                    "id": format!("{name}-{k}-{id}"),
                    "prompt": prompt,
                    "context": context,
                    "response": response,
                    "label": label,
                });
                out.push_str(&row.to_string());
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn calibration_writes_a_config_that_score_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let data = temp_file(&dir, "labelled.jsonl", labelled_rows().as_bytes());
    let config = dir.path().join("calibrated.toml");
    let (data, config) = (data.to_str().unwrap(), config.to_str().unwrap());
    let out = faultmap(&[
        "score",
        data,
        "--calibrate",
        "--write-config",
        config,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["labelled_rows"], 48);
    assert_eq!(
        report["fit_rows"].as_u64().unwrap() + report["holdout_rows"].as_u64().unwrap(),
        48
    );
    let auroc = report["auroc_final"]["auroc"].as_f64().unwrap();
    assert!(
        auroc > 0.5,
        "final does not separate good from bad: {auroc}"
    );
    let calibrated = report["holdout_calibrated"]["f1"].as_f64().unwrap();
    let default = report["holdout_default"]["f1"].as_f64().unwrap();
    assert!(calibrated >= default - 0.2, "{calibrated} vs {default}");

    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.starts_with("# faultmap score configuration"), "{text}");
    assert!(
        text.contains("labelled.jsonl") && text.contains("F1"),
        "{text}"
    );
    assert!(text.contains("Command: faultmap score"), "{text}");
    let written = ScoreConfig::from_toml(&text, config).unwrap();
    assert_eq!(
        serde_json::to_value(&written.gates).unwrap(),
        report["calibrated_gates"]
    );
    let out = faultmap(&["score", data, "--config", config, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["total_rows"], 48);

    // The table and Markdown reports render; JSONL is not a calibration format.
    for format in ["table", "markdown"] {
        let out = faultmap(&["score", data, "--calibrate", "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("AUROC"), "{}", stdout(&out));
    }
    let out = faultmap(&["score", data, "--calibrate", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Calibration needs a label (or score) on every row.
    let unlabelled = labelled_rows().replace(",\"label\":\"faithful\"", "");
    let path = temp_file(&dir, "unlabelled.jsonl", unlabelled.as_bytes());
    let out = faultmap(&["score", path.to_str().unwrap(), "--calibrate"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unlabelled.jsonl:1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_input_score_is_kept_and_own_output_rescores_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let row = r#"{"id": "a", "prompt": "How long is the trial?", "context": "The trial lasts 14 days.", "response": "The trial lasts 14 days.", "score": 0.25}"#;
    let path = temp_file(&dir, "scored.jsonl", format!("{row}\n").as_bytes());
    let out = faultmap(&["score", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = lines(&out).remove(0);
    assert_eq!(first["input_score"], 0.25);
    assert_eq!(first["score"], first["scores"]["final"]);
    let keys: Vec<&String> = first.as_object().unwrap().keys().take(5).collect();
    assert_eq!(keys, ["id", "prompt", "context", "response", "input_score"]);

    // Scoring our own output again replaces our fields instead of piling up `input_*`.
    let again = temp_file(&dir, "again.jsonl", &out.stdout);
    let out = faultmap(&["score", again.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let second = lines(&out).remove(0);
    assert_eq!(second, first);
}

#[test]
fn input_fields_under_optional_output_names_are_kept_aside() {
    // `judge`, `used_llm_judge`... are written only with --judge / --consistency; an input
    // field of that name must not pass for this run's verdict, and re-scoring an output of
    // `--judge` without it drops the stale verdict.
    let dir = tempfile::tempdir().unwrap();
    let row = r#"{"prompt": "How long is the trial?", "context": "The trial lasts 14 days.", "response": "The trial lasts 14 days.", "judge": "x", "used_llm_judge": 3}"#;
    let path = temp_file(&dir, "judged.jsonl", format!("{row}\n").as_bytes());
    let out = faultmap(&["score", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = lines(&out).remove(0);
    assert_eq!(first["input_judge"], "x");
    assert_eq!(first["input_used_llm_judge"], 3);
    assert!(first.get("judge").is_none() && first.get("used_llm_judge").is_none());

    let mut stale = first.clone();
    stale["judge"] = serde_json::json!({"verdict": "faithful"});
    stale["used_llm_judge"] = serde_json::json!(true);
    let again = temp_file(&dir, "again.jsonl", format!("{stale}\n").as_bytes());
    let out = faultmap(&["score", again.to_str().unwrap()]);
    let second = lines(&out).remove(0);
    assert!(second.get("judge").is_none(), "{second}");
    assert!(second.get("used_llm_judge").is_none(), "{second}");
}

#[test]
fn score_output_pipes_into_slices() {
    let dir = tempfile::tempdir().unwrap();
    let data = temp_file(&dir, "labelled.jsonl", labelled_rows().as_bytes());
    let mut score = Command::new(env!("CARGO_BIN_EXE_faultmap"))
        .args(["score", data.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run faultmap score");
    let slices = Command::new(env!("CARGO_BIN_EXE_faultmap"))
        .args(["slices", "-", "--format", "json", "--min-slice-size", "5"])
        .stdin(score.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run faultmap slices");
    let scored = score.wait_with_output().unwrap();
    assert_eq!(scored.status.code(), Some(0), "{}", stderr(&scored));
    let out = slices.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["total_prompts"], 48);
    // Bad answers score low, so slices sees failures.
    assert!(report["total_failures"].as_u64().unwrap() > 0);
}
