//! `coverage` end to end, and a micro-benchmark of the nearest-test search.
//!
//! **Data** (`generate`): prompts of 24 support topics (the 12 of the `slices` benchmark and 12
//! more), written like the `slices` tickets: a frame with one or two topic terms, sometimes a
//! detail, 0-3 filler words. Production traffic is uneven across topics (topic t has weight
//! 1 / (1 + t / 4)), and 35% of production rows repeat an earlier prompt, mostly a popular
//! one, as real logs do. The tests are drawn from the same generator with their own seed:
//! topics 0-15 in proportion to their traffic, topics 16-19 at an eighth of it (thinly
//! tested), and topics 20-23 not at all (the gaps). Same sizes, same bytes.
//!
//! **Runs** (`run_one`): a child process builds the configuration and the embedder from the
//! real `faultmap coverage` arguments (defaults), reads both files as the command does, times
//! `coverage::analyze` and records the peak memory (VmHWM). It then runs the stages again one
//! by one through their public functions to time each; those times come from a second pass in
//! the same process and are not part of the total.
//!
//! **Nearest micro-benchmark** (`nearest`): seeded random unit vectors of 256 dimensions; for
//! each query its nearest reference and for each reference its nearest query, by the blocked
//! products of `faultmap::neighbours` and by two per-pair loops over the same rayon chunks.

use crate::runs::{field, median, run_child, with_median, Fields};
use clap::Parser;
use faultmap::analysis::coverage;
use faultmap::cmd::common::read_input;
use faultmap::export::Exporter;
use faultmap::input::Requirements;
use faultmap::matrix::{self, Matrix};
use faultmap::neighbours::{self, Nearest};
use faultmap::progress::Progress;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Topics beyond the 12 of [`crate::TOPICS`].
const MORE_TOPICS: &[(&str, &[&str])] = &[
    (
        "calendar",
        &[
            "meeting invite",
            "calendar sync",
            "time zone",
            "recurring event",
            "reminder",
            "booking link",
        ],
    ),
    (
        "notifications",
        &[
            "push notification",
            "email alerts",
            "daily digest",
            "mute channel",
            "notification sound",
            "unsubscribe",
        ],
    ),
    (
        "search",
        &[
            "search results",
            "filters",
            "saved search",
            "keyword match",
            "sort order",
            "search index",
        ],
    ),
    (
        "integrations",
        &[
            "Slack integration",
            "Zapier",
            "Salesforce sync",
            "Google Drive",
            "Jira plugin",
            "OAuth app",
        ],
    ),
    (
        "reports",
        &[
            "dashboard",
            "analytics chart",
            "KPI widget",
            "monthly report",
            "conversion rate",
            "funnel",
        ],
    ),
    (
        "mobile",
        &[
            "iOS app",
            "Android app",
            "tablet layout",
            "offline mode",
            "app store",
            "widget",
        ],
    ),
    (
        "printing",
        &[
            "print preview",
            "PDF export",
            "page margins",
            "printer",
            "label sheet",
            "paper size",
        ],
    ),
    (
        "inventory",
        &[
            "stock level",
            "warehouse",
            "SKU",
            "backorder",
            "reorder point",
            "barcode scanner",
        ],
    ),
    (
        "language",
        &[
            "translation",
            "language setting",
            "right-to-left",
            "date format",
            "currency symbol",
            "locale",
        ],
    ),
    (
        "accessibility",
        &[
            "screen reader",
            "keyboard shortcuts",
            "high contrast",
            "font size",
            "captions",
            "zoom level",
        ],
    ),
    (
        "contracts",
        &[
            "contract renewal",
            "cancellation notice",
            "terms of service",
            "SLA",
            "purchase order",
            "quote",
        ],
    ),
    (
        "security",
        &[
            "phishing email",
            "suspicious login",
            "IP allowlist",
            "audit log",
            "SSO",
            "session timeout",
        ],
    ),
];
const DETAILS: &[&str] = &[
    "for order 4471",
    "on the EU workspace",
    "after the last release",
    "for 40 users",
    "in the admin console",
    "since we moved offices",
    "on Safari",
    "for the sandbox account",
];
/// Topics 16-19 get an eighth of their proportional tests, topics 20-23 none.
const THIN_FROM: usize = 16;
const MISSING_FROM: usize = 20;
const NUM_TOPICS: usize = 24;
/// Share of production rows that repeat an earlier prompt.
const REPEAT: f64 = 0.35;

fn topic_terms(t: usize) -> &'static [&'static str] {
    match crate::TOPICS.get(t) {
        Some((_, _, terms)) => terms,
        None => MORE_TOPICS[t - crate::TOPICS.len()].1,
    }
}

