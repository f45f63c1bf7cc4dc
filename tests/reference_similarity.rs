//! How well reference similarity (the outcome `slices` derives for rows with a `reference` and
//! no score or label) agrees with true pass/fail labels, on the real MMLU-Pro runs in
//! `../shared/data` (not part of the repo). Ignored by default; `.ci/run` runs it with
//! `--ignored --nocapture` and it prints the figures quoted in docs/slices.md.
//!
//! `FAULTMAP_SHARED_DATA=DIR` points at the data when it is not at `../shared/data`.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

mod common;

use faultmap::analysis::outcome::{reference_similarities, DEFAULT_MATCH_THRESHOLD};
use faultmap::embed::combined::CombinedEmbedder;
use faultmap::embed::hashing::{HashingConfig, HashingEmbedder};
use faultmap::embed::static_model::StaticEmbedder;
use faultmap::embed::Embedder;
use faultmap::input::{read_dataset, ReadOptions, Requirements};
use faultmap::progress::Progress;
use std::path::PathBuf;

fn data(rel: &str) -> Option<PathBuf> {
    match std::env::var_os("FAULTMAP_SHARED_DATA") {
        Some(dir) => Some(PathBuf::from(dir).join(rel)).filter(|p| p.exists()),
        None => common::shared_data(rel),
    }
}

fn hashing() -> Box<dyn Embedder> {
    Box::new(HashingEmbedder::new(HashingConfig {
        dims: 256,
        seed: 42,
        ..Default::default()
    }))
}

fn embedder(name: &str) -> Box<dyn Embedder> {
    match name {
        "hash" => hashing(),
        "static" => Box::new(StaticEmbedder::builtin().unwrap()),
        _ => Box::new(CombinedEmbedder {
            first: hashing(),
            second: Box::new(StaticEmbedder::builtin().unwrap()),
            weight: 0.5,
        }),
    }
}

/// Accuracy and balanced accuracy of "passes when similarity >= t".
fn accuracy(similarity: &[f64], passed: &[bool], t: f64) -> (f64, f64) {
    let (mut tp, mut tn, mut pos) = (0usize, 0usize, 0usize);
    for (&s, &p) in similarity.iter().zip(passed) {
        pos += p as usize;
        match (s >= t, p) {
            (true, true) => tp += 1,
            (false, false) => tn += 1,
            _ => {}
        }
    }
    let neg = passed.len() - pos;
    let acc = (tp + tn) as f64 / passed.len() as f64;
    let balanced = (tp as f64 / pos as f64 + tn as f64 / neg as f64) / 2.0;
    (acc, balanced)
}

#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn reference_similarity_against_true_labels_on_mmlu_pro() {
    let runs = [
        "mmlu_pro/runs/Meta-Llama-3_1-8B-Instruct.jsonl",
        "mmlu_pro/runs/Meta-Llama-3_1-70B-Instruct.jsonl",
    ];
    println!(
        "reference similarity vs the true label (pass = similarity >= t); default t = {DEFAULT_MATCH_THRESHOLD}"
    );
    println!("| run | embedder | AUROC | acc. at default | bal. acc. at default | best t (bal. acc.) | bal. acc. | acc. |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut default_balanced = Vec::new();
    for rel in runs {
        let Some(path) = data(rel) else {
            eprintln!("{rel} not found: skipped");
            return;
        };
        let options = ReadOptions {
            requirements: Requirements {
                outcome: true,
                ..Requirements::default()
            },
            ..ReadOptions::default()
        };
        let data = read_dataset(path.to_str().unwrap(), &options).unwrap();
        let rows: Vec<usize> = (0..data.records.len()).collect();
        let passed: Vec<bool> = data
            .records
            .iter()
            .map(|r| r.failed == Some(false))
            .collect();
        for name in ["hash", "static", "hash+static"] {
            let e = embedder(name);
            let sim =
                reference_similarities(&data, &rows, e.as_ref(), &Progress::hidden()).unwrap();
            let auroc = faultmap::stats::auroc(&sim, &passed).unwrap();
            let (acc, bal) = accuracy(&sim, &passed, DEFAULT_MATCH_THRESHOLD);
            let (best_t, (best_acc, best_bal)) = (0..=100)
                .map(|k| k as f64 / 100.0)
                .map(|t| (t, accuracy(&sim, &passed, t)))
                .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
                .unwrap();
            let short = rel.rsplit('/').next().unwrap().trim_end_matches(".jsonl");
            println!(
                "| {short} | {name} | {auroc:.3} | {acc:.3} | {bal:.3} | {best_t:.2} | {best_bal:.3} | {best_acc:.3} |"
            );
            if name == "hash+static" {
                default_balanced.push((bal, best_bal));
            }
            // Similarity carries signal about correctness, or the feature is useless.
            assert!(auroc > 0.6, "{short} {name}: AUROC {auroc:.3}");
        }
    }
    // The default threshold is (near) the best one for the default embedder.
    for (bal, best) in default_balanced {
        assert!(
            bal > best - 0.01,
            "default threshold with hash+static: balanced accuracy {bal:.3}, best {best:.3}"
        );
    }
}
