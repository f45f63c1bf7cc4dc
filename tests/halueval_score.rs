//! `faultmap score` on HaluEval (`../shared/data/halueval`, not part of the repo): AUROC of
//! `final` and `attribution` against the labels, pairwise accuracy (the faithful answer scored
//! above the hallucinated one for the same input), a response-length-only baseline, held-out
//! calibration, and the no-context behaviour. Ignored by default; `.ci/run` runs them with
//! `--ignored --nocapture` and they print the figures recorded in docs/benchmarks.md.
//!
//! The `reference` field is withheld (`--reference-field __withheld__`): in HaluEval it *is*
//! the faithful answer, so using it would grade the test with its own answer key.

mod common;

use common::{faultmap_ok_timed, shared_data};
use faultmap::stats::auroc;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

struct Scored {
    good: bool,
    pair: String,
    final_score: f64,
    attribution: Option<f64>,
    chars: usize,
    decision: String,
    failure_type: String,
}

fn score(path: &Path) -> (Vec<Scored>, f64) {
    let (stdout, secs) = faultmap_ok_timed(&[
        "score",
        path.to_str().unwrap(),
        "--format",
        "jsonl",
        "--quiet",
        "--reference-field",
        "__withheld__",
        // In no row on purpose: the right answers are withheld from the scorer.
        "--allow-missing-fields",
    ]);
    let rows = String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Scored {
                good: v["label"] == "faithful",
                pair: v["metadata"]["pair_id"].as_str().unwrap_or("").to_string(),
                final_score: v["scores"]["final"].as_f64().unwrap(),
                attribution: v["scores"]["attribution"].as_f64(),
                chars: v["response"].as_str().unwrap().chars().count(),
                decision: v["decision"].as_str().unwrap().to_string(),
                failure_type: v["failure_type"].as_str().unwrap().to_string(),
            }
        })
        .collect();
    (rows, secs)
}

