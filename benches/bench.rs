//! `faultmap-bench`: end-to-end benchmarks on synthetic data.
//!
//!     cargo run --release --features bench --bin faultmap-bench -- [--sizes 10000,100000,1000000] [--precomputed 10000]
//!     cargo run --release --features bench --bin faultmap-bench -- --score 10000,100000 [--runs 5]
//!     perf record -g target/release/faultmap-bench --one-score bench-data/score10000.jsonl --no-phases
//!     cargo run --release --features bench --bin faultmap-bench -- --coverage 10000x10000,100000x10000 [--runs 3]
//!     cargo run --release --features bench --bin faultmap-bench -- --nearest 10000x10000 [--runs 3]
//!     .ci/chromium cargo run --release --features bench --bin faultmap-bench -- --html 100000 [--runs 3] [--binary PATH]
//!     cargo run --release --features bench --bin faultmap-bench -- --planted clinc,mmlu [--seeds 20] [--first-seed 1]
//!         [--config NAME[@BINARY]=ARGS]... [--binary PATH] [--data DIR] [--details FILE] [--no-keep]
//!     cargo run --release --features bench --bin faultmap-bench -- --planted-gaps [--seeds 20] [--first-seed 1]
//!         [--config NAME[@BINARY]=ARGS]... [--binary PATH] [--data DIR] [--details FILE] [--no-keep]
//!
//! Without `--score`: `slices` at each size. With `--score`: only `score`, on synthetic RAG
//! rows (see [`score_bench`]), each size `--runs` times, then the median. With `--coverage`:
//! only `coverage`, at each size of production rows x test rows (see [`coverage_bench`]).
//! With `--nearest`: the nearest-test search against per-pair loops, in this process.
//! With `--html`: the real `faultmap slices` writing JSON and the HTML page, the page's size,
//! and its open time in headless Chromium (see [`html_bench`]).
//! With `--planted`: the real `faultmap slices` binary on failure groups planted at random into
//! CLINC150 and MMLU-Pro, scored by recall, precision and null false alarms (see [`planted_bench`]).
//! With `--planted-gaps`: the real `faultmap coverage` binary on test suites from which CLINC150
//! intents (a whole domain, single intents) were left out, scored by gap recall, precision, and
//! false alarms on covered intents and on a control suite with every intent (see [`gaps_bench`]).
//!
//! Each run is a child process (this binary with `--one`, `--one-score` or `--one-coverage`),
//! so the peak memory
//! reported (VmHWM from /proc/self/status) belongs to that run alone. Data files go to
//! `bench-data/`.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

mod child;
mod coverage_bench;
mod gaps_bench;
mod html_bench;
mod planted_bench;
mod runs;
mod score_bench;

