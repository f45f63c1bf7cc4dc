//! `faultmap coverage` on test suites with gaps planted at random into CLINC150: whole intents
//! are left out of the tests while production still asks about them. Every draw is random and
//! seeded, so nothing in `faultmap` can be tuned to it.
//!
//!     cargo run --release --features bench --bin faultmap-bench -- --planted-gaps --seeds 20
//!     faultmap-bench --planted-gaps --seeds 5 --config default= --config strict=--alpha 0.01
//!     faultmap-bench --planted-gaps --config before@/tmp/old/faultmap= --config after= \
//!         --details gaps.jsonl
//!
//! **Corpus** (read-only; `--data DIR`, else `$FAULTMAP_SHARED_DATA`, else `../shared/data`):
//! the in-scope rows of CLINC150 `clinc150/all.jsonl`, 150 intents of 150 rows in 10 domains of
//! 15 intents (`metadata.intent`, `metadata.domain`).
//!
//! **Draws**, per seed (ChaCha8Rng from the seed xor a constant of this benchmark):
//! - for each intent, in sorted order: its rows shuffled; n ~ U{10..=60} production rows (uneven
//!   traffic) and m ~ U{5..=30} test rows; production gets the first n rows, the tests the
//!   next m (disjoint);
//! - missing intents: with probability 1/2, every intent of one uniformly drawn domain
//!   (`domain`); then k ~ U{3..=10} intents drawn uniformly, without replacement, among those
//!   of the other domains (all domains when none is missing): single missing intents inside
//!   otherwise covered domains (`single`);
//! - production rows and control test rows are shuffled. The control test file holds the tests
//!   of every intent (no gap); the planted test file is the same file without the rows of the
//!   missing intents. Both runs read the same production file.
//!
//! Files (`bench-data/gaps/production-<seed>.jsonl`, `tests-<seed>.jsonl`,
//! `control-tests-<seed>.jsonl`) hold only `id` and `prompt`; the intents stay in memory. Every
//! configuration runs on the same files.
//!
//! **Runs**: `<binary> coverage --tests TESTS --production PROD --format json -q ARGS` as a
//! child process, once with the planted tests and once with the control tests; wall time, and
//! peak RSS from `wait4`. `--config NAME=ARGS` or `NAME@BINARY=ARGS` (repeatable; ARGS runs up to
//! the next option of this benchmark, so `--config strict=--alpha 0.01` needs no quotes); the
//! default is one config `default` with no arguments and the `faultmap` binary next to this one
//! (`--binary PATH` changes it). A failed run is reported and left out of every figure.
//!
//! **Metrics**, per config, pooled over seeds. A row is *in a gap* when some entry of `gaps`
//! lists it in `prompt_indices`, *uncovered* when it is in a gap or in
//! `unclustered_prompt_indices`. *Gap recall*: share of missing intents with >= 50% of their
//! production rows in gaps (all, `domain`, `single`), with 95% Wilson intervals over intents;
//! *uncovered recall* likewise with uncovered rows. *Gap precision*: share of the rows in gaps
//! that belong to missing intents (rows pooled, Wilson). *False-uncovered*: share of the
//! production rows of covered intents that are uncovered (pooled, and the worst seed);
//! *false-in-gap* likewise for rows in gaps. *Control*: share of production rows uncovered under
//! the control tests (pooled, the worst seed, and the seeds at <= 5%). *Aims met*: seeds (both
//! runs succeeded) with gap recall >= 0.9, false-uncovered <= 0.05 and control uncovered <=
//! 0.05. *Thin topics*, on the control runs (every intent tested, at m ~ U{5..=30} tests for
//! n ~ U{10..=60} production rows, so some intents get far fewer tests than their traffic): an
//! intent is *thin* when its own rows, tested as a topic by the command's rule (traffic share p =
//! n / N, t = m of the T tests, density ratio p / ((t + 1/2) / (T + 1)) >= 3 and the binomial
//! P(X <= t) Benjamini-Hochberg adjusted over the 150 intents <= 0.05), are thin. *Thin recall*:
//! share of thin intents with >= 50% of their production rows in reported thin topics
//! (Wilson); *thin precision*: share of the rows in thin topics from thin intents (pooled),
//! and from intents with a density ratio of at least 1.5 (under-tested). *Time*: median and max
//! wall seconds per run; *peak MiB*: the largest RSS of any run.
//! `--details FILE` writes one JSON line per config, seed and missing intent (`"line":
//! "intent"`) and one per config and seed (`"line": "seed"`).

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

