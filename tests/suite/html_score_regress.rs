//! `faultmap score --format html` and `faultmap regress check|compare --format html` (issue
//! 19): self-contained pages whose every text from the data is escaped, whose counts and
//! verdict agree with the JSON report of the same run, byte-identical across runs, picked by
//! `-o x.html`, and with regress's exit code unchanged by the format.

use crate::common;

use common::html::rewritten;
use common::{faultmap, json, stderr, string_array};
// The page's escaping; `assert_escaped` also checks independently that no raw markup is left.
use faultmap::export::escape::html as escaped;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const SCRIPT: &str = "</script><script>alert(1)</script>";
const IMG: &str = "<img src=x onerror=alert(1)>";

fn code(out: &Output, expected: i32) {
    assert_eq!(out.status.code(), Some(expected), "stderr: {}", stderr(out));
}

/// No fetch of any kind; the escaped hostile texts (whose `src=` is text) are left out of
/// the check.
fn assert_self_contained(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    let page = page.replace(&escaped(IMG), "");
    for fetch in [
        "http://", "https://", "src=", "<link", "url(", "@import", "<img",
    ] {
        assert!(
            !page.contains(fetch),
            "the page must fetch nothing: {fetch}"
        );
    }
    assert_eq!(page.matches("<script").count(), 1, "only the sort script");
    assert!(page.contains("@media print"));
}

/// Asserts that `page` contains `needle`, naming the needle when it does not.
fn has(page: &str, needle: &str) {
    assert!(page.contains(needle), "not on the page: {needle}");
}

/// Hostile markup from the data never reaches the page raw, and shows as text.
fn assert_escaped(page: &str) {
    assert!(
        !page.contains("<script>alert(1)"),
        "raw script from the data"
    );
    assert!(
        !page.contains("onerror=alert(1)>"),
        "raw markup from the data"
    );
    assert!(page.contains(&escaped(SCRIPT)), "the script shows as text");
    assert!(page.contains(&escaped(IMG)), "the markup shows as text");
}