fn prompt(rng: &mut ChaCha8Rng, topic: usize) -> String {
    let terms = topic_terms(topic);
    let mut p = crate::FRAMES[rng.gen_range(0..crate::FRAMES.len())].to_string();
    while p.contains("{}") {
        p = p.replacen("{}", terms[rng.gen_range(0..terms.len())], 1);
    }
    if rng.gen_bool(0.3) {
        p.push(' ');
        p.push_str(DETAILS[rng.gen_range(0..DETAILS.len())]);
    }
    for _ in 0..rng.gen_range(0..4) {
        p.push(' ');
        p.push_str(crate::FILLER[rng.gen_range(0..crate::FILLER.len())]);
    }
    p
}

/// Draws an index from unnormalized weights.
fn draw(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let mut x = rng.gen_range(0.0..weights.iter().sum::<f64>());
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn traffic_weights() -> Vec<f64> {
    (0..NUM_TOPICS)
        .map(|t| 1.0 / (1.0 + t as f64 / 4.0))
        .collect()
}

fn write_rows(path: &Path, prefix: &str, prompts: &[String]) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for (i, p) in prompts.iter().enumerate() {
        writeln!(
            out,
            "{}",
            serde_json::json!({"id": format!("{prefix}{i}"), "prompt": p})
        )?;
    }
    out.flush()
}

/// Writes `rows` production prompts (seeded: same rows, same bytes).
fn generate_production(path: &Path, rows: usize) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let weights = traffic_weights();
    let mut prompts: Vec<String> = Vec::with_capacity(rows);
    for _ in 0..rows {
        let p = if !prompts.is_empty() && rng.gen_bool(REPEAT) {
            // Skewed towards the earliest prompts: a few popular prompts repeat a lot.
            let u: f64 = rng.gen();
            prompts[(u.powi(4) * prompts.len() as f64) as usize].clone()
        } else {
            let topic = draw(&mut rng, &weights);
            prompt(&mut rng, topic)
        };
        prompts.push(p);
    }
    write_rows(path, "p", &prompts)
}

/// Writes `rows` test prompts (seeded: same rows, same bytes).
fn generate_tests(path: &Path, rows: usize) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(29);
    let weights: Vec<f64> = traffic_weights()
        .into_iter()
        .enumerate()
        .map(|(t, w)| match t {
            t if t >= MISSING_FROM => 0.0,
            t if t >= THIN_FROM => w / 8.0,
            _ => w,
        })
        .collect();
    let prompts: Vec<String> = (0..rows)
        .map(|_| {
            let topic = draw(&mut rng, &weights);
            prompt(&mut rng, topic)
        })
        .collect();
    write_rows(path, "t", &prompts)
}

/// The data files of one size, generated if missing.
fn data_files(production: usize, tests: usize) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from("bench-data");
    std::fs::create_dir_all(&dir).expect("create bench-data/");
    let t = dir.join(format!("coverage_tests{tests}.jsonl"));
    let p = dir.join(format!("coverage_production{production}.jsonl"));
    if !t.exists() {
        generate_tests(&t, tests).expect("write test prompts");
    }
    if !p.exists() {
        generate_production(&p, production).expect("write production prompts");
    }
    (t, p)
}

/// The arguments of `faultmap coverage`, parsed as the command parses them.
#[derive(Parser)]
struct CoverageCli {
    #[command(flatten)]
    args: faultmap::cmd::coverage::Args,
}