/// Share of pairs whose faithful answer scores above the hallucinated one (ties count half).
fn pairwise(rows: &[Scored], value: impl Fn(&Scored) -> f64) -> f64 {
    let mut pairs: HashMap<&str, [Option<f64>; 2]> = HashMap::new();
    for r in rows {
        pairs.entry(&r.pair).or_default()[usize::from(r.good)] = Some(value(r));
    }
    let (mut wins, mut n) = (0.0, 0);
    for p in pairs.values() {
        if let [Some(bad), Some(good)] = p {
            n += 1;
            wins += if good > bad {
                1.0
            } else if good == bad {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / n as f64
}

struct Figures {
    auroc_final: f64,
    auroc_attribution: f64,
    pairwise_final: f64,
    pairwise_attribution: f64,
    auroc_length: f64,
    pairwise_length: f64,
}

fn figures(task: &str) -> Option<Figures> {
    let path = shared_data(&format!("halueval/{task}.jsonl"))?;
    let (rows, secs) = score(&path);
    let good: Vec<bool> = rows.iter().map(|r| r.good).collect();
    let finals: Vec<f64> = rows.iter().map(|r| r.final_score).collect();
    let attribution: Vec<f64> = rows.iter().map(|r| r.attribution.unwrap()).collect();
    // Shorter is better in every HaluEval task (the hallucinated side is longer).
    let shortness: Vec<f64> = rows.iter().map(|r| -(r.chars as f64)).collect();
    let f = Figures {
        auroc_final: auroc(&finals, &good).unwrap(),
        auroc_attribution: auroc(&attribution, &good).unwrap(),
        pairwise_final: pairwise(&rows, |r| r.final_score),
        pairwise_attribution: pairwise(&rows, |r| r.attribution.unwrap()),
        auroc_length: auroc(&shortness, &good).unwrap(),
        pairwise_length: pairwise(&rows, |r| -(r.chars as f64)),
    };
    let mut decisions: HashMap<&str, [usize; 2]> = HashMap::new();
    for r in &rows {
        decisions.entry(&r.decision).or_default()[usize::from(r.good)] += 1;
    }
    println!(
        "halueval {task}: {} rows in {secs:.1} s ({:.0} rows/s, whole command)",
        rows.len(),
        rows.len() as f64 / secs
    );
    println!(
        "  AUROC final {:.3}, attribution {:.3}, length-only {:.3}",
        f.auroc_final, f.auroc_attribution, f.auroc_length
    );
    println!(
        "  pairwise final {:.3}, attribution {:.3}, length-only {:.3}",
        f.pairwise_final, f.pairwise_attribution, f.pairwise_length
    );
    for d in ["ACCEPT", "REVIEW", "REJECT"] {
        let [bad, ok] = decisions.get(d).copied().unwrap_or_default();
        println!("  {d}: {ok} faithful, {bad} hallucinated");
    }
    Some(f)
}

fn calibration(task: &str) -> Option<Value> {
    let path = shared_data(&format!("halueval/{task}.jsonl"))?;
    let (stdout, _) = faultmap_ok_timed(&[
        "score",
        path.to_str().unwrap(),
        "--calibrate",
        "--format",
        "json",
        "--quiet",
        "--reference-field",
        "__withheld__",
        // In no row on purpose: the right answers are withheld from the scorer.
        "--allow-missing-fields",
    ]);
    let report: Value = serde_json::from_slice(&stdout).unwrap();
    let m = |k: &str| {
        let v = &report[k];
        format!(
            "P {:.3} R {:.3} F1 {:.3}",
            v["precision"].as_f64().unwrap(),
            v["recall"].as_f64().unwrap(),
            v["f1"].as_f64().unwrap()
        )
    };
    println!(
        "  calibration ({} fit / {} held-out rows): held-out default {} | calibrated {}; held-out AUROC final {:.3}",
        report["fit_rows"],
        report["holdout_rows"],
        m("holdout_default"),
        m("holdout_calibrated"),
        report["auroc_final"]["auroc"].as_f64().unwrap()
    );
    Some(report)
}

#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn halueval_qa_grounding_separates_beyond_chance() {
    let Some(f) = figures("qa") else { return };
    calibration("qa");
    // QA's length artifact is extreme (14 vs 66 characters): length alone gets ~0.97, so the
    // scorer is judged on its own terms here, not against it.
    assert!(
        f.auroc_attribution > 0.8,
        "attribution AUROC {}",
        f.auroc_attribution
    );
    assert!(f.auroc_final > 0.75, "final AUROC {}", f.auroc_final);
    final_at_least_attribution(&f);
    assert!(
        f.pairwise_attribution > 0.8,
        "pairwise {}",
        f.pairwise_attribution
    );
    assert!(f.auroc_length > 0.9, "the documented length artifact");
}

#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn halueval_summarization_grounding_separates_beyond_chance() {
    let Some(f) = figures("summarization") else {
        return;
    };
    calibration("summarization");
    assert!(f.auroc_final > 0.62, "final AUROC {}", f.auroc_final);
    assert!(f.pairwise_final > 0.65, "pairwise {}", f.pairwise_final);
    final_at_least_attribution(&f);
}

/// `final` is what users sort and gate by: it must not detect hallucinations worse than its
/// own grounding part (issue 15).
fn final_at_least_attribution(f: &Figures) {
    assert!(
        f.auroc_final >= f.auroc_attribution,
        "final AUROC {} below attribution's {}",
        f.auroc_final,
        f.auroc_attribution
    );
}

#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn halueval_dialogue_figures() {
    // Printed for docs/benchmarks.md. Dialogue "faithful" answers are chit-chat that the
    // knowledge triples rarely support, so grounding is near chance here (see docs/score.md);
    // only a sanity bound is asserted.
    let Some(f) = figures("dialogue") else { return };
    calibration("dialogue");
    assert!(
        (0.3..0.8).contains(&f.auroc_final),
        "final AUROC {}",
        f.auroc_final
    );
    final_at_least_attribution(&f);
}

#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn halueval_general_without_context_abstains() {
    let Some(path) = shared_data("halueval/general.jsonl") else {
        return;
    };
    let (rows, secs) = score(&path);
    let undetermined = rows
        .iter()
        .filter(|r| r.decision == "REVIEW" && r.failure_type == "undetermined")
        .count();
    let empty = rows
        .iter()
        .filter(|r| r.failure_type == "empty_response")
        .count();
    println!(
        "halueval general (no context): {} rows in {secs:.1} s; {undetermined} REVIEW/undetermined, {empty} empty responses REJECT",
        rows.len()
    );
    assert!(
        rows.iter().all(|r| r.attribution.is_none()),
        "attribution must be null"
    );
    assert_eq!(undetermined + empty, rows.len());
}