#[test]
fn the_score_page_escapes_the_rows_and_counts_as_the_json() {
    let dir = tempfile::tempdir().unwrap();
    // 17 rows: all of them are in the worst-rows table (20), the hostile ones included.
    let input = rewritten(
        dir.path(),
        "fixtures/rag_answers.jsonl",
        "rag.jsonl",
        |i, row| match i {
            0 => row["prompt"] = format!("{SCRIPT} refund?").into(),
            1 => row["response"] = format!("{IMG} within 30 days.").into(),
            _ => {}
        },
    );
    let input = input.to_str().unwrap();
    let html_path = dir.path().join("score.html");
    let out = faultmap(&["score", input, "-q", "-o", html_path.to_str().unwrap()]);
    code(&out, 0);
    assert!(out.stdout.is_empty(), "the page goes to the file");
    let page = std::fs::read_to_string(&html_path).unwrap();
    assert_self_contained(&page);
    assert_escaped(&page);

    let report = json(&faultmap(&["score", input, "-q", "--format", "json"]));
    let decisions = report["decisions"].as_object().unwrap();
    let total = report["total_rows"].as_u64().unwrap();
    for (decision, n) in decisions {
        let n = n.as_u64().unwrap();
        let share = format!("{:.1}%", 100.0 * n as f64 / total as f64);
        has(&page, &format!("<b>{decision}</b>: {n} ({share})"));
        // The histogram panel of each decision counts the same rows.
        has(&page, &format!(">{decision} ({n} rows)</text>"));
        // As many worst-table rows with that decision (every row is listed).
        assert_eq!(
            page.matches(&format!("<td><b>{decision}</b></td>")).count() as u64,
            n,
            "{decision} rows in the table"
        );
    }
    for (gate, n) in report["gates"].as_object().unwrap() {
        has(
            &page,
            &format!("<tr><td>{gate}</td><td class=\"n\">{n}</td>"),
        );
    }
    assert!(page.contains("<table class=\"sortable\">"));
    assert!(page.contains("<dd>heuristic</dd>"));
    // Worst first: the table's final scores ascend.
    let finals: Vec<f64> = page
        .split("<td class=\"n\" data-v=\"")
        .skip(2) // the first cell of each row is its row number
        .step_by(2)
        .map(|s| s.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(finals.len() as u64, total);
    assert!(finals.windows(2).all(|w| w[0] <= w[1]), "{finals:?}");
}

#[test]
fn the_score_page_is_byte_identical_and_lists_weak_sentences() {
    let args = [
        "score",
        "fixtures/rag_answers.jsonl",
        "-q",
        "--format",
        "html",
    ];
    let first = faultmap(&args);
    code(&first, 0);
    assert_eq!(first.stdout, faultmap(&args).stdout);
    let page = String::from_utf8(first.stdout).unwrap();
    // The JSONL's low-confidence sentences are on the page, with their support.
    let rows = faultmap(&[
        "score",
        "fixtures/rag_answers.jsonl",
        "-q",
        "--format",
        "jsonl",
    ]);
    let weak: Vec<String> = String::from_utf8(rows.stdout)
        .unwrap()
        .lines()
        .flat_map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            row["low_confidence_sentences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["text"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!weak.is_empty(), "the fixture has weak sentences");
    assert!(
        weak.iter()
            .any(|s| page.contains(&format!("<li>{} <em>(", escaped(s)))),
        "no low-confidence sentence on the page"
    );
}

#[test]
fn score_calibrate_writes_a_page_too() {
    let out = faultmap(&[
        "score",
        "fixtures/support_tickets.jsonl",
        "--calibrate",
        "-q",
        "--format",
        "html",
    ]);
    code(&out, 0);
    let page = String::from_utf8(out.stdout).unwrap();
    assert_self_contained(&page);
    assert!(page.contains("<h1>faultmap: score calibration</h1>"));
    assert!(page.contains("<th>AUROC</th>"));
}

/// The regress demo runs with responses on both sides, and hostile text in the prompt and
/// responses of a case that goes from pass to fail.
fn hostile_runs(dir: &Path) -> (String, String) {
    let read = |rel: &str| -> Vec<Value> {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let candidate = read("fixtures/regress_candidate_slice.jsonl");
    // Cases pair by id (the candidate's rows are in another order).
    let flipped: String = read("fixtures/regress_baseline.jsonl")
        .iter()
        .find(|b| {
            b["score"] == 1.0
                && candidate
                    .iter()
                    .any(|c| c["id"] == b["id"] && c["score"] == 0.0)
        })
        .expect("a pass-to-fail case")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let side = |name: &str, rel: &str, response: &'static str| {
        let flipped = flipped.clone();
        rewritten(dir, rel, name, move |i, row| {
            row["response"] = format!("answer {i}").into();
            if row["id"] == flipped.as_str() {
                row["prompt"] = format!("{SCRIPT} where is my parcel?").into();
                row["response"] = response.into();
            }
        })
        .to_str()
        .unwrap()
        .to_string()
    };
    (
        side("base.jsonl", "fixtures/regress_baseline.jsonl", IMG),
        side(
            "cand.jsonl",
            "fixtures/regress_candidate_slice.jsonl",
            "</td></tr></table><script>alert(1)</script>",
        ),
    )
}

#[test]
fn the_compare_page_shows_the_verdict_of_the_json_and_escapes_the_cases() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cand) = hostile_runs(dir.path());
    let html_path = dir.path().join("regress.html");
    let extra = ["--fail-on", "global,slice,case", "--cases", "400", "-q"];
    let mut args = vec!["regress", "compare", &base, &cand, "-o"];
    args.push(html_path.to_str().unwrap());
    args.extend(extra);
    let out = faultmap(&args);
    code(&out, 1);
    let page = std::fs::read_to_string(&html_path).unwrap();
    assert_self_contained(&page);
    assert_escaped(&page);
    assert!(page.contains(&escaped("</td></tr></table><script>alert(1)</script>")));

    let mut args = vec!["regress", "compare", &base, &cand, "--format", "json"];
    args.extend(extra);
    let out = faultmap(&args);
    code(&out, 1);
    let report = json(&out);
    assert_eq!(report["verdict"], "regression");
    let gates = string_array(&report["gates_tripped"]);
    has(
        &page,
        &format!(
            "data-verdict=\"regression\">✘ REGRESSION: gates {} tripped</h1>",
            gates.join(", ")
        ),
    );
    assert!(page.contains("exits 1"));
    // Every regressed case is listed (--cases 400), each with its two scores.
    let regressed = report["num_regressed_cases"].as_u64().unwrap();
    let section = page.split("<section id=\"cases\">").nth(1).unwrap();
    assert_eq!(section.matches("<tr><td>").count() as u64, regressed);
    // The forest plot has the whole run and one row per tested slice (fewer than 40 here),
    // and marks each regressed slice in words, not only by colour.
    let slices = report["slices"].as_array().unwrap();
    let forest = page.split("<section id=\"forest\">").nth(1).unwrap();
    let forest = forest.split("</section>").next().unwrap();
    assert_eq!(forest.matches("<g><title>").count(), slices.len() + 1);
    let regressed_slices = slices.iter().filter(|s| s["change"] == "regressed").count();
    assert!(regressed_slices > 0);
    assert_eq!(
        forest.matches(">regressed</tspan>").count(),
        regressed_slices
    );
}