use faultmap::analysis::slices::{analyze, SlicesConfig};
use faultmap::embed::{
    combined::CombinedEmbedder, hashing::HashingConfig, hashing::HashingEmbedder,
    precomputed::PrecomputedEmbedder, static_model::StaticEmbedder, Embedder,
};
use faultmap::input::{read_dataset, ReadOptions, Requirements};
use faultmap::progress::Progress;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TOPICS: &[(&str, f64, &[&str])] = &[
    (
        "refund",
        0.15,
        &[
            "refund",
            "money back",
            "charged twice",
            "return",
            "reimburse",
            "cancelled order",
        ],
    ),
    (
        "password",
        0.12,
        &[
            "password",
            "reset link",
            "log in",
            "locked out",
            "login email",
            "credentials",
        ],
    ),
    (
        "shipping",
        0.15,
        &[
            "package",
            "tracking number",
            "delivery",
            "courier",
            "shipping address",
            "parcel",
        ],
    ),
    (
        "billing",
        0.12,
        &[
            "invoice",
            "credit card",
            "monthly bill",
            "charge",
            "payment method",
            "receipt",
        ],
    ),
    (
        "vat",
        0.65,
        &[
            "VAT invoice",
            "tax ID",
            "reverse charge",
            "sales tax",
            "tax exempt",
            "VAT number",
        ],
    ),
    (
        "api",
        0.60,
        &[
            "rate limit",
            "webhook",
            "HTTP 429",
            "API key",
            "pagination cursor",
            "signature header",
        ],
    ),
    (
        "gdpr",
        0.55,
        &[
            "GDPR",
            "data residency",
            "DPA",
            "personal data",
            "sub-processor",
            "retention policy",
        ],
    ),
    (
        "upgrade",
        0.10,
        &[
            "upgrade",
            "Pro plan",
            "downgrade",
            "seats",
            "team plan",
            "trial",
        ],
    ),
    (
        "crash",
        0.15,
        &[
            "app crashes",
            "freezes",
            "black screen",
            "update broke",
            "keeps closing",
            "force close",
        ],
    ),
    (
        "export",
        0.12,
        &[
            "export CSV",
            "download report",
            "Excel file",
            "scheduled export",
            "backup",
            "spreadsheet",
        ],
    ),
    (
        "2fa",
        0.10,
        &[
            "two-factor",
            "authenticator",
            "SMS code",
            "recovery codes",
            "security key",
            "2FA",
        ],
    ),
    (
        "account",
        0.12,
        &[
            "change email",
            "close account",
            "merge accounts",
            "add teammate",
            "transfer ownership",
            "username",
        ],
    ),
];
const FRAMES: &[&str] = &[
    "how do I fix the {} problem on my account",
    "I have an issue with {} since yesterday, please help",
    "why does the {} not work for our team anymore",
    "can you explain the {} for customers like us",
    "what should I do about {} before the end of the month",
    "is there a way to handle {} from the mobile app",
    "our admin asked about {} and the {} settings",
    "urgent: {} failing again for the third time today",
];
const FILLER: &[&str] = &[
    "thanks",
    "quickly",
    "again",
    "today",
    "colleague",
    "manager",
    "weekend",
    "Monday",
    "office",
    "customer",
    "order",
    "browser",
    "laptop",
    "phone",
    "premium",
    "support",
    "ticket",
    "minutes",
];

fn generate(path: &Path, rows: usize, dims: Option<usize>) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = BufWriter::new(File::create(path)?);
    let centers: Vec<Vec<f32>> = (0..TOPICS.len())
        .map(|_| {
            (0..dims.unwrap_or(0))
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect()
        })
        .collect();
    for i in 0..rows {
        let t = rng.gen_range(0..TOPICS.len());
        let (_, fail_rate, terms) = TOPICS[t];
        let mut prompt = FRAMES[rng.gen_range(0..FRAMES.len())].to_string();
        while prompt.contains("{}") {
            prompt = prompt.replacen("{}", terms[rng.gen_range(0..terms.len())], 1);
        }
        for _ in 0..rng.gen_range(0..4) {
            prompt.push(' ');
            prompt.push_str(FILLER[rng.gen_range(0..FILLER.len())]);
        }
        let score = if rng.gen_bool(fail_rate) { 0.2 } else { 0.9 };
        let mut row = serde_json::json!({"id": format!("r{i}"), "prompt": prompt, "score": score});
        if dims.is_some() {
            let v: Vec<f32> = centers[t]
                .iter()
                .map(|c| c + rng.gen_range(-0.6..0.6))
                .collect();
            row["embedding"] = serde_json::json!(v);
        }
        writeln!(out, "{row}")?;
    }
    out.flush()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One run in this process; prints one result line.