use crate::child::{self, fail, row, share, wilson, Config, SeedOptions};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Xored into the seed, so this benchmark's draws are not `--planted`'s of the same seed.
const SEED_XOR: u64 = 0x6761_7073_2d62_656e;

/// The aims a seed must meet: gap recall at least this...
const AIM_RECALL: f64 = 0.9;
/// ...and at most this share of covered rows uncovered, with the planted and the control tests.
const AIM_FALSE: f64 = 0.05;

struct Intent {
    name: String,
    domain: String,
    rows: Vec<usize>,
}

struct Corpus {
    prompts: Vec<String>,
    /// Sorted by name.
    intents: Vec<Intent>,
    /// Sorted.
    domains: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// One of every intent of a missing domain.
    Domain,
    /// A single missing intent in a covered domain.
    Single,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Domain => "domain",
            Kind::Single => "single",
        }
    }
}

/// One seed's draw: rows are (corpus row, intent), in file order.
struct Draw {
    production: Vec<(usize, usize)>,
    control_tests: Vec<(usize, usize)>,
    /// For each intent, whether (and how) it is missing from the planted tests.
    missing: Vec<Option<Kind>>,
    missing_domain: Option<String>,
}

/// Where a production row ended up in a report.
#[derive(Clone, Copy, PartialEq)]
enum Cover {
    Covered,
    /// Uncovered, in no gap.
    Unclustered,
    InGap,
}

/// How one configuration did on one missing intent.
struct Outcome {
    kind: Kind,
    in_gaps: bool,
    uncovered: bool,
}

/// What one configuration gathered over the seeds.
#[derive(Default)]
struct Tally {
    intents: Vec<Outcome>,
    gap_rows: u64,
    gap_rows_missing: u64,
    covered_rows: u64,
    false_uncovered: u64,
    false_in_gap: u64,
    /// (seed, false-uncovered share, false-in-gap share) of each planted run.
    by_seed: Vec<(u64, f64, f64)>,
    control_rows: u64,
    control_uncovered: u64,
    /// (seed, uncovered share) of each control run.
    control_by_seed: Vec<(u64, f64)>,
    complete_seeds: u64,
    aims_met: u64,
    /// Gaps reported by the planted and by the control runs.
    gaps: usize,
    control_gaps: usize,
    secs: Vec<f64>,
    peak_mib: f64,
    failed_runs: u64,
    /// Thin intents of the control runs, and those found (>= 50% of their rows in thin topics).
    thin_intents: u64,
    thin_found: u64,
    /// Rows in the control runs' thin topics; from thin intents; from under-tested intents.
    thin_rows: u64,
    thin_rows_thin: u64,
    thin_rows_under: u64,
    thin_topics: usize,
}

/// The command's thin-topic rule: at least this density ratio...
const THIN_RATIO: f64 = 3.0;
/// ...significant at this Benjamini-Hochberg level.
const THIN_ALPHA: f64 = 0.05;
/// Intents at or above this density ratio count as under-tested for thin precision.
const UNDER_TESTED_RATIO: f64 = 1.5;

/// Each intent's density ratio (traffic share over test share) and whether it is thin by the
/// command's rule, tested on its own rows. `rows[k]` and `tests[k]` count intent `k`'s
/// production rows and tests.
fn thin_intents(rows: &[u64], tests: &[u64]) -> Vec<(f64, bool)> {
    let (n, t) = (rows.iter().sum::<u64>() as f64, tests.iter().sum::<u64>());
    let p_values: Vec<f64> = rows
        .iter()
        .zip(tests)
        .map(|(&r, &m)| faultmap::stats::binomial_lower_tail(m, t, r as f64 / n))
        .collect();
    let adjusted = faultmap::stats::benjamini_hochberg(&p_values);
    rows.iter()
        .zip(tests)
        .zip(adjusted)
        .map(|((&r, &m), q)| {
            let ratio = (r as f64 / n) / ((m as f64 + 0.5) / (t as f64 + 1.0));
            (ratio, ratio >= THIN_RATIO && q <= THIN_ALPHA)
        })
        .collect()
}