#[test]
fn the_check_page_keeps_the_exit_code_and_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let baseline = baseline.to_str().unwrap();
    let out = faultmap(&[
        "regress",
        "record",
        baseline,
        "fixtures/regress_baseline.jsonl",
        "-q",
    ]);
    code(&out, 0);
    for (candidate, exit, verdict) in [
        ("fixtures/regress_candidate_slice.jsonl", 1, "regression"),
        ("fixtures/regress_rerun.jsonl", 0, "pass"),
    ] {
        let args = [
            "regress", "check", baseline, candidate, "-q", "--format", "html",
        ];
        let first = faultmap(&args);
        code(&first, exit);
        let second = faultmap(&args);
        assert_eq!(first.stdout, second.stdout, "{candidate}");
        let page = String::from_utf8(first.stdout).unwrap();
        assert_self_contained(&page);
        has(&page, &format!("data-verdict=\"{verdict}\""));
        has(&page, "<dd>regress check</dd>");
        let report = json(&faultmap(&["regress", "check", baseline, candidate, "-q"]));
        assert_eq!(report["verdict"], verdict);
        has(&page, &format!("exits {exit}"));
    }
}

#[test]
fn the_score_page_of_a_judged_run_names_the_mode_and_escapes_the_judge() {
    use common::fake_api::{FakeApi, Fault};
    // Every judged row is called hallucinated, for a reason written in markup.
    let api = FakeApi::with_chat(
        |_| Fault::None,
        |_| format!("{{\"verdict\": \"hallucinated\", \"score\": 0.1, \"reason\": \"{IMG}\"}}"),
    );
    let base = api.base();
    let args = [
        "score",
        "fixtures/rag_answers.jsonl",
        "--config",
        "fixtures/score_judge_gates.toml",
        "--api-base",
        &base,
        "--llm-model",
        "judge-model",
        "--judge",
        "--no-cache",
        "-q",
    ];
    let out = common::faultmap_env(&[&args[..], &["--format", "html"]].concat(), &[]);
    code(&out, 0);
    let page = String::from_utf8(out.stdout).unwrap();
    assert_self_contained(&page);
    assert!(
        !page.contains("onerror=alert(1)>"),
        "raw markup from the judge"
    );
    assert!(
        page.contains(&escaped(IMG)),
        "the judge's reason shows as text"
    );
    assert!(page.contains("<dd>LLM judge on the rows in band review</dd>"));
    assert!(page.contains("<dd>fixtures/score_judge_gates.toml</dd>"));
    assert!(page.contains("<h3>LLM judge (band: review)</h3>"));
    let summary = json(&common::faultmap_env(
        &[&args[..], &["--format", "json"]].concat(),
        &[],
    ));
    let judged = summary["gates"]["llm_judge"].as_u64().unwrap();
    assert!(judged > 0);
    assert!(page.contains(&format!(
        "<tr><td>llm_judge</td><td class=\"n\">{judged}</td>"
    )));
}