/// One measured run in this process; prints one `RESULT key=value ...` line.
pub fn run_one(tests_path: &str, production_path: &str) -> faultmap::Result<()> {
    let args = CoverageCli::parse_from([
        "coverage",
        "--tests",
        tests_path,
        "--production",
        production_path,
        "--quiet",
    ])
    .args;
    let hidden = Progress::hidden();
    let config = args.config()?;
    let started = Instant::now();
    let options = args
        .embedding
        .apply(args.read.options(Requirements::default(), Vec::new()));
    let tests = read_input(&args.tests, &options, &args.output)?;
    let production = read_input(&args.production, &options, &args.output)?;
    let read = started.elapsed().as_secs_f64();
    let embedder = args.embed.build(
        &[&tests, &production],
        &args.embedding.path(),
        args.clustering.seed,
        args.output.quiet,
        faultmap::cmd::common::EmbedFor::Coverage,
    )?;
    let weights = faultmap::cmd::coverage::weights(&production);
    let t = Instant::now();
    let mut report = coverage::analyze(
        &tests,
        &production,
        &weights,
        embedder.as_ref(),
        &config,
        &hidden,
    )?;
    let total = t.elapsed().as_secs_f64();
    let peak = crate::peak_rss_mib();
    let distinct = production
        .records
        .iter()
        .map(|r| r.prompt.as_str())
        .collect::<HashSet<_>>()
        .len();
    let summary = format!(
        "tests={} production={} distinct={distinct} read={read:.4} total={total:.4} peak={peak:.1} \
         coverage={:.4} gaps={} thin={} by_distance={} by_neighbours={}",
        report.num_tests,
        report.num_production,
        report.overall_coverage_score,
        report.num_gaps,
        report.num_thin_topics,
        report.num_uncovered_by_distance,
        report.num_uncovered_by_neighbours,
    );

    // The stages again, one by one.
    let mut stages = String::new();
    let mut timed = |name: &str, t: Instant| {
        stages.push_str(&format!(" {name}={:.4}", t.elapsed().as_secs_f64()));
    };
    let t = Instant::now();
    let embedded = coverage::embed(
        &tests,
        &production,
        &weights,
        embedder.as_ref(),
        &config,
        &hidden,
    )?;
    timed("embed", t);
    let t = Instant::now();
    let nearest = coverage::nearest_tests(&embedded, &hidden);
    timed("nearest", t);
    let t = Instant::now();
    // The reference sample is a hash of the texts and a copy of 20,000 rows: timed with the
    // threshold, whose smoothing is its first user.
    let references = coverage::reference_sample(&embedded, &config);
    let threshold =
        coverage::calibrate_threshold(&embedded, &nearest, &references, &config, &hidden)?;
    timed("calibrate", t);
    let t = Instant::now();
    let uncovered = coverage::uncovered(
        &embedded,
        &nearest,
        &references,
        &threshold,
        &config,
        &hidden,
    );
    timed("rules", t);
    let t = Instant::now();
    let gaps = coverage::find_gaps(&embedded, &nearest, &uncovered, &config, &hidden)?;
    let uncovered = uncovered.confirm(&gaps);
    timed("gaps_s", t);
    let t = Instant::now();
    let thin = coverage::find_thin_topics(
        &embedded,
        &nearest,
        &threshold,
        &uncovered.reasons,
        &gaps,
        &config,
        &hidden,
    )?;
    timed("thin_s", t);
    std::hint::black_box((gaps.gaps.len(), thin.topics.len()));
    // What `--format html` adds: the map of both files, then the page.
    let t = Instant::now();
    let (coords, drawn) = coverage::map::place(
        &embedded,
        faultmap::cluster::MapLayout::Umap,
        config.gap_clustering.seed,
        &hidden,
    )?;
    timed("map", t);
    (report.coords, report.map) = (Some(coords), drawn);
    let t = Instant::now();
    let page = faultmap::export::html::CoverageHtml.export(&report)?;
    timed("html", t);
    stages.push_str(&format!(" page_kb={:.0}", page.len() as f64 / 1e3));
    println!("RESULT {summary}{stages}");
    Ok(())
}

/// Parses `PxT` (production rows x test rows).
pub fn parse_size(s: &str) -> (usize, usize) {
    let (p, t) = s
        .split_once('x')
        .unwrap_or_else(|| panic!("expected PRODUCTIONxTESTS, like 10000x10000, got `{s}`"));
    (
        p.parse().expect("production rows"),
        t.parse().expect("test rows"),
    )
}

/// Generates the data if needed, runs each size `runs` times in child processes, prints a row
/// per run and the median of each column.
pub fn run_all(sizes: &[(usize, usize)], runs: usize) {
    let mut all: Vec<Vec<Fields>> = Vec::new();
    for &(production, tests) in sizes {
        let (t, p) = data_files(production, tests);
        let results = (1..=runs)
            .filter_map(|run| {
                run_child(
                    &[OsStr::new("--one-coverage"), t.as_os_str(), p.as_os_str()],
                    &format!("{production}x{tests}, run {run}"),
                )
            })
            .collect();
        all.push(results);
    }
    println!("| production × tests | distinct production | run | total s | embedding s | nearest test s | threshold s | rules s | gaps s | thin topics s | read s | peak MiB | coverage | gaps | thin topics | HTML map s | HTML page s | page KB |");
    println!(
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for runs in &all {
        for (label, f) in with_median(runs) {
            let g = |k: &str| field(&f, k);
            println!(
                "| {:.0} × {:.0} | {:.0} | {label} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1}% | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} |",
                g("production"),
                g("tests"),
                g("distinct"),
                g("total"),
                g("embed"),
                g("nearest"),
                g("calibrate"),
                g("rules"),
                g("gaps_s"),
                g("thin_s"),
                g("read"),
                g("peak"),
                100.0 * g("coverage"),
                g("gaps"),
                g("thin"),
                g("map"),
                g("html"),
                g("page_kb"),
            );
        }
    }
}

/// Each query's nearest reference and each reference's nearest query.
type BothWays = (Vec<Nearest>, Vec<Nearest>);

fn random_unit_rows(n: usize, dims: usize, seed: u64) -> Matrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<f32> = (0..n * dims).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut m = Matrix::from_vec(n, dims, data);
    m.normalize_rows();
    m
}