fn load(data: &Path) -> Corpus {
    let path = data.join("clinc150/all.jsonl");
    let child::Grouped {
        prompts,
        groups: by_intent,
    } = child::read_grouped(&path, "intent", "domain", true);
    let intents: Vec<Intent> = by_intent
        .into_iter()
        .map(|(name, (domain, rows))| Intent { name, domain, rows })
        .collect();
    if let Some(small) = intents.iter().find(|i| i.rows.len() < 90) {
        fail(format!(
            "{}: intent {} has {} rows, fewer than the 90 a draw may take",
            path.display(),
            small.name,
            small.rows.len()
        ));
    }
    let mut domains: Vec<String> = intents.iter().map(|i| i.domain.clone()).collect();
    domains.sort();
    domains.dedup();
    Corpus {
        prompts,
        intents,
        domains,
    }
}

fn draw(c: &Corpus, seed: u64) -> Draw {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SEED_XOR);
    let mut production = Vec::new();
    let mut control_tests = Vec::new();
    for (k, intent) in c.intents.iter().enumerate() {
        let mut rows = intent.rows.clone();
        rows.shuffle(&mut rng);
        let n = rng.gen_range(10..=60usize);
        let m = rng.gen_range(5..=30usize);
        production.extend(rows[..n].iter().map(|&r| (r, k)));
        control_tests.extend(rows[n..n + m].iter().map(|&r| (r, k)));
    }
    let mut missing = vec![None; c.intents.len()];
    let missing_domain = if rng.gen_bool(0.5) {
        c.domains.choose(&mut rng).cloned()
    } else {
        None
    };
    if let Some(d) = &missing_domain {
        for (m, intent) in missing.iter_mut().zip(&c.intents) {
            if intent.domain == *d {
                *m = Some(Kind::Domain);
            }
        }
    }
    let others: Vec<usize> = (0..c.intents.len())
        .filter(|&k| missing[k].is_none())
        .collect();
    let singles = rng.gen_range(3..=10usize).min(others.len());
    for &k in others.choose_multiple(&mut rng, singles) {
        missing[k] = Some(Kind::Single);
    }
    production.shuffle(&mut rng);
    control_tests.shuffle(&mut rng);
    Draw {
        production,
        control_tests,
        missing,
        missing_domain,
    }
}

fn write_rows<'a>(
    c: &Corpus,
    path: &Path,
    rows: impl Iterator<Item = &'a (usize, usize)>,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for &(r, _) in rows {
        writeln!(
            out,
            "{}",
            json!({"id": format!("clinc-{r}"), "prompt": c.prompts[r]})
        )?;
    }
    out.flush()
}

/// The part of a `coverage --format json` report the benchmark reads.
#[derive(Deserialize)]
struct Report {
    num_production: usize,
    gaps: Vec<ReportGap>,
    thin_topics: Vec<ReportGap>,
    #[serde(default)]
    unclustered_prompt_indices: Vec<usize>,
}

#[derive(Deserialize)]
struct ReportGap {
    prompt_indices: Vec<usize>,
}

/// What one run reported: wall seconds, peak RSS MiB, the number of gaps, each production
/// row's cover, and the production rows of each thin topic.
struct Done {
    secs: f64,
    mib: f64,
    gaps: usize,
    cover: Vec<Cover>,
    thin: Vec<Vec<usize>>,
}

/// Runs one configuration on a test file against the production file of `rows` rows.
fn run(config: &Config, tests: &Path, production: &Path, rows: usize) -> Result<Done, String> {
    let command = [
        "coverage".as_ref(),
        "--tests".as_ref(),
        tests.as_os_str(),
        "--production".as_ref(),
        production.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "-q".as_ref(),
    ];
    let done = child::run(config, command, &[])?;
    let report: Report = serde_json::from_str(&done.stdout)
        .map_err(|e| format!("bad JSON report ({} bytes): {e}", done.stdout.len()))?;
    if report.num_production != rows {
        return Err(format!(
            "the report has num_production {}, the file {rows} rows",
            report.num_production
        ));
    }
    let mut cover = vec![Cover::Covered; rows];
    let gap_rows = report.gaps.iter().flat_map(|g| &g.prompt_indices);
    for (&i, state) in report
        .unclustered_prompt_indices
        .iter()
        .map(|i| (i, Cover::Unclustered))
        .chain(gap_rows.map(|i| (i, Cover::InGap)))
    {
        *cover
            .get_mut(i)
            .ok_or_else(|| format!("the report names row {i} of {rows}"))? = state;
    }
    let thin: Vec<Vec<usize>> = report
        .thin_topics
        .into_iter()
        .map(|t| t.prompt_indices)
        .collect();
    if let Some(&i) = thin.iter().flatten().find(|&&i| i >= rows) {
        return Err(format!("a thin topic names row {i} of {rows}"));
    }
    Ok(Done {
        secs: done.secs,
        mib: done.peak_mib,
        gaps: report.gaps.len(),
        cover,
        thin,
    })
}

