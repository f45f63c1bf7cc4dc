//! End-to-end tests of `faultmap regress` on the demo runs made by `fixtures/make_regress.py`:
//! the gates (global, slice, case) and the margin, pairing (unmatched and duplicate ids, prompt
//! keys), baselines (record, check, versions, overwriting), every output format with JUnit
//! parsed back, `--prompts`, CSV and stdin input, determinism, and escaping of untrusted text.

use crate::common;

use common::{faultmap, faultmap_stdin, json, stderr, string_array};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BASELINE: &str = "fixtures/regress_baseline.jsonl";
/// Shipping drops from 40/45 to 18/45 passing; the other topics gain 22 passes in all.
const SLICE: &str = "fixtures/regress_candidate_slice.jsonl";
/// 9 pass->fail and 1 fail->pass flips.
const RERUN: &str = "fixtures/regress_rerun.jsonl";
/// 48 pass->fail and 8 fail->pass flips, 6 and 1 in each topic.
const DROP: &str = "fixtures/regress_candidate_drop.jsonl";
const SCORES_BASELINE: &str = "fixtures/regress_scores_baseline.jsonl";
const SCORES_CANDIDATE: &str = "fixtures/regress_scores_candidate.jsonl";
const LEAN_BASELINE: &str = "fixtures/regress_lean_baseline.jsonl";
const LEAN_CANDIDATE: &str = "fixtures/regress_lean_candidate.jsonl";
const PROMPTS: &str = "fixtures/regress_prompts.jsonl";
const REGRESSED_TOPIC: &str = "shipping";
const CASES: usize = 360;

/// `faultmap regress <args>`.
fn regress(args: &[&str]) -> Output {
    let mut all = vec!["regress"];
    all.extend(args);
    faultmap(&all)
}

/// `faultmap regress compare <a> <b> <extra>`.
fn compare(a: &str, b: &str, extra: &[&str]) -> Output {
    let mut args = vec!["compare", a, b];
    args.extend(extra);
    regress(&args)
}

fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit code {code}; stderr: {}\nstdout: {}",
        stderr(out),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `compare --format json`, asserting the exit code.
fn compare_json(a: &str, b: &str, extra: &[&str], code: i32) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend(extra);
    let out = compare(a, b, &args);
    assert_code(&out, code);
    json(&out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSONL line ({e}): {l}")))
        .collect()
}

fn rows(rel: &str) -> Vec<Value> {
    jsonl(&read(rel))
}

fn temp_file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