/// A dot product the compiler can vectorize: 16 independent partial sums.
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Nearest both ways with a per-pair loop: chunks of 256 queries in parallel, each against
/// every reference, with the given dot product.
fn per_pair(
    queries: &Matrix,
    references: &Matrix,
    dot: impl Fn(&[f32], &[f32]) -> f32 + Sync,
) -> BothWays {
    const CHUNK: usize = 256;
    let none = Nearest {
        index: None,
        similarity: f32::NEG_INFINITY,
    };
    let better = |best: &Nearest, i: usize, s: f32| {
        best.index
            .is_none_or(|b| s > best.similarity || (s == best.similarity && i < b))
    };
    let states: Vec<BothWays> = (0..queries.rows().div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let start = chunk * CHUNK;
            let end = (start + CHUNK).min(queries.rows());
            let mut rows = vec![none; end - start];
            let mut cols = vec![none; references.rows()];
            for q in start..end {
                let query = queries.row(q);
                for (r, col) in cols.iter_mut().enumerate() {
                    let s = dot(query, references.row(r));
                    if better(&rows[q - start], r, s) {
                        rows[q - start] = Nearest {
                            index: Some(r),
                            similarity: s,
                        };
                    }
                    if better(col, q, s) {
                        *col = Nearest {
                            index: Some(q),
                            similarity: s,
                        };
                    }
                }
            }
            (rows, cols)
        })
        .collect();
    let mut q_to_r = Vec::with_capacity(queries.rows());
    let mut r_to_q = vec![none; references.rows()];
    for (rows, cols) in states {
        q_to_r.extend(rows);
        for (best, c) in r_to_q.iter_mut().zip(cols) {
            if let Some(i) = c.index {
                if better(best, i, c.similarity) {
                    *best = c;
                }
            }
        }
    }
    (q_to_r, r_to_q)
}

/// Rows whose nearest index differs from the blocked search's (rounding can reorder near ties).
fn disagreements(a: &BothWays, b: &BothWays) -> usize {
    let differ =
        |x: &[Nearest], y: &[Nearest]| x.iter().zip(y).filter(|(p, q)| p.index != q.index).count();
    differ(&a.0, &b.0) + differ(&a.1, &b.1)
}

/// The nearest micro-benchmark: blocked products against the two per-pair loops, `runs`
/// times each, then the medians and ratios.
pub fn nearest(sizes: &[(usize, usize)], runs: usize) {
    const DIMS: usize = 256;
    println!(
        "| queries × references | method | median s | runs s | × blocked | nearest index differs |"
    );
    println!("|---|---|---:|---|---:|---:|");
    for &(n_queries, n_refs) in sizes {
        let queries = random_unit_rows(n_queries, DIMS, 1);
        let references = random_unit_rows(n_refs, DIMS, 2);
        let hidden = Progress::hidden();
        type Search<'a> = Box<dyn Fn() -> BothWays + 'a>;
        let methods: Vec<(&str, Search)> = vec![
            (
                "blocked products (`neighbours::nearest_both_ways`)",
                Box::new(|| neighbours::nearest_both_ways(&queries, &references, &hidden)),
            ),
            (
                "per pair, vectorizable dot (16 lanes)",
                Box::new(|| per_pair(&queries, &references, dot_lanes)),
            ),
            (
                "per pair, `matrix::dot`",
                Box::new(|| per_pair(&queries, &references, matrix::dot)),
            ),
        ];
        let mut blocked: Option<(f64, BothWays)> = None;
        for (name, search) in &methods {
            let mut times = Vec::new();
            let mut result = None;
            for _ in 0..runs {
                let t = Instant::now();
                let r = search();
                times.push(t.elapsed().as_secs_f64());
                result = Some(r);
            }
            let result = result.expect("at least one run");
            let m = median(times.clone());
            let (ratio, differs) = match &blocked {
                Some((b, reference)) => (m / b, disagreements(reference, &result).to_string()),
                None => (1.0, "-".to_string()),
            };
            let runs_s: Vec<String> = times.iter().map(|t| format!("{t:.2}")).collect();
            println!(
                "| {n_queries} × {n_refs} | {name} | {m:.3} | {} | {ratio:.1} | {differs} |",
                runs_s.join(", ")
            );
            if blocked.is_none() {
                blocked = Some((m, result));
            }
        }
    }
}
