//! Quality and speed of the built-in embedder on MMLU-Pro questions (nearest-neighbour category
//! agreement). Reads the file only if it exists; the data is not part of the repository.
//!
//! cargo run --release --example embed_mmlu [-- PATH [VARIANT...] [--time] [--seeds N] [--limit N]]
//!
//! PATH defaults to /work/shared/data/mmlu_pro/questions.jsonl (JSON lines with `prompt` and
//! `metadata.category`). VARIANTs are names from `variants()` below; default: all of them.
//! `--time` skips the quality metric and reports the fastest of five runs (wall and CPU time); `--seeds N`
//! averages each variant over seeds 0..N (mean time too); `--limit N` uses the first N
//! questions only.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

use faultmap::embed::hashing::{HashingConfig, HashingEmbedder};
use faultmap::embed::Embedder;
use faultmap::matrix::{dot, Matrix};
use faultmap::progress::Progress;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::Instant;

fn variants() -> Vec<(&'static str, HashingConfig)> {
    let d = HashingConfig::default();
    let with = |f: &dyn Fn(&mut HashingConfig)| {
        let mut c = d.clone();
        f(&mut c);
        c
    };
    vec![
        ("default", d.clone()),
        ("seed1", with(&|c| c.seed = 1)),
        ("seed2", with(&|c| c.seed = 2)),
        ("no-char", with(&|c| c.char_ngrams = None)),
        ("char3", with(&|c| c.char_ngrams = Some((3, 3)))),
        ("char5", with(&|c| c.char_ngrams = Some((5, 5)))),
        ("char3-4", with(&|c| c.char_ngrams = Some((3, 4)))),
        ("char3-5", with(&|c| c.char_ngrams = Some((3, 5)))),
        ("char2-4", with(&|c| c.char_ngrams = Some((2, 4)))),
        ("char-w0.3", with(&|c| c.char_weight = 0.3)),
        ("char-w0.7", with(&|c| c.char_weight = 0.7)),
        ("no-bigrams", with(&|c| c.word_bigrams = false)),
        ("dims128", with(&|c| c.dims = 128)),
        ("dims384", with(&|c| c.dims = 384)),
        ("power0", with(&|c| c.power_iters = 0)),
        ("power2", with(&|c| c.power_iters = 2)),
        ("power4", with(&|c| c.power_iters = 4)),
        ("sample2k", with(&|c| c.sample_rows = 2_000)),
        ("sample3k", with(&|c| c.sample_rows = 3_000)),
        ("sample10k", with(&|c| c.sample_rows = 10_000)),
        ("sample20k", with(&|c| c.sample_rows = 20_000)),
        ("feat8k", with(&|c| c.max_features = 8_192)),
        ("feat16k", with(&|c| c.max_features = 16_384)),
        ("feat64k", with(&|c| c.max_features = 65_536)),
        ("uncentered", with(&|c| c.center = false)),
    ]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "/work/shared/data/mmlu_pro/questions.jsonl".to_string());
    let mut wanted: Vec<String> = args.collect();
    // `--time`: embed each variant 3 times and report the fastest, without the quality metric.
    let time_only = wanted.iter().any(|w| w == "--time");
    wanted.retain(|w| w != "--time");
    // `--seeds N`: average the quality metric over seeds 0..N (the spread between seeds is
    // about ±0.01, so single runs cannot separate close variants).
    let mut seeds = 1u64;
    if let Some(pos) = wanted.iter().position(|w| w == "--seeds") {
        seeds = wanted
            .get(pos + 1)
            .and_then(|n| n.parse().ok())
            .expect("--seeds takes a number");
        wanted.drain(pos..pos + 2);
    }
    // `--limit N`: only the first N questions (e.g. 10000 for the 10k timing target).
    let mut limit = usize::MAX;
    if let Some(pos) = wanted.iter().position(|w| w == "--limit") {
        limit = wanted
            .get(pos + 1)
            .and_then(|n| n.parse().ok())
            .expect("--limit takes a number");
        wanted.drain(pos..pos + 2);
    }
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("{path} not found; nothing to measure");
        return;
    };
    let mut prompts = Vec::new();
    let mut labels = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(limit) {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        prompts.push(v["prompt"].as_str().unwrap_or("").to_string());
        labels.push(v["metadata"]["category"].as_str().unwrap_or("").to_string());
    }
    let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let words: usize = refs.iter().map(|p| p.split_whitespace().count()).sum();
    println!(
        "{} prompts, {:.0} words on average",
        refs.len(),
        words as f64 / refs.len() as f64
    );
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut queries: Vec<usize> = (0..refs.len()).collect();
    queries.shuffle(&mut rng);
    queries.truncate(2000);

    println!("| variant | 1-NN agree | 10-NN majority | time (s) |");
    println!("|---|---|---|---|");
    // `static`: the built-in static model (deterministic: one run, whatever --seeds says).
    if wanted.iter().any(|w| w == "static") {
        let embedder = faultmap::embed::static_model::StaticEmbedder::builtin().expect("loads");
        let start = Instant::now();
        let m = embedder.embed(&refs, &Progress::hidden()).expect("embeds");
        let secs = start.elapsed().as_secs_f64();
        let (a, b) = agreement(&m, &labels, &queries);
        println!("| static | {a:.4} | {b:.4} | {secs:.3} |");
        // `hash+static` at a few weights of the hashing embedder's similarity.
        let hash = HashingEmbedder::new(HashingConfig::default())
            .embed(&refs, &Progress::hidden())
            .expect("embeds");
        for w in [0.3f32, 0.5, 0.7] {
            let cols = hash.cols() + m.cols();
            let mut data = Vec::with_capacity(refs.len() * cols);
            for i in 0..refs.len() {
                data.extend(hash.row(i).iter().map(|x| x * w.sqrt()));
                data.extend(m.row(i).iter().map(|x| x * (1.0 - w).sqrt()));
            }
            let (a, b) = agreement(&Matrix::from_vec(refs.len(), cols, data), &labels, &queries);
            println!("| hash+static, w = {w} | {a:.4} | {b:.4} | |");
        }
    }
    for (name, config) in variants() {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        let embedder = HashingEmbedder::new(config);
        if time_only {
            let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..5 {
                let (start, cpu) = (Instant::now(), cpu_seconds());
                let m = embedder.embed(&refs, &Progress::hidden()).expect("embeds");
                best = best.min(start.elapsed().as_secs_f64());
                best_cpu = best_cpu.min(cpu_seconds() - cpu);
                assert_eq!(m.rows(), refs.len());
            }
            println!("| {name} | | | {best:.3} (cpu {best_cpu:.2}) |");
            continue;
        }
        let (mut nn1, mut nn10, mut secs) = (0.0, 0.0, 0.0);
        for seed in 0..seeds {
            let mut config = embedder.config().clone();
            config.seed += seed;
            let embedder = HashingEmbedder::new(config);
            let start = Instant::now();
            let m = embedder.embed(&refs, &Progress::hidden()).expect("embeds");
            secs += start.elapsed().as_secs_f64();
            let (a, b) = agreement(&m, &labels, &queries);
            nn1 += a;
            nn10 += b;
        }
        let k = seeds as f64;
        println!(
            "| {name} | {:.4} | {:.4} | {:.3} |",
            nn1 / k,
            nn10 / k,
            secs / k
        );
    }
}