fn to_jsonl(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// Generator topic by case id.
fn topics() -> BTreeMap<String, String> {
    rows(BASELINE)
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["metadata"]["topic"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The id of the baseline case whose prompt carries untrusted text.
fn untrusted_id() -> String {
    rows(BASELINE)
        .iter()
        .find(|r| r["prompt"].as_str().unwrap().contains("<script>"))
        .map(|r| r["id"].as_str().unwrap().to_string())
        .unwrap()
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn slices_by_change<'a>(report: &'a Value, change: &str) -> Vec<&'a Value> {
    report["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["change"] == change)
        .collect()
}

/// Records `run` (with `extra` options) to `<dir>/<name>` and returns the path.
fn record(dir: &tempfile::TempDir, name: &str, run: &str, extra: &[&str]) -> String {
    let path = dir.path().join(name);
    let path = path.to_str().unwrap().to_string();
    let mut args = vec!["record", &path, run];
    args.extend(extra);
    let out = regress(&args);
    assert_code(&out, 0);
    path
}

// --- Gates and the margin -------------------------------------------------------------------

#[test]
fn one_regressed_topic_trips_the_slice_gate_while_the_whole_run_is_flat() {
    let report = compare_json(BASELINE, SLICE, &[], 1);
    assert_eq!(report["verdict"], "regression");
    assert_eq!(string_array(&report["gates_tripped"]), ["slice"]);
    assert_eq!(report["metric"], "pass_rate");
    assert_eq!(report["matched_by"], "id");
    assert_eq!(report["num_pairs"], CASES);
    let global = &report["global"];
    assert_ne!(global["change"], "regressed", "{global}");
    assert_eq!(global["change"], "unchanged");
    assert_eq!(global["pass_to_fail"], 22);
    assert_eq!(global["fail_to_pass"], 22);
    assert!(close(f(&global["baseline_pass_rate"]), 320.0 / 360.0));
    assert!(close(f(&global["candidate_pass_rate"]), 320.0 / 360.0));
    assert_eq!(f(&global["difference"]), 0.0);
    assert!(f(&global["p_worse"]) > 0.5, "{global}");

    // The regressed slices are shipping slices, much worse than the whole run.
    let topic_of = topics();
    let regressed = slices_by_change(&report, "regressed");
    assert!(!regressed.is_empty());
    assert_eq!(report["num_regressed_slices"], regressed.len());
    for s in &regressed {
        let keys = string_array(&s["regressed_cases"]);
        assert!(!keys.is_empty(), "{s}");
        assert!(
            keys.iter().all(|k| topic_of[k] == REGRESSED_TOPIC),
            "regressed slice {} holds cases of other topics: {keys:?}",
            s["name"]
        );
        assert!(f(&s["difference"]) < -0.3, "{s}");
        assert!(f(&s["ci"][1]) < -0.01, "{s}");
        assert!(f(&s["p_worse"]) <= 0.025, "{s}");
        assert!(f(&s["raw_p_worse"]) <= f(&s["p_worse"]), "{s}");
    }
    // Regressed slices come first in the report.
    assert_eq!(report["slices"][0]["change"], "regressed");
    // Every regressed case is a shipping case, and all 22 are reported.
    assert_eq!(report["num_regressed_cases"], 22);
    assert_eq!(report["num_improved_cases"], 22);
    let cases = report["regressed_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 22);
    for c in cases {
        assert_eq!(topic_of[c["key"].as_str().unwrap()], REGRESSED_TOPIC, "{c}");
        assert_eq!(c["baseline_pass"], true);
        assert_eq!(c["candidate_pass"], false);
        assert_eq!(f(&c["delta"]), -1.0);
    }

    // Only the global gate: the same findings, exit 0.
    let report = compare_json(BASELINE, SLICE, &["--fail-on", "global"], 0);
    assert_eq!(report["verdict"], "pass");
    assert_eq!(string_array(&report["gates_tripped"]), Vec::<String>::new());
    assert_eq!(report["num_regressed_slices"], regressed.len());
    assert_eq!(report["parameters"]["fail_on"]["slice"], false);
}

#[test]
fn group_by_slices_find_exactly_the_regressed_topic() {
    let report = compare_json(BASELINE, SLICE, &["--group-by", "metadata.topic"], 1);
    let groups: Vec<&Value> = report["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["source"] == "metadata.topic")
        .collect();
    assert_eq!(groups.len(), 8, "one slice per topic");
    for s in groups {
        let topic = s["value"].as_str().unwrap();
        assert_eq!(s["name"], format!("metadata.topic = {topic}"));
        assert_eq!(s["pairs"], 45);
        if topic == REGRESSED_TOPIC {
            assert_eq!(s["change"], "regressed", "{s}");
            assert_eq!(s["pass_to_fail"], 22);
            assert_eq!(s["fail_to_pass"], 0);
            assert!(close(f(&s["baseline_pass_rate"]), 40.0 / 45.0));
            assert!(close(f(&s["candidate_pass_rate"]), 18.0 / 45.0));
            assert!(close(f(&s["difference"]), -22.0 / 45.0));
            assert_eq!(string_array(&s["regressed_cases"]).len(), 22);
        } else {
            assert_ne!(s["change"], "regressed", "{s}");
            assert_eq!(s["pass_to_fail"], 0);
            assert!(f(&s["difference"]) > 0.0);
        }
    }
    assert_ne!(report["global"]["change"], "regressed");
}

#[test]
fn the_margin_keeps_a_noisy_rerun_from_failing() {
    let report = compare_json(BASELINE, RERUN, &[], 0);
    assert_eq!(report["verdict"], "pass");
    assert_eq!(string_array(&report["gates_tripped"]), Vec::<String>::new());
    let global = &report["global"];
    assert_eq!(global["pass_to_fail"], 9);
    assert_eq!(global["fail_to_pass"], 1);
    assert!(close(f(&global["difference"]), -8.0 / 360.0));
    assert_eq!(global["change"], "unchanged");
    // The interval reaches above -margin, so the test cannot reject.
    assert!(f(&global["ci"][1]) > -0.01, "{global}");
    assert!(f(&global["ci"][0]) < -0.022, "{global}");
    assert!(f(&global["p_worse"]) > 0.025, "{global}");
    assert_eq!(report["num_regressed_slices"], 0);
    assert_eq!(report["parameters"]["margin"], 0.01);
    assert_eq!(report["parameters"]["alpha"], 0.025);
    assert!(close(f(&report["parameters"]["confidence"]), 0.95));

    // Without a margin the same rerun fails: 9 of 10 discordant pairs went down
    // (exact McNemar, one-sided p = 11/1024).
    let report = compare_json(BASELINE, RERUN, &["--margin", "0"], 1);
    assert_eq!(string_array(&report["gates_tripped"]), ["global"]);
    let test = &report["global"]["pass_rate_test"];
    assert_eq!(test["test"], "mcnemar_exact");
    assert!((f(&test["p_worse"]) - 11.0 / 1024.0).abs() < 1e-9, "{test}");
}

#[test]
fn a_real_drop_fails_and_a_large_margin_lets_it_pass() {
    let report = compare_json(BASELINE, DROP, &[], 1);
    assert!(string_array(&report["gates_tripped"]).contains(&"global".to_string()));
    let global = &report["global"];
    assert_eq!(global["change"], "regressed");
    assert_eq!(global["pass_to_fail"], 48);
    assert_eq!(global["fail_to_pass"], 8);
    assert!(close(f(&global["candidate_pass_rate"]), 280.0 / 360.0));
    assert!(close(f(&global["difference"]), -40.0 / 360.0));
    assert!(f(&global["ci"][1]) < -0.05, "{global}");
    assert!(f(&global["ci"][0]) > -0.2, "{global}");
    assert!(f(&global["p_worse"]) < 1e-4, "{global}");

    let report = compare_json(BASELINE, DROP, &["--margin", "0.3"], 0);
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["global"]["change"], "unchanged");
    assert!(f(&report["global"]["p_worse"]) > 0.5);
    assert_eq!(report["num_regressed_slices"], 0);
    // The margin moves the test, not the estimate.
    assert!(close(f(&report["global"]["difference"]), -40.0 / 360.0));
}

#[test]
fn the_test_and_the_interval_agree() {
    // Regressed at one-sided alpha exactly when the 1 - 2 alpha interval lies below -margin
    // (raw p-values: the interval is not adjusted for multiplicity).
    for candidate in [SLICE, RERUN, DROP] {
        let report = compare_json(BASELINE, candidate, &["--fail-on", "none"], 0);
        let mut checked = 0;
        let mut all = vec![(report["global"].clone(), f(&report["global"]["p_worse"]))];
        for s in report["slices"].as_array().unwrap() {
            all.push((s.clone(), f(&s["raw_p_worse"])));
        }
        for (c, p) in all {
            if (p - 0.025).abs() < 2e-3 {
                continue; // too close to call
            }
            assert_eq!(
                p <= 0.025,
                f(&c["ci"][1]) < -0.01,
                "{candidate}: p_worse {p} vs interval {} in {c}",
                c["ci"]
            );
            checked += 1;
        }
        assert!(checked >= 5);
    }
}

#[test]
fn continuous_scores_gate_on_the_mean_score() {
    let report = compare_json(SCORES_BASELINE, SCORES_CANDIDATE, &[], 1);
    assert_eq!(report["metric"], "mean_score");
    assert!(string_array(&report["gates_tripped"]).contains(&"global".to_string()));
    // The mean difference, from the files.
    let score = |rel: &str| -> BTreeMap<String, f64> {
        rows(rel)
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_string(), f(&r["score"])))
            .collect()
    };
    let (a, b) = (score(SCORES_BASELINE), score(SCORES_CANDIDATE));
    let expected = a.iter().map(|(id, x)| b[id] - x).sum::<f64>() / a.len() as f64;
    let global = &report["global"];
    let test = &global["mean_score_test"];
    assert!(
        (f(&test["mean_difference"]) - expected).abs() < 1e-9,
        "{test}"
    );
    assert!((f(&global["difference"]) - expected).abs() < 1e-9);
    assert!(expected < -0.05 && expected > -0.08, "{expected}");
    assert_eq!(global["change"], "regressed");
    let ci = [f(&global["ci"][0]), f(&global["ci"][1])];
    assert!(ci[0] < expected && expected < ci[1], "{ci:?}");
    assert!(ci[1] < -0.01, "{ci:?}");
    assert!(f(&global["p_worse"]) < 0.001);
    assert_eq!(test["resamples"], 10_000);
    let mean = |m: &BTreeMap<String, f64>| m.values().sum::<f64>() / m.len() as f64;
    assert!((f(&global["baseline_mean_score"]) - mean(&a)).abs() < 1e-9);
    assert!((f(&global["candidate_mean_score"]) - mean(&b)).abs() < 1e-9);

    // A margin wider than the drop: no regression.
    let report = compare_json(SCORES_BASELINE, SCORES_CANDIDATE, &["--margin", "0.1"], 0);
    assert_eq!(report["global"]["change"], "unchanged");
    assert_eq!(report["num_regressed_slices"], 0);

    // The pass rate can be chosen instead: 13 cases crossed 0.5 downwards.
    let report = compare_json(
        SCORES_BASELINE,
        SCORES_CANDIDATE,
        &["--metric", "pass-rate", "--fail-on", "none"],
        0,
    );
    assert_eq!(report["metric"], "pass_rate");
    assert_eq!(report["global"]["pass_to_fail"], 13);
    assert!(close(f(&report["global"]["difference"]), -13.0 / 360.0));
}

#[test]
fn metric_score_on_label_only_data_is_a_usage_error() {
    let out = compare(
        LEAN_BASELINE,
        LEAN_CANDIDATE,
        &[
            "--prompts",
            PROMPTS,
            "--metric",
            "score",
            "--format",
            "json",
        ],
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("--metric score needs a score"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn fail_on_case_trips_on_any_regressed_case() {
    let report = compare_json(BASELINE, RERUN, &["--fail-on", "case"], 1);
    assert_eq!(string_array(&report["gates_tripped"]), ["case"]);
    assert_eq!(report["num_regressed_cases"], 9);
    assert_eq!(report["regressed_cases"].as_array().unwrap().len(), 9);
    assert_eq!(report["num_improved_cases"], 1);
    let report = compare_json(BASELINE, RERUN, &["--fail-on", "global,slice,case"], 1);
    assert_eq!(string_array(&report["gates_tripped"]), ["case"]);
    // All three gates at once on the slice candidate.
    let report = compare_json(BASELINE, SLICE, &["--fail-on", "global,slice,case"], 1);
    assert_eq!(string_array(&report["gates_tripped"]), ["slice", "case"]);

    // `none` reports only; combined with a gate it is a usage error.
    let report = compare_json(BASELINE, SLICE, &["--fail-on", "none"], 0);
    assert_eq!(report["verdict"], "pass");
    assert!(report["num_regressed_slices"].as_u64().unwrap() >= 1);
    let out = compare(BASELINE, SLICE, &["--fail-on", "none,global"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--fail-on none"), "{}", stderr(&out));
}

// --- Pairing --------------------------------------------------------------------------------

#[test]
fn unmatched_ids_are_reported_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let baseline_ids: Vec<String> = rows(BASELINE)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let removed: BTreeSet<&str> = ["case-0003", "case-0100", "case-0250"].into();
    let mut candidate: Vec<Value> = rows(SLICE)
        .into_iter()
        .filter(|r| !removed.contains(r["id"].as_str().unwrap()))
        .collect();
    // Two new cases, at known rows.
    candidate.insert(
        5,
        serde_json::json!({"id": "new-1", "prompt": "Can I pay with a gift card?", "score": 1.0}),
    );
    candidate.push(
        serde_json::json!({"id": "new-2", "prompt": "Do you ship to Reykjavik?", "score": 0.0}),
    );
    let path = temp_file(&dir, "candidate.jsonl", to_jsonl(&candidate).as_bytes());

    let out = compare(BASELINE, &path, &["--format", "json"]);
    assert_code(&out, 1); // the shipping slice still regresses
    let report = json(&out);
    assert_eq!(report["num_pairs"], CASES - 3);
    assert_eq!(report["global"]["pairs"], CASES - 3);
    let only_b = report["only_in_baseline"].as_array().unwrap();
    let expected_b: Vec<&str> = baseline_ids
        .iter()
        .map(String::as_str)
        .filter(|id| removed.contains(id))
        .collect();
    assert_eq!(
        only_b
            .iter()
            .map(|u| u["key"].as_str().unwrap())
            .collect::<Vec<_>>(),
        expected_b
    );
    // Rows are 0-based data rows of the baseline file.
    for u in only_b {
        let row = u["row"].as_u64().unwrap() as usize;
        assert_eq!(baseline_ids[row], u["key"].as_str().unwrap());
    }
    let only_c = report["only_in_candidate"].as_array().unwrap();
    assert_eq!(only_c.len(), 2);
    assert_eq!(only_c[0]["key"], "new-1");
    assert_eq!(only_c[0]["row"], 5);
    assert_eq!(only_c[1]["key"], "new-2");
    assert_eq!(only_c[1]["row"], candidate.len() - 1);
    let err = stderr(&out);
    assert!(err.contains("3 cases only in the baseline run"), "{err}");
    assert!(err.contains("2 cases only in the candidate run"), "{err}");

    // JSONL: one line per pair, then one per unmatched case.
    let out = compare(BASELINE, &path, &["--format", "jsonl"]);
    assert_code(&out, 1);
    let lines = jsonl(&stdout(&out));
    assert_eq!(lines.len(), CASES - 3 + 3 + 2);
    let unmatched: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l.get("only_in").is_some())
        .map(|l| {
            (
                l["key"].as_str().unwrap().to_string(),
                l["only_in"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String)> = expected_b
        .iter()
        .map(|k| (k.to_string(), "baseline".to_string()))
        .collect();
    expected.push(("new-1".into(), "candidate".into()));
    expected.push(("new-2".into(), "candidate".into()));
    assert_eq!(unmatched, expected);
    // Pair lines are in baseline order and carry both rows.
    let pairs: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("only_in").is_none())
        .collect();
    let keys: Vec<&str> = pairs.iter().map(|l| l["key"].as_str().unwrap()).collect();
    let expected_keys: Vec<&str> = baseline_ids
        .iter()
        .map(String::as_str)
        .filter(|id| !removed.contains(id))
        .collect();
    assert_eq!(keys, expected_keys);
    for l in &pairs {
        let c = l["candidate_row"].as_u64().unwrap() as usize;
        assert_eq!(candidate[c]["id"], l["key"]);
    }

    // The same through a recorded baseline: baseline cases have no row there.
    let baseline = record(&dir, "baseline.json", BASELINE, &["--quiet"]);
    let out = regress(&["check", &baseline, &path, "--format", "json"]);
    assert_code(&out, 1);
    let report = json(&out);
    let keys: Vec<&str> = report["only_in_baseline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert!(u.get("row").is_none(), "{u}");
            u["key"].as_str().unwrap()
        })
        .collect();
    assert_eq!(keys, expected_b);
    assert_eq!(report["only_in_candidate"].as_array().unwrap().len(), 2);
    assert!(stderr(&out).contains("3 cases only in the baseline run"));
}

#[test]
fn duplicate_ids_exit_2_naming_the_id_and_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = read(SLICE).lines().map(String::from).collect();
    let dup_id = jsonl(&lines[4])[0]["id"].as_str().unwrap().to_string();
    lines.push(lines[4].clone());
    let path = temp_file(&dir, "dup.jsonl", (lines.join("\n") + "\n").as_bytes());
    let out = compare(BASELINE, &path, &["--format", "json"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains(&format!("`{dup_id}`")), "{err}");
    assert!(err.contains("lines 5 and 361"), "{err}");
    assert!(err.contains("dup.jsonl"), "{err}");
    assert!(err.contains("duplicate id"), "{err}");
    assert!(out.stdout.is_empty());

    // In the baseline: compare and record both refuse it.
    let out = compare(&path, BASELINE, &[]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("lines 5 and 361"), "{}", stderr(&out));
    let target = dir.path().join("b.json");
    let out = regress(&["record", target.to_str().unwrap(), &path]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains(&format!("`{dup_id}`")));
    assert!(!target.exists());
}

#[test]
fn runs_without_ids_pair_by_prompt_and_a_mix_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let strip = |rel: &str| -> Vec<Value> {
        rows(rel)
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("id");
                r
            })
            .collect()
    };
    let a = temp_file(&dir, "a.jsonl", to_jsonl(&strip(BASELINE)).as_bytes());
    let b = temp_file(&dir, "b.jsonl", to_jsonl(&strip(SLICE)).as_bytes());
    let by_prompt = compare_json(&a, &b, &[], 1);
    let by_id = compare_json(BASELINE, SLICE, &[], 1);
    assert_eq!(by_prompt["matched_by"], "prompt");
    assert_eq!(by_prompt["num_pairs"], CASES);
    assert_eq!(by_prompt["global"], by_id["global"]);
    assert_eq!(by_prompt["gates_tripped"], by_id["gates_tripped"]);

    // One run with ids, one without: no silent pairing by prompt.
    let out = compare(BASELINE, &b, &[]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("expected an id on every row"), "{err}");
    assert!(err.contains("b.jsonl:1"), "{err}");

    // A baseline keyed by id needs ids on the candidate.
    let baseline = record(&dir, "baseline.json", BASELINE, &["--quiet"]);
    let out = regress(&["check", &baseline, &b]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("id"), "{}", stderr(&out));
}

// --- JUnit ----------------------------------------------------------------------------------

/// A parsed JUnit report: per suite name, (tests, failures, testcases).
struct Junit {
    tests: usize,
    failures: usize,
    suites: BTreeMap<String, Suite>,
}

struct Suite {
    tests: usize,
    failures: usize,
    /// (name, failure message, failure text, system-out) per testcase.
    cases: Vec<TestCase>,
}

struct TestCase {
    name: String,
    failure: Option<(String, String)>,
    system_out: Option<String>,
}

fn attr_usize(node: roxmltree::Node, name: &str) -> usize {
    node.attribute(name)
        .unwrap_or_else(|| panic!("no {name} on {node:?}"))
        .parse()
        .unwrap()
}

fn parse_junit(text: &str) -> Junit {
    let doc = roxmltree::Document::parse(text)
        .unwrap_or_else(|e| panic!("JUnit is not well-formed XML ({e}):\n{text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let mut suites = BTreeMap::new();
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let cases: Vec<TestCase> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|tc| {
                let failure = tc.children().find(|n| n.has_tag_name("failure")).map(|f| {
                    assert_eq!(f.attribute("type"), Some("regression"));
                    (
                        f.attribute("message").unwrap().to_string(),
                        f.text().unwrap_or("").to_string(),
                    )
                });
                let system_out = tc
                    .children()
                    .find(|n| n.has_tag_name("system-out"))
                    .map(|n| n.text().unwrap_or("").to_string());
                TestCase {
                    name: tc.attribute("name").unwrap().to_string(),
                    failure,
                    system_out,
                }
            })
            .collect();
        let s = Suite {
            tests: attr_usize(suite, "tests"),
            failures: attr_usize(suite, "failures"),
            cases,
        };
        assert_eq!(s.tests, s.cases.len(), "tests attribute of a suite");
        assert_eq!(
            s.failures,
            s.cases.iter().filter(|c| c.failure.is_some()).count(),
            "failures attribute of a suite"
        );
        suites.insert(suite.attribute("name").unwrap().to_string(), s);
    }
    Junit {
        tests: attr_usize(root, "tests"),
        failures: attr_usize(root, "failures"),
        suites,
    }
}

const WHOLE: &str = "faultmap regress: whole run";
const SLICES: &str = "faultmap regress: slices";
const CASE_SUITE: &str = "faultmap regress: cases";

/// `compare a b --format json --junit <tmp> <extra>`: the JSON report and the parsed JUnit.
fn compare_junit(a: &str, b: &str, extra: &[&str], code: i32) -> (Value, Junit, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    let mut args = vec!["--junit", path.to_str().unwrap()];
    args.extend(extra);
    let report = compare_json(a, b, &args, code);
    let text = std::fs::read_to_string(&path).unwrap();
    (report, parse_junit(&text), text)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

#[test]
fn junit_failures_are_exactly_the_gating_regressions() {
    let (report, junit, _) = compare_junit(BASELINE, SLICE, &[], 1);
    let num_slices = report["num_slices_tested"].as_u64().unwrap() as usize;
    let regressed = slices_by_change(&report, "regressed");
    assert_eq!(junit.tests, 1 + num_slices + CASES);
    assert_eq!(junit.failures, regressed.len());
    assert_eq!(junit.suites.len(), 3);
    let whole = &junit.suites[WHOLE];
    assert_eq!(whole.tests, 1);
    assert_eq!(whole.failures, 0);
    assert_eq!(whole.cases[0].name, "whole run");
    assert!(whole.cases[0].system_out.is_none());

    let slices = &junit.suites[SLICES];
    assert_eq!(slices.tests, num_slices);
    assert_eq!(slices.failures, regressed.len());
    // Same names, same order as the JSON report.
    let names: Vec<&str> = slices.cases.iter().map(|c| c.name.as_str()).collect();
    let json_names: Vec<&str> = report["slices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, json_names);
    for (tc, s) in slices
        .cases
        .iter()
        .zip(report["slices"].as_array().unwrap())
    {
        assert_eq!(
            tc.failure.is_some(),
            s["change"] == "regressed",
            "{}",
            tc.name
        );
        if let Some((message, text)) = &tc.failure {
            // The numbers of the slice, as in the JSON report.
            for needle in [
                format!(
                    "pass rate {} → {}",
                    pct(f(&s["baseline_pass_rate"])),
                    pct(f(&s["candidate_pass_rate"]))
                ),
                format!("{:+.1} pts", 100.0 * f(&s["difference"])),
                format!("{} pairs", s["pairs"]),
                format!("{} pass→fail", s["pass_to_fail"]),
                format!("{} fail→pass", s["fail_to_pass"]),
                "95% CI".to_string(),
                "p(worse)".to_string(),
            ] {
                assert!(message.contains(&needle), "{needle:?} not in {message:?}");
            }
            assert!(text.starts_with(message.as_str()), "{text}");
            for key in string_array(&s["regressed_cases"]) {
                assert!(text.contains(&key), "{key} not in {text}");
            }
        }
    }

    // Cases: 22 regressed, not a gate: reported in system-out, never as failures.
    let cases = &junit.suites[CASE_SUITE];
    assert_eq!(cases.tests, CASES);
    assert_eq!(cases.failures, 0);
    let reported: BTreeSet<&str> = cases
        .cases
        .iter()
        .filter(|c| c.system_out.is_some())
        .map(|c| c.name.as_str())
        .collect();
    let regressed_keys: Vec<String> = report["regressed_cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reported.len(), 22);
    assert_eq!(
        reported,
        regressed_keys
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    );
    for c in cases.cases.iter().filter(|c| c.system_out.is_some()) {
        let out = c.system_out.as_ref().unwrap();
        assert!(out.contains("not a gate under --fail-on"), "{out}");
        assert!(
            out.contains("baseline 1.000 (pass) -> candidate 0.000 (fail) (delta -1.000)"),
            "{out}"
        );
    }
}

#[test]
fn junit_follows_the_fail_on_policy() {
    // Only the global gate: the regressed slice is no failure but is still reported.
    let (report, junit, _) = compare_junit(BASELINE, SLICE, &["--fail-on", "global"], 0);
    assert_eq!(junit.failures, 0);
    let regressed = slices_by_change(&report, "regressed");
    let slices = &junit.suites[SLICES];
    assert_eq!(slices.failures, 0);
    assert_eq!(
        slices
            .cases
            .iter()
            .filter(|c| c.system_out.is_some())
            .count(),
        regressed.len()
    );

    // The case gate: one failure per regressed case, with its outcomes.
    let (report, junit, _) = compare_junit(BASELINE, RERUN, &["--fail-on", "case"], 1);
    assert_eq!(report["num_regressed_cases"], 9);
    assert_eq!(junit.failures, 9);
    let cases = &junit.suites[CASE_SUITE];
    assert_eq!(cases.failures, 9);
    for c in cases.cases.iter().filter(|c| c.failure.is_some()) {
        let (message, text) = c.failure.as_ref().unwrap();
        assert_eq!(
            message,
            "baseline 1.000 (pass) -> candidate 0.000 (fail) (delta -1.000)"
        );
        assert!(text.contains("\nprompt: "), "{text}");
    }
    assert_eq!(junit.suites[WHOLE].failures, 0);

    // A global drop: the whole-run test case fails with the run's numbers.
    let (report, junit, _) = compare_junit(BASELINE, DROP, &[], 1);
    let whole = &junit.suites[WHOLE];
    assert_eq!(whole.failures, 1);
    let (message, _) = whole.cases[0].failure.as_ref().unwrap();
    assert!(
        message.starts_with("pass rate 88.9% → 77.8% (-11.1 pts, 95% CI ["),
        "{message}"
    );
    assert!(
        message.contains("360 pairs, 48 pass→fail, 8 fail→pass"),
        "{message}"
    );
    let ci = &report["global"]["ci"];
    let ci_text = format!("[{:+.1}, {:+.1}]", 100.0 * f(&ci[0]), 100.0 * f(&ci[1]));
    assert!(message.contains(&ci_text), "{ci_text} not in {message}");
    assert_eq!(
        junit.failures,
        1 + slices_by_change(&report, "regressed").len()
    );

    // A pass: no failures at all.
    let (_, junit, _) = compare_junit(BASELINE, RERUN, &[], 0);
    assert_eq!(junit.failures, 0);
}

#[test]
fn junit_stays_well_formed_with_hostile_ids_and_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let evil_id = "evil<id>&\"quote\" 'apos' \u{1}\u{1b}[31m";
    let untrusted = untrusted_id();
    let rename = |rel: &str| -> Vec<Value> {
        rows(rel)
            .into_iter()
            .map(|mut r| {
                if r["id"] == untrusted.as_str() {
                    r["id"] = Value::from(evil_id);
                }
                r
            })
            .collect()
    };
    let a = temp_file(&dir, "a.jsonl", to_jsonl(&rename(BASELINE)).as_bytes());
    let b = temp_file(&dir, "b.jsonl", to_jsonl(&rename(SLICE)).as_bytes());
    let (_, junit, text) = compare_junit(&a, &b, &["--fail-on", "case"], 1);
    // No raw control character other than newlines made it into the file.
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters in the JUnit file"
    );
    let cases = &junit.suites[CASE_SUITE];
    let evil = cases
        .cases
        .iter()
        .find(|c| c.name.starts_with("evil<id>"))
        .expect("the hostile id is a test case name");
    assert_eq!(evil.name, "evil<id>&\"quote\" 'apos' \\u{1}\\u{1b}[31m");
    let (_, body) = evil.failure.as_ref().expect("the hostile case regressed");
    assert!(
        body.contains("prompt: Where is my parcel to Lyon? <script>alert('x')</script> & the tracking page shows \\u{1b}[31mDELAYED\\u{1b}[0m\\u{7} | **three weeks**"),
        "{body}"
    );
    assert_eq!(cases.failures, 22);
}

// --- Baselines ------------------------------------------------------------------------------

#[test]
fn record_then_check_equals_compare() {
    let dir = tempfile::tempdir().unwrap();
    for (base, candidate, code) in [
        (BASELINE, SLICE, 1),
        (BASELINE, RERUN, 0),
        (BASELINE, DROP, 1),
        (SCORES_BASELINE, SCORES_CANDIDATE, 1),
    ] {
        let baseline = record(&dir, "baseline.json", base, &["--force", "--quiet"]);
        let out = regress(&["check", &baseline, candidate, "--format", "json"]);
        assert_code(&out, code);
        let checked = json(&out);
        let compared = compare_json(base, candidate, &[], code);
        for field in [
            "verdict",
            "gates_tripped",
            "metric",
            "matched_by",
            "num_pairs",
            "global",
            "num_slices_tested",
            "num_slices_untested",
            "num_regressed_slices",
            "num_improved_slices",
            "slices",
            "num_regressed_cases",
            "num_improved_cases",
        ] {
            assert_eq!(
                checked[field], compared[field],
                "{base} vs {candidate}: `{field}` differs between check and compare"
            );
        }
        let keys = |r: &Value| -> Vec<String> {
            r["regressed_cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["key"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(&checked), keys(&compared));
        assert_eq!(checked["baseline"]["source"], baseline.as_str());
        assert_eq!(checked["baseline"]["cases"], CASES);
        assert_eq!(
            checked["parameters"]["slicing"],
            compared["parameters"]["slicing"]
        );
    }
}

#[test]
fn the_baseline_file_holds_cases_and_slices() {
    let dir = tempfile::tempdir().unwrap();
    let out = regress(&[
        "record",
        dir.path().join("b.json").to_str().unwrap(),
        BASELINE,
        "--group-by",
        "metadata.topic",
    ]);
    assert_code(&out, 0);
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("recorded 360 cases in"), "{err}");
    let baseline: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("b.json")).unwrap()).unwrap();
    assert_eq!(baseline["format"], "faultmap-regress-baseline");
    assert_eq!(baseline["format_version"], 1);
    assert_eq!(baseline["key"], "id");
    assert_eq!(baseline["source"], BASELINE);
    let cases = baseline["cases"].as_array().unwrap();
    assert_eq!(cases.len(), CASES);
    let input = rows(BASELINE);
    for (c, r) in cases.iter().zip(&input) {
        assert_eq!(c["id"], r["id"]);
        assert_eq!(c["prompt"], r["prompt"]);
        assert_eq!(c["score"], r["score"]);
        assert_eq!(c["pass"], f(&r["score"]) >= 0.5);
    }
    // Each topic's group-by slice holds exactly that topic's cases.
    let slices = baseline["slices"].as_array().unwrap();
    for (s, slice) in slices.iter().enumerate() {
        if slice["source"] != "metadata.topic" {
            continue;
        }
        let members: Vec<&Value> = cases
            .iter()
            .zip(&input)
            .filter(|(c, _)| {
                c["slices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x.as_u64() == Some(s as u64))
            })
            .map(|(_, r)| r)
            .collect();
        assert_eq!(members.len(), 45);
        assert!(members
            .iter()
            .all(|r| r["metadata"]["topic"] == slice["value"]));
    }
    assert_eq!(
        slices
            .iter()
            .filter(|s| s["source"] == "metadata.topic")
            .count(),
        8
    );
    // The regression scan's graph: each case's 15 nearest other cases.
    let graph = &baseline["scan_graph"];
    assert_eq!(graph["neighbours"], 15);
    let lists = graph["lists"].as_array().unwrap();
    assert_eq!(lists.len(), CASES);
    for (i, list) in lists.iter().enumerate() {
        let list: Vec<u64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(list.len(), 15);
        assert!(list.iter().all(|&j| j != i as u64 && j < CASES as u64));
    }
    assert!(graph.get("unit_rows").is_none());
}

#[test]
fn unsupported_or_foreign_baselines_exit_2_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = record(&dir, "baseline.json", BASELINE, &["--quiet"]);
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    value["format_version"] = Value::from(2);
    let v2 = temp_file(&dir, "v2.json", value.to_string().as_bytes());
    let out = regress(&["check", &v2, RERUN]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("v2.json"), "{err}");
    assert!(err.contains("format version 2 is not supported"), "{err}");
    assert!(err.contains("reads version 1"), "{err}");
    assert!(err.contains("faultmap regress record"), "{err}");
    assert!(out.stdout.is_empty());

    // Another tool's JSON (here: a slices report).
    let out = faultmap(&["slices", BASELINE, "--format", "json"]);
    assert_code(&out, 0);
    let foreign = temp_file(&dir, "slices.json", &out.stdout);
    let out = regress(&["check", &foreign, RERUN]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("expected a faultmap baseline written by `faultmap regress record`"),
        "{err}"
    );
    assert!(err.contains("slices.json"), "{err}");

    // A different `format` is named.
    let other = temp_file(&dir, "other.json", br#"{"format": "something-else"}"#);
    let out = regress(&["check", &other, RERUN]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("found format `something-else`"),
        "{}",
        stderr(&out)
    );

    // A run file in place of the baseline.
    let out = regress(&["check", BASELINE, RERUN]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("this looks like a run file"),
        "{}",
        stderr(&out)
    );

    // A missing file.
    let out = regress(&["check", "fixtures/no_such_baseline.json", RERUN]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("no_such_baseline.json"));

    // A scan graph that names a case that does not exist, or lists too few neighbours.
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    value["scan_graph"]["lists"][7][3] = Value::from(CASES + 5);
    let bad = temp_file(&dir, "bad_graph.json", value.to_string().as_bytes());
    let out = regress(&["check", &bad, RERUN]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("bad_graph.json") && err.contains("scan_graph"),
        "{err}"
    );
    assert!(err.contains("unit 7 lists neighbour 365"), "{err}");
    value["scan_graph"]["lists"][7] = Value::from(vec![1, 2]);
    let short = temp_file(&dir, "short_graph.json", value.to_string().as_bytes());
    let out = regress(&["check", &short, RERUN]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("unit 7 has 2 neighbours, expected 15"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_regression_scan_finds_a_topic_no_fixed_slice_isolates() {
    // Two k-means clusters: the regressed shipping topic is diluted in one of them.
    let coarse = ["--clustering", "kmeans", "--k", "2"];
    let report = compare_json(BASELINE, SLICE, &coarse, 1);
    assert_eq!(string_array(&report["gates_tripped"]), ["slice"]);
    assert_eq!(report["parameters"]["regression_scan"]["ran"], true);
    assert_eq!(report["parameters"]["regression_scan"]["neighbours"], 15);
    let regressed = slices_by_change(&report, "regressed");
    assert_eq!(regressed.len(), 1, "{regressed:?}");
    let region = regressed[0];
    assert_eq!(region["source"], "scan");
    assert!(region["name"]
        .as_str()
        .unwrap()
        .starts_with("regression scan: "));
    let topic_of = topics();
    let keys = string_array(&region["regressed_cases"]);
    // most of the 22 regressed cases, and no case of another topic
    assert!(keys.len() >= 18, "{keys:?}");
    assert!(
        keys.iter().all(|k| topic_of[k] == REGRESSED_TOPIC),
        "{keys:?}"
    );
    // its p-value is the larger of the scan's and its own test's, within the scan's share
    assert!(f(&region["raw_p_worse"]) <= f(&region["p_worse"]));
    assert!(f(&region["p_worse"]) <= f(&report["parameters"]["regression_scan"]["alpha"]));
    assert!(close(
        f(&report["parameters"]["regression_scan"]["alpha"]),
        0.0025
    ));

    // Without the scan, the fixed slices miss it and the run passes.
    let mut off = coarse.to_vec();
    off.push("--no-scan");
    let report = compare_json(BASELINE, SLICE, &off, 0);
    assert_eq!(report["parameters"]["regression_scan"]["ran"], false);
    assert!(slices_by_change(&report, "regressed").is_empty());

    // A rerun with no change has no scan region.
    let report = compare_json(BASELINE, RERUN, &[], 0);
    assert!(report["slices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["source"] != "scan" || s["change"] != "regressed"));
}

#[test]
fn a_baseline_recorded_without_the_scan_is_checked_without_it_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = record(&dir, "b.json", BASELINE, &["--quiet", "--no-scan"]);
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert!(value.get("scan_graph").is_none());
    let out = regress(&["check", &baseline, SLICE, "--format", "json"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("has no neighbour graph"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["parameters"]["regression_scan"]["ran"], false);
    // --no-scan on check skips it quietly, also with a graph
    let with_graph = record(&dir, "g.json", BASELINE, &["--quiet"]);
    let out = regress(&["check", &with_graph, SLICE, "--no-scan", "--format", "json"]);
    assert_code(&out, 1);
    assert!(
        !stderr(&out).contains("neighbour graph"),
        "{}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["parameters"]["regression_scan"]["ran"], false);
}

#[test]
fn record_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(&dir, "baseline.json", b"keep me\n");
    let out = regress(&["record", &path, BASELINE]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("--force"), "{err}");
    assert!(err.contains("baseline.json"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me\n");

    let out = regress(&["record", &path, BASELINE, "--force"]);
    assert_code(&out, 0);
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(value["format"], "faultmap-regress-baseline");
}

// --- Determinism and input ------------------------------------------------------------------

#[test]
fn json_is_byte_identical_across_runs_and_thread_counts() {
    for (a, b) in [(BASELINE, SLICE), (SCORES_BASELINE, SCORES_CANDIDATE)] {
        let args = ["regress", "compare", a, b, "--format", "json"];
        let first = faultmap(&args);
        assert_code(&first, 1);
        let second = faultmap(&args);
        assert_eq!(first.stdout, second.stdout);
        let one_thread = Command::new(env!("CARGO_BIN_EXE_faultmap"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .unwrap();
        assert_code(&one_thread, 1);
        assert!(
            first.stdout == one_thread.stdout,
            "{a} vs {b}: JSON differs with RAYON_NUM_THREADS=1"
        );
    }
    // Baselines too.
    let dir = tempfile::tempdir().unwrap();
    let x = record(&dir, "x.json", BASELINE, &["--quiet"]);
    let y = record(&dir, "y.json", BASELINE, &["--quiet"]);
    assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
}

/// The report without the fields that name the input.
fn without_sources(mut report: Value) -> Value {
    for side in ["baseline", "candidate"] {
        report[side].as_object_mut().unwrap().remove("source");
    }
    report
}

#[test]
fn either_side_can_come_from_stdin() {
    let from_files = compare_json(BASELINE, SLICE, &[], 1);
    let out = faultmap_stdin(
        &["regress", "compare", BASELINE, "-", "--format", "json"],
        read(SLICE).as_bytes(),
    );
    assert_code(&out, 1);
    let from_stdin = json(&out);
    assert_eq!(
        without_sources(from_stdin),
        without_sources(from_files.clone())
    );
    let out = faultmap_stdin(
        &["regress", "compare", "-", SLICE, "--format", "json"],
        read(BASELINE).as_bytes(),
    );
    assert_code(&out, 1);
    assert_eq!(without_sources(json(&out)), without_sources(from_files));

    // check and record read stdin too.
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.json");
    let out = faultmap_stdin(
        &["regress", "record", baseline.to_str().unwrap(), "-"],
        read(BASELINE).as_bytes(),
    );
    assert_code(&out, 0);
    let out = faultmap_stdin(
        &[
            "regress",
            "check",
            baseline.to_str().unwrap(),
            "-",
            "--format",
            "json",
        ],
        read(RERUN).as_bytes(),
    );
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["global"]["pass_to_fail"], 9);
}

#[test]
fn both_sides_from_stdin_is_a_usage_error() {
    let out = faultmap_stdin(&["regress", "compare", "-", "-"], read(BASELINE).as_bytes());
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("only one of the two runs can come from stdin"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    // A baseline is a file.
    let out = faultmap_stdin(&["regress", "check", "-", RERUN], read(BASELINE).as_bytes());
    assert_code(&out, 2);
    assert!(stderr(&out).contains("faultmap regress record"));
}

#[test]
fn prompts_file_joins_prompt_text_and_groups_by_id() {
    let extra = ["--group-by", "metadata.topic"];
    // The full runs' 0/1 scores add mean-score figures that labels cannot have.
    let full = without_mean_scores(compare_json(BASELINE, SLICE, &extra, 1));
    let out = compare(
        LEAN_BASELINE,
        LEAN_CANDIDATE,
        &[
            "--prompts",
            PROMPTS,
            "--group-by",
            "metadata.topic",
            "--format",
            "json",
        ],
    );
    assert_code(&out, 1);
    // The topic is in the prompts file only: no warning that the runs lack it.
    assert!(!stderr(&out).contains("not found"), "{}", stderr(&out));
    let lean = json(&out);
    assert!(lean["global"].get("mean_score_test").is_none());
    for field in [
        "verdict",
        "gates_tripped",
        "metric",
        "num_pairs",
        "global",
        "slices",
        "num_regressed_cases",
    ] {
        assert_eq!(lean[field], full[field], "`{field}` differs with --prompts");
    }
    assert!(lean["slices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "metadata.topic = shipping" && s["change"] == "regressed"));

    // Without --prompts: a clear error naming the file, line and the option.
    let out = compare(LEAN_BASELINE, LEAN_CANDIDATE, &[]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("regress_lean_baseline.jsonl:1"), "{err}");
    assert!(err.contains("prompt"), "{err}");
    assert!(err.contains("--prompts FILE"), "{err}");

    // An id missing from the prompts file is named too.
    let dir = tempfile::tempdir().unwrap();
    let lean_rows = rows(LEAN_BASELINE);
    let missing = lean_rows[7]["id"].as_str().unwrap().to_string();
    let partial: Vec<Value> = rows(PROMPTS)
        .into_iter()
        .filter(|r| r["id"] != missing.as_str())
        .collect();
    let partial = temp_file(&dir, "partial.jsonl", to_jsonl(&partial).as_bytes());
    let out = compare(LEAN_BASELINE, LEAN_CANDIDATE, &["--prompts", &partial]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("regress_lean_baseline.jsonl:8"), "{err}");
    assert!(err.contains("is not in"), "{err}");
    assert!(err.contains("partial.jsonl"), "{err}");
}

/// The report without the mean-score figures of the whole run and the slices.
fn without_mean_scores(mut report: Value) -> Value {
    let strip = |c: &mut Value| {
        let c = c.as_object_mut().unwrap();
        for field in [
            "baseline_mean_score",
            "candidate_mean_score",
            "mean_score_test",
        ] {
            c.remove(field);
        }
    };
    strip(&mut report["global"]);
    for s in report["slices"].as_array_mut().unwrap() {
        strip(s);
    }
    report
}

/// Writes `rel` as CSV with columns id, prompt, score.
fn write_csv(rel: &str, path: &Path) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(["id", "prompt", "score"]).unwrap();
    for r in rows(rel) {
        w.write_record([
            r["id"].as_str().unwrap(),
            r["prompt"].as_str().unwrap(),
            &f(&r["score"]).to_string(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn csv_input_gives_the_same_comparison_as_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b): (PathBuf, PathBuf) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    write_csv(BASELINE, &a);
    write_csv(SLICE, &b);
    let from_csv = compare_json(a.to_str().unwrap(), b.to_str().unwrap(), &[], 1);
    let from_jsonl = compare_json(BASELINE, SLICE, &[], 1);
    for field in [
        "verdict",
        "gates_tripped",
        "num_pairs",
        "global",
        "slices",
        "num_regressed_cases",
    ] {
        assert_eq!(from_csv[field], from_jsonl[field], "`{field}` differs");
    }
    // One side CSV, the other JSONL.
    let mixed = compare_json(BASELINE, b.to_str().unwrap(), &[], 1);
    assert_eq!(mixed["global"], from_jsonl["global"]);
}

// --- Human-readable output ------------------------------------------------------------------

#[test]
fn markdown_leads_with_the_verdict_and_escapes_prompts() {
    let out = compare(BASELINE, SLICE, &["--format", "markdown", "--cases", "50"]);
    assert_code(&out, 1);
    let md = stdout(&out);
    assert!(
        md.starts_with("## faultmap regress: ❌ regression (slice)\n"),
        "{md}"
    );
    assert!(md.contains("**Pass rate 88.9% → 88.9%**"), "{md}");
    assert!(md.contains("whole run unchanged"), "{md}");
    assert!(md.contains("### Slices that moved"), "{md}");
    assert!(md.contains("### Worst cases (22 of 22 regressed)"), "{md}");
    // The untrusted prompt is there, neutralized.
    assert!(md.contains("&lt;script&gt;alert"), "{md}");
    assert!(!md.contains("<script>"), "{md}");
    assert!(!md.contains('\u{1b}') && !md.contains('\u{7}'));
    assert!(md.contains("\\u{1b}"), "{md}");
    // Table rows keep their column count: no unescaped pipe from the prompt.
    let untrusted = untrusted_id().replace('-', "\\-");
    let row = md
        .lines()
        .find(|l| l.starts_with(&format!("| {untrusted} |")))
        .expect("the untrusted case is in the worst cases table");
    let cells = row
        .char_indices()
        .filter(|&(i, c)| c == '|' && (i == 0 || &row[i - 1..i] != "\\"))
        .count();
    assert_eq!(cells, 6, "{row}");

    let out = compare(BASELINE, RERUN, &["--format", "markdown"]);
    assert_code(&out, 0);
    let md = stdout(&out);
    assert!(
        md.starts_with("## faultmap regress: ✅ no regression\n"),
        "{md}"
    );
    assert!(md.contains("(-2.2 pts, 95% CI ["), "{md}");
}

#[test]
fn table_output_names_the_verdict_and_neutralizes_control_characters() {
    let out = compare(BASELINE, SLICE, &["--format", "table", "--cases", "50"]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.starts_with("REGRESSION (gates: slice): pass rate 88.9% → 88.9%"),
        "{text}"
    );
    assert!(text.contains("360 pairs matched by id"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'));
    let out = compare(BASELINE, DROP, &["--format", "table"]);
    assert_code(&out, 1);
    assert!(stdout(&out).starts_with("REGRESSION (gates: global"));
    let out = compare(BASELINE, RERUN, &["--format", "table"]);
    assert_code(&out, 0);
    assert!(stdout(&out).starts_with("No regression: pass rate 88.9% → 86.7% (-2.2 pts"));
}

#[test]
fn skipped_candidate_rows_are_unmatched_cases() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = read(RERUN).lines().map(String::from).collect();
    let id = jsonl(&lines[2])[0]["id"].as_str().unwrap().to_string();
    lines[2] = lines[2]
        .replace("\"score\": 1.0", "\"score\": 7")
        .replace("\"score\": 0.0", "\"score\": 7");
    let bad = temp_file(&dir, "bad.jsonl", (lines.join("\n") + "\n").as_bytes());
    let out = compare(BASELINE, &bad, &["--format", "json"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("bad.jsonl:3: field `score`"),
        "{}",
        stderr(&out)
    );

    let out = compare(BASELINE, &bad, &["--format", "json", "--skip-invalid"]);
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["candidate"]["skipped_rows"], 1);
    assert_eq!(report["candidate"]["cases"], CASES - 1);
    assert_eq!(report["num_pairs"], CASES - 1);
    let only = report["only_in_baseline"].as_array().unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["key"], id.as_str());
    let err = stderr(&out);
    assert!(err.contains("skipped 1 invalid row (line 3)"), "{err}");
    assert!(err.contains("1 case only in the baseline run"), "{err}");
}

#[test]
fn no_common_case_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = temp_file(
        &dir,
        "other.jsonl",
        b"{\"id\": \"zz-1\", \"prompt\": \"hello\", \"score\": 1}\n",
    );
    let out = compare(BASELINE, &other, &[]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("nothing to compare"),
        "{}",
        stderr(&out)
    );
}

#[cfg(unix)]
#[test]
fn written_files_get_ordinary_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let baseline = record(&dir, "baseline.json", BASELINE, &["--quiet"]);
    let junit = dir.path().join("junit.xml");
    let report = dir.path().join("report.json");
    let out = regress(&[
        "check",
        &baseline,
        RERUN,
        "--junit",
        junit.to_str().unwrap(),
        "--output",
        report.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    // A file created by `std::fs::write` in the same directory is the reference (umask).
    let reference = temp_file(&dir, "reference", b"");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let expected = mode(Path::new(&reference));
    for path in [Path::new(&baseline), &junit, &report] {
        assert_eq!(mode(path), expected, "{}", path.display());
    }
}

#[test]
fn missing_prompt_message_reads_cleanly() {
    let out = compare(LEAN_BASELINE, LEAN_CANDIDATE, &[]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("the row has none: give --prompts FILE to join prompt text by id"),
        "{err}"
    );
}

#[test]
fn check_takes_a_lean_candidates_prompts_from_the_baseline() {
    // A baseline keyed by id has every prompt: candidates with only id + label need no
    // --prompts.
    let dir = tempfile::tempdir().unwrap();
    let baseline = record(&dir, "baseline.json", BASELINE, &["--quiet"]);
    let out = regress(&["check", &baseline, LEAN_CANDIDATE, "--format", "json"]);
    assert_code(&out, 1);
    let lean = without_mean_scores(json(&out));
    let out = regress(&["check", &baseline, SLICE, "--format", "json"]);
    assert_code(&out, 1);
    let full = without_mean_scores(json(&out));
    for field in ["verdict", "gates_tripped", "global", "slices"] {
        assert_eq!(lean[field], full[field], "`{field}` differs");
    }
    let keys = |r: &Value| -> Vec<Value> {
        r["regressed_cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].clone())
            .collect()
    };
    assert_eq!(keys(&lean), keys(&full));
    // The reported prompts are the baseline's.
    let untrusted = untrusted_id();
    let case = lean["regressed_cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == untrusted.as_str())
        .unwrap();
    assert!(case["prompt"].as_str().unwrap().contains("<script>"));
}

/// Duplicate ids and prompts are untrusted text: their errors must not carry terminal escape
/// sequences (ESC, BEL, OSC) to stderr.
#[test]
fn duplicate_key_errors_escape_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "x\u{1b}]0;owned\u{7}\u{1b}[31m";
    let run = |name: &str, rows: &[serde_json::Value]| {
        let path = dir.path().join(name);
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let by_id = run(
        "ids.jsonl",
        &[
            serde_json::json!({"id": evil, "prompt": "a", "label": "pass"}),
            serde_json::json!({"id": evil, "prompt": "b", "label": "fail"}),
        ],
    );
    let by_prompt = run(
        "prompts.jsonl",
        &[
            serde_json::json!({"prompt": evil, "label": "pass"}),
            serde_json::json!({"prompt": evil, "label": "fail"}),
        ],
    );
    let lean = run(
        "lean.jsonl",
        &[serde_json::json!({"id": "a", "label": "pass"})],
    );
    for out in [
        compare(&by_id, &by_id, &[]),
        compare(&by_prompt, &by_prompt, &[]),
        compare(&lean, &lean, &["--prompts", &by_id]),
    ] {
        assert_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("duplicate"), "{err}");
        assert!(
            !err.contains('\u{1b}') && !err.contains('\u{7}'),
            "raw control characters on stderr: {err:?}"
        );
        assert!(err.contains("\\u{1b}"), "escaped, still readable: {err}");
    }
}

/// Several `regress record` runs to one new path without --force: exactly one writes it, the
/// others exit 2 (before, every run exited 0 and the last rename won).
#[test]
fn concurrent_records_to_one_new_path_leave_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.json");
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_faultmap"))
                .args(["regress", "record", path.to_str().unwrap(), BASELINE, "-q"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<Option<i32>> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code())
        .collect();
    assert_eq!(
        codes.iter().filter(|&&c| c == Some(0)).count(),
        1,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|&&c| c == Some(2)).count(),
        3,
        "{codes:?}"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["baseline.json"], "no temporary file left behind");
}

/// A baseline whose JSON is valid but whose schema is not: the error names the line and the
/// JSON path, and says what was expected in words (no Rust type names).
#[test]
fn baseline_schema_errors_name_line_path_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = record(&dir, "b.json", BASELINE, &[]);
    let good: Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let cases: [(&str, Value, &str, &str); 3] = [
        (
            "/cases/200/pass",
            serde_json::json!(0.5),
            "cases[200].pass",
            "expected a boolean",
        ),
        (
            "/cases/3",
            serde_json::json!("oops"),
            "cases[3]",
            "expected an object",
        ),
        (
            "/cases/7/slices",
            serde_json::json!([-1]),
            "cases[7].slices[0]",
            "expected a whole number",
        ),
    ];
    for (pointer, bad, path, expected) in cases {
        let mut doc = good.clone();
        *doc.pointer_mut(pointer).unwrap() = bad;
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let file = dir.path().join("bad.json");
        std::fs::write(&file, &text).unwrap();
        let out = regress(&["check", file.to_str().unwrap(), BASELINE]);
        assert_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(path) && err.contains(expected), "{err}");
        assert!(err.contains("bad.json:"), "names the file and line: {err}");
        for rust in ["struct", "BaselineCase", "u64", "usize", "Vec<"] {
            assert!(!err.contains(rust), "{err}");
        }
    }
}
