//! Quality checks on the real datasets in `../shared/data` (not part of the repo).
//! Ignored by default; `.ci/run` runs them with `--ignored --nocapture` and they print figures.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

mod common;

use common::{faultmap_ok_timed, shared_data};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn categories(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["metadata"]["category"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The most common category of a slice's rows (ties to the first in order) and its share.
fn majority<'a>(slice: &Value, cats: &'a [String]) -> (&'a str, f64) {
    let rows = slice["sample_indices"].as_array().unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        *counts
            .entry(cats[r.as_u64().unwrap() as usize].as_str())
            .or_default() += 1;
    }
    let (major, n) = counts
        .iter()
        .max_by_key(|(_, &n)| n)
        .map(|(c, n)| (*c, *n))
        .unwrap();
    (major, n as f64 / rows.len() as f64)
}

fn run_slices(path: &Path, extra: &[&str]) -> (Value, f64) {
    let mut args = vec!["slices", path.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let (stdout, secs) = faultmap_ok_timed(&args);
    (serde_json::from_slice(&stdout).unwrap(), secs)
}

const KNOWN_BAD: [&str; 4] = ["law", "engineering", "chemistry", "physics"];
const KNOWN_GOOD: [&str; 2] = ["biology", "psychology"];

#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn mmlu_pro_clusters_recover_known_bad_categories() {
    let Some(path) = shared_data("mmlu_pro/runs/Meta-Llama-3_1-8B-Instruct.jsonl") else {
        eprintln!("../shared/data not found: skipped");
        return;
    };
    let cats = categories(&path);
    let (report, secs) = run_slices(&path, &[]);
    let slices = report["slices"].as_array().unwrap();
    println!(
        "MMLU-Pro Llama-3.1-8B-Instruct, default `faultmap slices` ({} rows, {:.1} s): {} candidates, {} significant, {} noise rows, baseline {:.3}",
        report["total_prompts"], secs, report["num_candidates"], report["num_significant"],
        report["num_noise"], report["baseline_failure_rate"].as_f64().unwrap()
    );
    println!("| # | slice | size | failure rate | adj. p | majority category | purity |");
    println!("|---:|---|---:|---:|---:|---|---:|");
    let mut recovered = BTreeMap::new();
    for (i, s) in slices.iter().enumerate() {
        let rows = s["sample_indices"].as_array().unwrap();
        let (major, purity) = majority(s, &cats);
        println!(
            "| {} | {} | {} | {:.3} | {:.1e} | {} | {:.2} |",
            i + 1,
            s["name"].as_str().unwrap(),
            rows.len(),
            s["failure_rate"].as_f64().unwrap(),
            s["adjusted_p_value"].as_f64().unwrap(),
            major,
            purity
        );
        assert!(
            !KNOWN_GOOD.contains(&major) || purity <= 0.5,
            "slice {} has a {} majority",
            s["name"],
            major
        );
        if KNOWN_BAD.contains(&major) {
            *recovered.entry(major).or_insert(0) += rows.len();
        }
    }
    println!("recovered known-bad categories (rows in slices they dominate): {recovered:?}");
    assert!(
        recovered.len() >= 2,
        "fewer than two of {KNOWN_BAD:?} recovered"
    );
    let dominated_by_bad = slices.iter().filter(|s| {
        let rows = s["sample_indices"].as_array().unwrap();
        let bad = rows
            .iter()
            .filter(|r| KNOWN_BAD.contains(&cats[r.as_u64().unwrap() as usize].as_str()))
            .count();
        bad * 2 > rows.len()
    });
    let share = dominated_by_bad.count() as f64 / slices.len().max(1) as f64;
    println!("share of slices whose majority is law/engineering/chemistry/physics: {share:.2}");
}

#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn mmlu_pro_group_by_category_flags_the_right_categories() {
    let Some(path) = shared_data("mmlu_pro/runs/Meta-Llama-3_1-8B-Instruct.jsonl") else {
        eprintln!("../shared/data not found: skipped");
        return;
    };
    let (report, secs) = run_slices(&path, &["--group-by", "metadata.category"]);
    let flagged: Vec<String> = report["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["source"] == "metadata.category")
        .map(|s| s["value"].as_str().unwrap().to_string())
        .collect();
    println!("--group-by metadata.category ({secs:.1} s): flagged categories {flagged:?}");
    for cat in KNOWN_BAD {
        assert!(flagged.contains(&cat.to_string()), "{cat} not flagged");
    }
    for cat in KNOWN_GOOD {
        assert!(!flagged.contains(&cat.to_string()), "{cat} flagged");
    }
}

/// Models whose runs are checked: the two full runs and five lean runs joined to the prompts.
const CATEGORY_MODELS: [&str; 7] = [
    "Meta-Llama-3_1-8B-Instruct",
    "Meta-Llama-3_1-70B-Instruct",
    "Mistral-7B-Instruct-v0.2",
    "gemma-7b",
    "Qwen1.5-72B-Chat",
    "Phi-3-mini-4k-instruct",
    "Yi-34B",
];