fn run_one(path: &Path, precomputed: bool) -> faultmap::Result<()> {
    let started = Instant::now();
    let options = ReadOptions {
        requirements: Requirements {
            outcome: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let data = read_dataset(path.to_str().expect("utf-8 path"), &options)?;
    let read = started.elapsed();
    let embedder: Box<dyn Embedder> = if precomputed {
        let vectors = data
            .records
            .iter()
            .map(|r| r.embedding.clone().unwrap_or_default())
            .collect();
        Box::new(PrecomputedEmbedder::new(vectors)?)
    } else {
        // The command's default embedder (`hash+static`, hashing seeded like `--seed 42`).
        Box::new(CombinedEmbedder {
            first: Box::new(HashingEmbedder::new(HashingConfig {
                seed: 42,
                ..HashingConfig::default()
            })),
            second: Box::new(StaticEmbedder::builtin()?),
            weight: 0.5,
        })
    };
    let report = analyze(
        &data,
        embedder.as_ref(),
        &SlicesConfig::default(),
        &Progress::hidden(),
    )?;
    let total = started.elapsed();
    println!(
        "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {} | {} |",
        data.records.len(),
        if precomputed {
            "precomputed 384-d"
        } else {
            "hash+static (default)"
        },
        total.as_secs_f64(),
        read.as_secs_f64(),
        report.timings.embed.as_secs_f64(),
        report.timings.cluster.as_secs_f64(),
        report.timings.test_and_describe.as_secs_f64(),
        peak_rss_mib(),
        report
            .parameters
            .clustering
            .fit_sample_size
            .map_or("-".to_string(), |n| n.to_string()),
        report.num_significant,
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if args.iter().any(|a| a == "--planted-gaps") {
        gaps_bench::main(&args);
        return;
    }
    if args.iter().any(|a| a == "--planted") {
        planted_bench::main(&args);
        return;
    }
    if let Some(path) = value("--one-score") {
        let phases = !args.iter().any(|a| a == "--no-phases");
        if let Err(e) = score_bench::run_one(Path::new(&path), phases) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    if let Some(sizes) = value("--score") {
        let sizes: Vec<usize> = sizes
            .split(',')
            .map(|s| s.parse().expect("--score takes numbers"))
            .collect();
        let runs: usize = value("--runs").map_or(5, |r| r.parse().expect("--runs takes a number"));
        score_bench::run_all(&sizes, runs.max(1));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--one-coverage") {
        let (Some(tests), Some(production)) = (args.get(i + 1), args.get(i + 2)) else {
            eprintln!("--one-coverage takes TESTS PRODUCTION");
            std::process::exit(2);
        };
        if let Err(e) = coverage_bench::run_one(tests, production) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    let runs = |default: usize| {
        value("--runs")
            .map_or(default, |r| r.parse().expect("--runs takes a number"))
            .max(1)
    };
    let pairs = |list: String| -> Vec<(usize, usize)> {
        list.split(',').map(coverage_bench::parse_size).collect()
    };
    if let Some(sizes) = value("--coverage") {
        coverage_bench::run_all(&pairs(sizes), runs(3));
        return;
    }
    if let Some(rows) = value("--html") {
        let rows = rows.parse().expect("--html takes a number of rows");
        let binary = value("--binary").map_or_else(
            || {
                std::env::current_exe()
                    .expect("own path")
                    .with_file_name("faultmap")
            },
            PathBuf::from,
        );
        html_bench::main(rows, runs(3), &binary);
        return;
    }
    if let Some(sizes) = value("--nearest") {
        coverage_bench::nearest(&pairs(sizes), runs(3));
        return;
    }
    if let Some(path) = value("--one") {
        let precomputed = args.iter().any(|a| a == "--is-precomputed");
        if let Err(e) = run_one(Path::new(&path), precomputed) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    let sizes: Vec<usize> = value("--sizes")
        .unwrap_or_else(|| "10000,100000,1000000".into())
        .split(',')
        .map(|s| s.parse().expect("--sizes takes numbers"))
        .collect();
    let precomputed: Option<usize> = match value("--precomputed").as_deref() {
        Some("0") => None,
        Some(n) => Some(n.parse().expect("--precomputed takes a number")),
        None => Some(10_000),
    };
    let dir = PathBuf::from("bench-data");
    std::fs::create_dir_all(&dir).expect("create bench-data/");
    let exe = std::env::current_exe().expect("own path");
    println!("| rows | embedder | total s | read s | embed s | cluster s | test+describe s | peak MiB | fit sample | significant |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut jobs: Vec<(usize, bool)> = sizes.iter().map(|&n| (n, false)).collect();
    jobs.extend(precomputed.map(|n| (n, true)));
    for (rows, pre) in jobs {
        let path = dir.join(if pre {
            format!("pre{rows}.jsonl")
        } else {
            format!("rows{rows}.jsonl")
        });
        if !path.exists() {
            generate(&path, rows, pre.then_some(384)).expect("write benchmark data");
        }
        let mut cmd = Command::new(&exe);
        cmd.arg("--one").arg(&path);
        if pre {
            cmd.arg("--is-precomputed");
        }
        let status = cmd.status().expect("run child");
        if !status.success() {
            eprintln!("run on {} failed", path.display());
        }
    }
}