fn ratio(k: u64, n: u64) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        k as f64 / n as f64
    }
}

fn parse(args: &[String]) -> SeedOptions {
    child::parse_options(args, "--planted-gaps", &["--planted-gaps"], |i| {
        (args[i] == "--planted-gaps").then_some(i)
    })
    .finish()
}

pub fn main(args: &[String]) {
    let o = parse(args);
    let dir = PathBuf::from("bench-data/gaps");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| fail(format!("cannot create {}: {e}", dir.display())));
    let mut details = o.details.as_ref().map(|p| {
        BufWriter::new(File::create(p).unwrap_or_else(|e| fail(format!("{}: {e}", p.display()))))
    });
    let mut detail = |line: Value| {
        if let Some(d) = details.as_mut() {
            writeln!(d, "{line}").unwrap_or_else(|e| fail(format!("--details: {e}")));
        }
    };
    let corpus = load(&o.data);
    eprintln!(
        "clinc: {} in-scope rows, {} intents, {} domains",
        corpus.prompts.len(),
        corpus.intents.len(),
        corpus.domains.len()
    );
    let mut tallies: Vec<Tally> = o.configs.iter().map(|_| Tally::default()).collect();
    for seed in o.first_seed..o.first_seed + o.seeds {
        let d = draw(&corpus, seed);
        let production_path = dir.join(format!("production-{seed}.jsonl"));
        let tests_path = dir.join(format!("tests-{seed}.jsonl"));
        let control_path = dir.join(format!("control-tests-{seed}.jsonl"));
        let planted_tests = d
            .control_tests
            .iter()
            .filter(|&&(_, k)| d.missing[k].is_none());
        write_rows(&corpus, &production_path, d.production.iter())
            .and_then(|()| write_rows(&corpus, &tests_path, planted_tests))
            .and_then(|()| write_rows(&corpus, &control_path, d.control_tests.iter()))
            .unwrap_or_else(|e| fail(format!("cannot write {}: {e}", dir.display())));
        let n = d.production.len();
        // Production rows of each intent.
        let mut per_intent = vec![0u64; corpus.intents.len()];
        for &(_, k) in &d.production {
            per_intent[k] += 1;
        }
        let missing: Vec<usize> = (0..corpus.intents.len())
            .filter(|&k| d.missing[k].is_some())
            .collect();
        let mut control_per_intent = vec![0u64; corpus.intents.len()];
        for &(_, k) in &d.control_tests {
            control_per_intent[k] += 1;
        }
        let intent_thin = thin_intents(&per_intent, &control_per_intent);
        let covered_rows: u64 = d
            .production
            .iter()
            .filter(|&&(_, k)| d.missing[k].is_none())
            .count() as u64;
        for (config, t) in o.configs.iter().zip(&mut tallies) {
            let mut summary = json!({
                "line": "seed", "config": config.name, "seed": seed,
                "missing_domain": d.missing_domain,
                "missing_intents": missing.len(),
                "single_intents": missing.iter()
                    .filter(|&&k| d.missing[k] == Some(Kind::Single)).count(),
                "production_rows": n, "covered_intent_rows": covered_rows,
            });
            let planted = match run(config, &tests_path, &production_path, n) {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("gaps seed {seed} {}: FAILED: {e}", config.name);
                    t.failed_runs += 1;
                    summary["error"] = json!(e);
                    None
                }
            };
            let mut seed_recall = None;
            let mut seed_false_uncovered = None;
            if let Some(Done {
                secs,
                mib,
                gaps,
                cover,
                ..
            }) = planted
            {
                t.secs.push(secs);
                t.peak_mib = t.peak_mib.max(mib);
                t.gaps += gaps;
                let mut in_gaps = vec![0u64; corpus.intents.len()];
                let mut uncovered = vec![0u64; corpus.intents.len()];
                for (&(_, k), &c) in d.production.iter().zip(&cover) {
                    in_gaps[k] += u64::from(c == Cover::InGap);
                    uncovered[k] += u64::from(c != Cover::Covered);
                }
                let (mut found_gaps, mut found_uncovered) = (0, 0);
                for &k in &missing {
                    let kind = d.missing[k].expect("missing");
                    let outcome = Outcome {
                        kind,
                        in_gaps: 2 * in_gaps[k] >= per_intent[k],
                        uncovered: 2 * uncovered[k] >= per_intent[k],
                    };
                    found_gaps += usize::from(outcome.in_gaps);
                    found_uncovered += usize::from(outcome.uncovered);
                    let intent = &corpus.intents[k];
                    detail(json!({
                        "line": "intent", "config": config.name, "seed": seed,
                        "intent": intent.name, "domain": intent.domain, "kind": kind.name(),
                        "production_rows": per_intent[k],
                        "share_in_gaps": ratio(in_gaps[k], per_intent[k]),
                        "share_uncovered": ratio(uncovered[k], per_intent[k]),
                        "found_in_gaps": outcome.in_gaps, "found_uncovered": outcome.uncovered,
                    }));
                    t.intents.push(outcome);
                }
                let gap_rows = in_gaps.iter().sum::<u64>();
                let gap_rows_missing = missing.iter().map(|&k| in_gaps[k]).sum::<u64>();
                let false_in_gap = gap_rows - gap_rows_missing;
                let false_uncovered = uncovered.iter().sum::<u64>()
                    - missing.iter().map(|&k| uncovered[k]).sum::<u64>();
                t.gap_rows += gap_rows;
                t.gap_rows_missing += gap_rows_missing;
                t.covered_rows += covered_rows;
                t.false_uncovered += false_uncovered;
                t.false_in_gap += false_in_gap;
                let fu = ratio(false_uncovered, covered_rows);
                let fg = ratio(false_in_gap, covered_rows);
                t.by_seed.push((seed, fu, fg));
                let recall = ratio(found_gaps as u64, missing.len() as u64);
                seed_recall = Some(recall);
                seed_false_uncovered = Some(fu);
                for (key, value) in [
                    ("secs", json!(secs)),
                    ("gaps", json!(gaps)),
                    ("gap_rows", json!(gap_rows)),
                    ("gap_precision", json!(ratio(gap_rows_missing, gap_rows))),
                    ("gap_recall", json!(recall)),
                    (
                        "uncovered_recall",
                        json!(ratio(found_uncovered as u64, missing.len() as u64)),
                    ),
                    ("false_uncovered", json!(fu)),
                    ("false_in_gap", json!(fg)),
                ] {
                    summary[key] = value;
                }
                eprintln!(
                    "gaps seed {seed} {}: {secs:.1} s, {gaps} gaps, gap recall {found_gaps}/{}, \
                     uncovered recall {found_uncovered}/{}, false-uncovered {fu:.3}",
                    config.name,
                    missing.len(),
                    missing.len()
                );
            }
            let mut seed_control = None;
            match run(config, &control_path, &production_path, n) {
                Ok(Done {
                    secs,
                    mib,
                    gaps,
                    cover,
                    thin,
                }) => {
                    let (found, rows, rows_thin, rows_under) =
                        thin_outcome(&thin, &d, &per_intent, &intent_thin);
                    t.thin_intents += intent_thin.iter().filter(|x| x.1).count() as u64;
                    t.thin_found += found;
                    t.thin_rows += rows;
                    t.thin_rows_thin += rows_thin;
                    t.thin_rows_under += rows_under;
                    t.thin_topics += thin.len();
                    summary["control_thin_topics"] = json!(thin.len());
                    summary["control_thin_found"] = json!(found);
                    t.secs.push(secs);
                    t.peak_mib = t.peak_mib.max(mib);
                    let uncovered = cover.iter().filter(|&&c| c != Cover::Covered).count() as u64;
                    t.control_gaps += gaps;
                    t.control_rows += n as u64;
                    t.control_uncovered += uncovered;
                    let share = ratio(uncovered, n as u64);
                    t.control_by_seed.push((seed, share));
                    seed_control = Some(share);
                    summary["control_secs"] = json!(secs);
                    summary["control_gaps"] = json!(gaps);
                    summary["control_uncovered"] = json!(share);
                    eprintln!(
                        "control seed {seed} {}: {secs:.1} s, {gaps} gaps, uncovered {share:.3}",
                        config.name
                    );
                }
                Err(e) => {
                    eprintln!("control seed {seed} {}: FAILED: {e}", config.name);
                    t.failed_runs += 1;
                    summary["control_error"] = json!(e);
                }
            }
            if let (Some(recall), Some(fu), Some(control)) =
                (seed_recall, seed_false_uncovered, seed_control)
            {
                let met = recall >= AIM_RECALL && fu <= AIM_FALSE && control <= AIM_FALSE;
                t.complete_seeds += 1;
                t.aims_met += u64::from(met);
                summary["meets_aims"] = json!(met);
            }
            detail(summary);
        }
        if !o.keep {
            for p in [&production_path, &tests_path, &control_path] {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    if let Some(d) = details.as_mut() {
        d.flush()
            .unwrap_or_else(|e| fail(format!("--details: {e}")));
    }
    print_tables(&o.configs, &tallies, o.first_seed, o.seeds);
}

/// On a control run: thin intents found (>= 50% of their rows in thin topics), rows in thin
/// topics, and of those the rows of thin and of under-tested intents.
fn thin_outcome(
    thin: &[Vec<usize>],
    d: &Draw,
    per_intent: &[u64],
    intent_thin: &[(f64, bool)],
) -> (u64, u64, u64, u64) {
    let mut in_thin = vec![0u64; per_intent.len()];
    for &i in thin.iter().flatten() {
        in_thin[d.production[i].1] += 1;
    }
    let found = (0..per_intent.len())
        .filter(|&k| intent_thin[k].1 && 2 * in_thin[k] >= per_intent[k])
        .count() as u64;
    let of = |keep: &dyn Fn(usize) -> bool| {
        (0..per_intent.len())
            .filter(|&k| keep(k))
            .map(|k| in_thin[k])
            .sum::<u64>()
    };
    (
        found,
        of(&|_| true),
        of(&|k| intent_thin[k].1),
        of(&|k| intent_thin[k].0 >= UNDER_TESTED_RATIO),
    )
}

/// Recall of some missing intents, by `hit`, with its Wilson interval.
fn recall<'a>(intents: impl Iterator<Item = &'a Outcome>, hit: fn(&Outcome) -> bool) -> String {
    let (mut hits, mut n) = (0, 0);
    for o in intents {
        n += 1;
        hits += u64::from(hit(o));
    }
    wilson(hits, n)
}

