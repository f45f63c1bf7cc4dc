//! How well the HTML report's 2-D map keeps topics apart: PCA-2 against the UMAP layout, on a
//! labelled JSONL file (reads it only if it exists; the data is not part of the repository).
//!
//! cargo run --release --example map_quality -- PATH LABEL_FIELD [--limit N] [--seeds N]
//!
//! e.g. `../shared/data/clinc150/all.jsonl intent` or `../shared/data/mmlu_pro/questions.jsonl
//! category`. For 2,000 seeded query rows it reports the share of their 10 nearest other rows
//! that carry the same label: in the embedding (what any map can at best keep), on each map,
//! and the time each map took. Rows are embedded with the default embedder (hash+static).

// A harness, not the product: eprintln! and expect are fine.
#![allow(clippy::disallowed_macros)]

use faultmap::cluster::{map_2d_with, MapLayout};
use faultmap::embed::combined::CombinedEmbedder;
use faultmap::embed::hashing::{HashingConfig, HashingEmbedder};
use faultmap::embed::static_model::StaticEmbedder;
use faultmap::embed::Embedder;
use faultmap::matrix::dot;
use faultmap::progress::Progress;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;

const K: usize = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(field)) = (args.first(), args.get(1)) else {
        eprintln!("usage: map_quality PATH LABEL_FIELD [--limit N] [--seeds N]");
        return;
    };
    let option = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let limit = option("--limit", usize::MAX);
    let seeds = option("--seeds", 1) as u64;
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("{path} not found; nothing to measure");
        return;
    };
    let mut prompts = Vec::new();
    let mut labels = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        let Some(label) = v["metadata"][field.as_str()].as_str() else {
            continue;
        };
        if v["metadata"]["in_scope"] == serde_json::Value::Bool(false) {
            continue;
        }
        prompts.push(v["prompt"].as_str().unwrap_or("").to_string());
        labels.push(label.to_string());
        if prompts.len() == limit {
            break;
        }
    }
    let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let embedder = CombinedEmbedder {
        first: Box::new(HashingEmbedder::new(HashingConfig::default())),
        second: Box::new(StaticEmbedder::builtin().expect("built-in model")),
        weight: 0.5,
    };
    let m = embedder.embed(&refs, &Progress::hidden()).expect("embeds");
    println!("{} rows of {path}, label `{field}`", refs.len());
    println!("| seed | space | same label among 10 nearest | time (s) |");
    println!("|---|---|---:|---:|");
    for seed in 0..seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + seed);
        let mut queries: Vec<usize> = (0..refs.len()).collect();
        queries.shuffle(&mut rng);
        queries.truncate(2000);
        if seed == 0 {
            let full = agreement(|i, j| dot(m.row(i), m.row(j)), &labels, &queries);
            println!("| - | embedding (cosine) | {full:.3} | |");
        }
        for (name, layout) in [("PCA-2", MapLayout::Pca), ("UMAP", MapLayout::Umap)] {
            let start = Instant::now();
            let p = map_2d_with(&m, layout, seed, &Progress::hidden()).expect("maps");
            let secs = start.elapsed().as_secs_f64();
            let near = |i: usize, j: usize| {
                let (dx, dy) = (p[i][0] - p[j][0], p[i][1] - p[j][1]);
                -(dx * dx + dy * dy)
            };
            let a = agreement(near, &labels, &queries);
            println!("| {seed} | {name} | {a:.3} | {secs:.2} |");
        }
    }
}

/// Mean share of each query's `K` most similar other rows (by `similarity`) with its label.
fn agreement(
    similarity: impl Fn(usize, usize) -> f32 + Sync,
    labels: &[String],
    queries: &[usize],
) -> f64 {
    let n = labels.len();
    let total: f64 = queries
        .par_iter()
        .map(|&q| {
            let mut scored: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != q)
                .map(|j| (similarity(q, j), j))
                .collect();
            scored.select_nth_unstable_by(K - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let same = scored[..K]
                .iter()
                .filter(|&&(_, j)| labels[j] == labels[q])
                .count();
            same as f64 / K as f64
        })
        .sum();
    total / queries.len() as f64
}