/// CPU time (user + system) of this process so far, from /proc (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Share of queries whose nearest other row has the same label, and whose 10 nearest have it
/// as the majority label (ties go to the label of the nearer neighbour).
fn agreement(m: &Matrix, labels: &[String], queries: &[usize]) -> (f64, f64) {
    let hits: Vec<(bool, bool)> = queries
        .par_iter()
        .map(|&q| {
            let mut best: Vec<(f32, usize)> = Vec::with_capacity(11);
            for i in 0..m.rows() {
                if i == q {
                    continue;
                }
                let s = dot(m.row(q), m.row(i));
                if best.len() < 10 || s > best[best.len() - 1].0 {
                    let pos = best.partition_point(|&(b, _)| b >= s);
                    best.insert(pos, (s, i));
                    best.truncate(10);
                }
            }
            let one = labels[best[0].1] == labels[q];
            let mut votes: HashMap<&str, (usize, usize)> = HashMap::new();
            for (rank, &(_, i)) in best.iter().enumerate() {
                let e = votes.entry(labels[i].as_str()).or_insert((0, rank));
                e.0 += 1;
            }
            let majority = votes
                .iter()
                .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
                .map(|(l, _)| *l)
                .unwrap();
            (one, majority == labels[q])
        })
        .collect();
    let n = hits.len() as f64;
    (
        hits.iter().filter(|h| h.0).count() as f64 / n,
        hits.iter().filter(|h| h.1).count() as f64 / n,
    )
}