/// The pooled share k/n and the worst seed's, to three decimals.
fn with_worst(k: u64, n: u64, by_seed: impl Iterator<Item = (u64, f64)>) -> String {
    let worst = by_seed.fold(None, |w: Option<(u64, f64)>, (s, x)| match w {
        Some((_, y)) if y >= x => w,
        _ => Some((s, x)),
    });
    match worst {
        Some((seed, x)) => format!("{:.3} (worst {x:.3}, seed {seed})", ratio(k, n)),
        None => "-".into(),
    }
}

fn print_tables(configs: &[Config], tallies: &[Tally], first_seed: u64, seeds: u64) {
    let last = first_seed + seeds.max(1) - 1;
    println!(
        "\nPlanted gaps, seeds {first_seed}..={last}: a missing intent is found when >= 50% of \
         its production rows are in reported gaps (gap recall) or uncovered (uncovered recall); \
         [95% Wilson interval over intents]; domain = the intents of a missing domain, single = \
         a missing intent in a covered domain.\n"
    );
    println!(
        "{}",
        row(&[
            "config",
            "missing",
            "gap recall",
            "uncovered recall",
            "domain: n",
            "gap recall",
            "uncovered recall",
            "single: n",
            "gap recall",
            "uncovered recall",
        ]
        .map(String::from))
    );
    println!("|---|---:|---|---|---:|---|---|---:|---|---|");
    let in_gaps: fn(&Outcome) -> bool = |o| o.in_gaps;
    let uncovered: fn(&Outcome) -> bool = |o| o.uncovered;
    for (config, t) in configs.iter().zip(tallies) {
        let of = |kind: Kind| t.intents.iter().filter(move |o| o.kind == kind);
        println!(
            "{}",
            row(&[
                config.name.clone(),
                t.intents.len().to_string(),
                recall(t.intents.iter(), in_gaps),
                recall(t.intents.iter(), uncovered),
                of(Kind::Domain).count().to_string(),
                recall(of(Kind::Domain), in_gaps),
                recall(of(Kind::Domain), uncovered),
                of(Kind::Single).count().to_string(),
                recall(of(Kind::Single), in_gaps),
                recall(of(Kind::Single), uncovered),
            ])
        );
    }
    println!(
        "\ngap precision = share of the rows in gaps from missing intents [95% Wilson]; \
         false-uncovered / false-in-gap = share of covered intents' production rows uncovered / \
         in gaps (pooled; worst seed); control = share of production rows uncovered with every \
         intent tested; aims met = seeds with gap recall >= {AIM_RECALL}, false-uncovered <= \
         {AIM_FALSE} and control <= {AIM_FALSE}.\n"
    );
    println!(
        "{}",
        row(&[
            "config",
            "gap precision (rows)",
            "gaps per run (control)",
            "false-uncovered",
            "false-in-gap",
            "control uncovered",
            "control <= 5%",
            "aims met",
            "median s",
            "max s",
            "peak MiB",
            "failed runs",
        ]
        .map(String::from))
    );
    println!("|---|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|");
    for (config, t) in configs.iter().zip(tallies) {
        let control_ok = t
            .control_by_seed
            .iter()
            .filter(|&&(_, x)| x <= AIM_FALSE)
            .count();
        println!(
            "{}",
            row(&[
                config.name.clone(),
                format!(
                    "{} ({})",
                    wilson(t.gap_rows_missing, t.gap_rows),
                    t.gap_rows
                ),
                format!(
                    "{} ({})",
                    share(t.gaps, t.by_seed.len()),
                    share(t.control_gaps, t.control_by_seed.len())
                ),
                with_worst(
                    t.false_uncovered,
                    t.covered_rows,
                    t.by_seed.iter().map(|&(s, fu, _)| (s, fu))
                ),
                with_worst(
                    t.false_in_gap,
                    t.covered_rows,
                    t.by_seed.iter().map(|&(s, _, fg)| (s, fg))
                ),
                with_worst(
                    t.control_uncovered,
                    t.control_rows,
                    t.control_by_seed.iter().copied()
                ),
                format!("{control_ok}/{}", t.control_by_seed.len()),
                format!("{}/{}", t.aims_met, t.complete_seeds),
                format!("{:.1}", crate::runs::median(t.secs.clone())),
                format!("{:.1}", t.secs.iter().copied().fold(f64::NAN, f64::max)),
                format!("{:.0}", t.peak_mib),
                t.failed_runs.to_string(),
            ])
        );
    }
    println!(
        "\nthin topics (control runs): an intent is thin when its own rows pass the command's \
         rule (density ratio >= {THIN_RATIO}, BH-adjusted binomial p <= {THIN_ALPHA}); thin \
         recall = thin intents with >= 50% of their rows in thin topics [95% Wilson]; thin \
         precision = share of the rows in thin topics from thin intents, and from intents at a \
         density ratio >= {UNDER_TESTED_RATIO}.\n"
    );
    println!(
        "{}",
        row(&[
            "config",
            "thin intents",
            "thin recall",
            "thin topics per run",
            "rows in thin topics",
            "from thin intents",
            "from under-tested intents",
        ]
        .map(String::from))
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    for (config, t) in configs.iter().zip(tallies) {
        println!(
            "{}",
            row(&[
                config.name.clone(),
                t.thin_intents.to_string(),
                wilson(t.thin_found, t.thin_intents),
                share(t.thin_topics, t.control_by_seed.len()),
                t.thin_rows.to_string(),
                format!("{:.3}", ratio(t.thin_rows_thin, t.thin_rows)),
                format!("{:.3}", ratio(t.thin_rows_under, t.thin_rows)),
            ])
        );
    }
}