/// Issue 14's check, with the default command (which never reads the category): every
/// category failing significantly above the rest (one-sided p <= 0.01 in
/// `ground_truth_slices.json`) should be the majority (>= 60%) of some slice, and no slice may
/// have a majority (> 50%) category failing significantly below the rest (z <= -2.58) unless
/// the slice's majority *source subject* (`metadata.src`, finer than the category) fails above
/// the rest (one-sided p <= 0.05). Categories are coarse: gemma-7b does well on philosophy as
/// a whole but fails 21 of the 22 formal-logic questions (symbolizing sentences in
/// propositional logic) that one slice holds, and formal logic is hard for every model
/// (`ori_mmlu-formal_logic` fails above the rest with p 0.002-0.03 for most of them).
#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn mmlu_pro_categories_failing_above_the_rest_are_slice_majorities() {
    let Some(dir) = shared_data("mmlu_pro") else {
        eprintln!("../shared/data not found: skipped");
        return;
    };
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("ground_truth_slices.json")).unwrap(),
    )
    .unwrap();
    let questions: BTreeMap<String, Value> = std::fs::read_to_string(dir.join("questions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v)
        })
        .collect();
    let work = tempfile::tempdir().unwrap();
    let (mut expected, mut recovered) = (0, 0);
    println!("| model | slices | s | categories above the rest | recovered as a slice majority | slices with a below-the-rest majority |");
    println!("|---|---:|---:|---|---|---:|");
    for model in CATEGORY_MODELS {
        // Lean run joined to the prompts: id, prompt, label only.
        let mut cats = Vec::new();
        let mut srcs = Vec::new();
        let mut lines = String::new();
        for l in std::fs::read_to_string(dir.join(format!("scores/{model}.jsonl")))
            .unwrap()
            .lines()
        {
            let v: Value = serde_json::from_str(l).unwrap();
            let q = &questions[v["id"].as_str().unwrap()];
            cats.push(q["metadata"]["category"].as_str().unwrap().to_string());
            srcs.push(q["metadata"]["src"].as_str().unwrap().to_string());
            let row =
                serde_json::json!({"id": v["id"], "prompt": q["prompt"], "label": v["label"]});
            lines.push_str(&row.to_string());
            lines.push('\n');
        }
        let path = work.path().join(format!("{model}.jsonl"));
        std::fs::write(&path, lines).unwrap();
        let (report, secs) = run_slices(&path, &[]);
        let by_category = truth["models"][model]["by_category"].as_object().unwrap();
        let above: Vec<&str> = by_category
            .iter()
            .filter(|(_, v)| v["p_one_sided"].as_f64().unwrap() <= 0.01)
            .map(|(c, _)| c.as_str())
            .collect();
        let below: Vec<&str> = by_category
            .iter()
            .filter(|(_, v)| v["z"].as_f64().unwrap() <= -2.58)
            .map(|(c, _)| c.as_str())
            .collect();
        let by_src = truth["models"][model]["by_src"].as_object().unwrap();
        let src_above = |src: &str| by_src[src]["p_one_sided"].as_f64().unwrap() <= 0.05;
        let mut majorities = Vec::new();
        let mut below_majority = 0;
        let slices = report["slices"].as_array().unwrap();
        for s in slices {
            let (top, share) = majority(s, &cats);
            if share >= 0.6 {
                majorities.push(top);
            }
            if share > 0.5 && below.contains(&top) {
                let (src, src_share) = majority(s, &srcs);
                if src_share > 0.5 && src_above(src) {
                    println!(
                        "  {model}: slice {:?} is mostly {top} ({share:.2}), a category below \
                         the rest, but mostly {src} ({src_share:.2}), a source failing above it",
                        s["name"].as_str().unwrap_or("?")
                    );
                } else {
                    below_majority += 1;
                }
            }
        }
        let found: Vec<&str> = above
            .iter()
            .copied()
            .filter(|c| majorities.contains(c))
            .collect();
        println!(
            "| {model} | {} | {secs:.1} | {above:?} | {found:?} | {below_majority} |",
            slices.len()
        );
        expected += above.len();
        recovered += found.len();
        assert_eq!(
            below_majority, 0,
            "{model}: a slice is mostly a category that does well"
        );
    }
    println!("recovered {recovered} of {expected} (category, model) pairs");
    // Measured 30 of 33 on 2026-12-06 (31 before reported tree nodes were confirmed; the
    // HDBSCAN default of 2026-12-01 recovered 22).
    assert!(
        recovered * 10 >= expected * 9,
        "recovered {recovered} of {expected} (category, model) pairs"
    );
}
