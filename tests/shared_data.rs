//! Quality checks on the real datasets in `../shared/data` (not part of the repo).
//! Ignored by default; `.ci/run` runs them with `--ignored --nocapture` and they print figures.

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
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let rows = s["sample_indices"].as_array().unwrap();
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
        let purity = n as f64 / rows.len() as f64;
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
