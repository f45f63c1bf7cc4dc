//! `faultmap slices` on failure groups planted at random into real labelled corpora (in the
//! spirit of dcbench / Domino's synthetic slices). Every draw is random and seeded, so nothing
//! in `faultmap` can be tuned to it.
//!
//!     cargo run --release --features bench --bin faultmap-bench -- --planted clinc,mmlu --seeds 20
//!     cargo run --release --features bench --bin faultmap-bench -- --planted --seeds 5 \
//!         --config default= --config agglo=--clustering agglomerative
//!     faultmap-bench --planted mmlu --config before@/tmp/old/faultmap= --config after= \
//!         --details planted.jsonl
//!
//! **Corpora** (read-only; `--data DIR`, else `$FAULTMAP_SHARED_DATA`, else `../shared/data`):
//! CLINC150 `clinc150/all.jsonl` in-scope rows (group = intent, related groups = same domain)
//! and MMLU-Pro `mmlu_pro/questions.jsonl` (group = `src`, related = same `category`).
//!
//! **Draws**, per corpus and seed (ChaCha8Rng from the seed, one stream per corpus): background failure rate
//! b ~ U(0.03, 0.30); 1-3 disjoint planted groups (a group overlapping an earlier one is
//! redrawn), each of a type drawn uniformly among
//! - `single`: every row of one group whose size is in 30..=600;
//! - `union`: every row of 2-4 groups of the same domain/category, 30..=600 rows in all;
//! - `sub`: the rows of one group whose prompt contains a content word (lowercased alphanumeric
//!   token of >= 4 chars, not a stop word) found in 20-80% of that group's rows, 30..=600 rows:
//!   a keyword-defined sub-intent, semantic and defined independently of any embedding.
//!
//! Each group fails at r ~ U(0.25, 0.80), redrawn until r >= b + 0.10: a failure slice must
//! fail clearly more than the background. Labels are Bernoulli(r) in a planted group and
//! Bernoulli(b) elsewhere. A null file of the same corpus has every row at b. Files
//! (`bench-data/planted/<corpus>-<seed>.jsonl`, `<corpus>-null-<seed>.jsonl`) hold only `id`,
//! `prompt` and `label`; the planted groups are kept in memory. Every configuration runs on the
//! same files.
//!
//! **Runs**: `<binary> slices FILE --format json -q ARGS` as a child process; wall time, and peak
//! RSS from `wait4`. `--config NAME=ARGS` or `NAME@BINARY=ARGS` (repeatable; ARGS runs up to the
//! next option of this benchmark, so `--config agglo=--clustering agglomerative` needs no
//! quotes); the default is one config `default` with no arguments and the `faultmap` binary next
//! to this one (`--binary PATH` changes it).
//!
//! **Metrics**, per corpus x config. A reported slice is an entry of `slices`, its rows its
//! `sample_indices`. *Recall*: share of planted groups matched by a reported slice with
//! Jaccard >= 0.5 (all groups; the *strong* stratum size >= 100, r >= 0.45, b <= 0.15; per type),
//! with 95% Wilson intervals. *Oracle*: share whose exact rows, tested alone against the rest by
//! `enrichment_test`, have p <= 0.05 (no multiplicity): a ceiling for any slice finder.
//! *Mean best Jaccard*. *Precision@5*: of the first min(5, #reported) slices of each planted
//! file, the share with > 50% of their rows planted (pooled over files; files with no slice are
//! counted apart). *Null clean*: share of null files with no slice, and the mean number of slices
//! there. *Time*: median and max wall seconds per run; *peak MiB*: the largest RSS of any run.
//! `--details FILE` writes one JSON line per planted group and config.
//!
//! **Node oracle** (`--node-oracle`): each planted file is also run once more per config with
//! `--all` appended, which lists every candidate (with the tree, every node), and each planted
//! group gets its best Jaccard over all of them (`node_best_jaccard` in `--details`). The tables
//! then show, next to recall, the share of groups some candidate matches with Jaccard >= 0.5
//! (Wilson interval) and the mean of that best Jaccard, overall, on the strong stratum and per
//! type. A group that no candidate matches is lost by the tree; one that a candidate matches
//! but no reported slice does is lost by the selection. The `--all` runs do not count toward
//! the time and memory columns; a failed one counts as a failed run and its groups are left out
//! of the node-oracle figures only.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

use crate::child::{self, fail, row, share, wilson, Config, SeedOptions};
use faultmap::stats::{enrichment_test, SliceTest};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Function words and prompt boilerplate that define no sub-topic.
const STOP_WORDS: &str = "\
about above after again also among another around because been before being below between \
both could does doing down during each either else even every from further have having \
here into itself just know like many more most much must need only other over please same \
should since some such than that their them then there these they this those through \
under until upon very want were what when where whether which while will with within \
without would your yours tell following";

/// A group of rows: one intent / `src`, and its domain / category.
struct Group {
    name: String,
    parent: String,
    rows: Vec<usize>,
    /// Content words in 20-80% of the group's rows whose rows number 30..=600, with those rows.
    words: Vec<(String, Vec<usize>)>,
}

struct Corpus {
    name: &'static str,
    prompts: Vec<String>,
    groups: Vec<Group>,
}

/// One planted failure group.
struct Planted {
    kind: &'static str,
    rows: Vec<usize>,
    rate: f64,
    names: Vec<String>,
    word: Option<String>,
    failures: u64,
    oracle_p: f64,
}

/// How one configuration did on one planted group.
struct Outcome {
    kind: &'static str,
    strong: bool,
    best_jaccard: f64,
    /// Best Jaccard over every candidate of the `--all` report (`--node-oracle`; `None` when
    /// not asked for or when that run failed).
    node_best: Option<f64>,
    /// Its exact rows alone test significant (p <= 0.05).
    oracle: bool,
}

/// What one configuration gathered on one corpus.
#[derive(Default)]
struct Tally {
    groups: Vec<Outcome>,
    precision_hits: u64,
    precision_slices: u64,
    files_without_slice: u64,
    planted_files: u64,
    null_files: u64,
    null_clean: u64,
    null_slices: u64,
    secs: Vec<f64>,
    peak_mib: f64,
    failed_runs: u64,
}

fn content_words(prompt: &str) -> HashSet<String> {
    prompt
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4 && !STOP_WORDS.split_whitespace().any(|s| s == *w))
        .map(str::to_string)
        .collect()
}

fn load(data: &Path, corpus: &str) -> Corpus {
    let (name, rel, key, parent_key) = match corpus {
        "clinc" => ("clinc", "clinc150/all.jsonl", "intent", "domain"),
        "mmlu" => ("mmlu", "mmlu_pro/questions.jsonl", "src", "category"),
        other => fail(format!("unknown corpus {other:?} (use clinc, mmlu)")),
    };
    let path = data.join(rel);
    let child::Grouped {
        prompts,
        groups: by_group,
    } = child::read_grouped(&path, key, parent_key, corpus == "clinc");
    let groups = by_group
        .into_iter()
        .map(|(name, (parent, rows))| {
            let mut with_word: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for &i in &rows {
                for w in content_words(&prompts[i]) {
                    with_word.entry(w).or_default().push(i);
                }
            }
            let share = |k: usize| k as f64 / rows.len() as f64;
            let words = with_word
                .into_iter()
                .filter(|(_, r)| {
                    (0.2..=0.8).contains(&share(r.len())) && (30..=600).contains(&r.len())
                })
                .collect();
            Group {
                name,
                parent,
                rows,
                words,
            }
        })
        .collect();
    Corpus {
        name,
        prompts,
        groups,
    }
}

/// One candidate planted group of a random type: (kind, rows, component names, word).
fn draw_group(
    c: &Corpus,
    rng: &mut ChaCha8Rng,
) -> (&'static str, Vec<usize>, Vec<String>, Option<String>) {
    let sized = |g: &&Group| (30..=600).contains(&g.rows.len());
    loop {
        match rng.gen_range(0..3) {
            0 => {
                let pool: Vec<&Group> = c.groups.iter().filter(sized).collect();
                if let Some(g) = pool.choose(rng) {
                    return ("single", g.rows.clone(), vec![g.name.clone()], None);
                }
            }
            1 => {
                for _ in 0..1000 {
                    let g = &c.groups[rng.gen_range(0..c.groups.len())];
                    let related: Vec<&Group> =
                        c.groups.iter().filter(|h| h.parent == g.parent).collect();
                    if related.len() < 2 {
                        continue;
                    }
                    let k = rng.gen_range(2..=4usize).min(related.len());
                    let parts: Vec<&&Group> = related.choose_multiple(rng, k).collect();
                    let mut rows: Vec<usize> = parts.iter().flat_map(|g| g.rows.clone()).collect();
                    if (30..=600).contains(&rows.len()) {
                        rows.sort_unstable();
                        let names = parts.iter().map(|g| g.name.clone()).collect();
                        return ("union", rows, names, None);
                    }
                }
            }
            _ => {
                let pool: Vec<&Group> = c.groups.iter().filter(|g| !g.words.is_empty()).collect();
                if let Some(g) = pool.choose(rng) {
                    let (word, rows) = g.words.choose(rng).expect("non-empty");
                    return (
                        "sub",
                        rows.clone(),
                        vec![g.name.clone()],
                        Some(word.clone()),
                    );
                }
            }
        }
    }
}

/// Draws the groups and labels of one seed and writes both files; returns b, the groups, and
/// for each row the index of its planted group.
fn make_files(
    c: &Corpus,
    seed: u64,
    planted_path: &Path,
    null_path: &Path,
) -> std::io::Result<(f64, Vec<Planted>, Vec<Option<usize>>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Its own stream per corpus, so the two corpora of a seed do not share b and r.
    rng.set_stream(if c.name == "clinc" { 1 } else { 2 });
    let b: f64 = rng.gen_range(0.03..0.30);
    let n = c.prompts.len();
    let mut owner: Vec<Option<usize>> = vec![None; n];
    let mut planted: Vec<Planted> = Vec::new();
    for _ in 0..rng.gen_range(1..=3) {
        let (kind, rows, names, word) = loop {
            let g = draw_group(c, &mut rng);
            if g.1.iter().all(|&i| owner[i].is_none()) {
                break g;
            }
        };
        let rate = loop {
            let r: f64 = rng.gen_range(0.25..0.80);
            if r >= b + 0.10 {
                break r;
            }
        };
        for &i in &rows {
            owner[i] = Some(planted.len());
        }
        planted.push(Planted {
            kind,
            rows,
            rate,
            names,
            word,
            failures: 0,
            oracle_p: 1.0,
        });
    }
    let planted_fails: Vec<bool> = owner
        .iter()
        .map(|o| rng.gen_bool(o.map_or(b, |k| planted[k].rate)))
        .collect();
    let null_fails: Vec<bool> = (0..n).map(|_| rng.gen_bool(b)).collect();
    for (path, fails) in [(planted_path, &planted_fails), (null_path, &null_fails)] {
        let mut out = BufWriter::new(File::create(path)?);
        for (i, (prompt, &f)) in c.prompts.iter().zip(fails).enumerate() {
            let row = json!({"id": format!("{}-{i}", c.name), "prompt": prompt,
                             "label": if f { "fail" } else { "pass" }});
            writeln!(out, "{row}")?;
        }
        out.flush()?;
    }
    let total_fails = planted_fails.iter().filter(|&&f| f).count() as u64;
    for p in &mut planted {
        p.failures = p.rows.iter().filter(|&&i| planted_fails[i]).count() as u64;
        p.oracle_p = enrichment_test(
            SliceTest::Exact,
            p.failures,
            p.rows.len() as u64,
            total_fails,
            n as u64,
        )
        .p_value;
    }
    Ok((b, planted, owner))
}

/// The part of a `slices --format json` report the benchmark reads; serde skips every other
/// field without building it, which keeps the large `--all` reports cheap to parse.
#[derive(Deserialize)]
struct Report {
    slices: Vec<ReportSlice>,
}

#[derive(Deserialize)]
struct ReportSlice {
    #[serde(default)]
    sample_indices: Vec<usize>,
}

/// Runs one configuration on one file, with `extra` arguments after the config's own: (wall
/// seconds, peak RSS MiB, reported slices' rows).
fn run(
    config: &Config,
    file: &Path,
    extra: &[&str],
) -> Result<(f64, f64, Vec<Vec<usize>>), String> {
    let command = [
        "slices".as_ref(),
        file.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "-q".as_ref(),
    ];
    let done = child::run(config, command, extra)?;
    let report: Report = serde_json::from_str(&done.stdout)
        .map_err(|e| format!("bad JSON report ({} bytes): {e}", done.stdout.len()))?;
    let slices = report
        .slices
        .into_iter()
        .map(|s| s.sample_indices)
        .collect();
    Ok((done.secs, done.peak_mib, slices))
}

/// Jaccard index of planted group `k` (of `size` rows) and a slice's rows.
fn jaccard(owner: &[Option<usize>], k: usize, size: usize, slice: &[usize]) -> f64 {
    let inter = slice
        .iter()
        .filter(|&&i| owner.get(i) == Some(&Some(k)))
        .count();
    inter as f64 / (size + slice.len() - inter) as f64
}

struct Options {
    common: SeedOptions,
    corpora: Vec<String>,
    node_oracle: bool,
}

fn parse(args: &[String]) -> Options {
    let mut corpora: Vec<String> = vec!["clinc".into(), "mmlu".into()];
    let mut node_oracle = false;
    // The options of this benchmark alone: `--planted [CORPORA]` and `--node-oracle`.
    let own = |i: usize| match args[i].as_str() {
        "--planted" => match args.get(i + 1).filter(|v| !v.starts_with("--")) {
            Some(list) => {
                corpora = list.split(',').map(str::to_string).collect();
                Some(i + 1)
            }
            None => Some(i),
        },
        "--node-oracle" => {
            node_oracle = true;
            Some(i)
        }
        _ => None,
    };
    let parsed = child::parse_options(args, "--planted", &["--planted", "--node-oracle"], own);
    if let Some(c) = corpora
        .iter()
        .find(|c| !["clinc", "mmlu"].contains(&c.as_str()))
    {
        fail(format!("unknown corpus {c:?} (use clinc, mmlu)"));
    }
    Options {
        common: parsed.finish(),
        corpora,
        node_oracle,
    }
}

pub fn main(args: &[String]) {
    let o = parse(args);
    let dir = PathBuf::from("bench-data/planted");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| fail(format!("cannot create {}: {e}", dir.display())));
    let mut details = o.common.details.as_ref().map(|p| {
        BufWriter::new(File::create(p).unwrap_or_else(|e| fail(format!("{}: {e}", p.display()))))
    });
    let mut tallies: Vec<(String, String, Tally)> = Vec::new();
    for corpus_name in &o.corpora {
        let corpus = load(&o.common.data, corpus_name);
        eprintln!(
            "{}: {} rows, {} groups",
            corpus.name,
            corpus.prompts.len(),
            corpus.groups.len()
        );
        let start = tallies.len();
        for config in &o.common.configs {
            tallies.push((corpus.name.into(), config.name.clone(), Tally::default()));
        }
        for seed in o.common.first_seed..o.common.first_seed + o.common.seeds {
            let planted_path = dir.join(format!("{}-{seed}.jsonl", corpus.name));
            let null_path = dir.join(format!("{}-null-{seed}.jsonl", corpus.name));
            let (b, planted, owner) = make_files(&corpus, seed, &planted_path, &null_path)
                .unwrap_or_else(|e| fail(format!("cannot write {}: {e}", dir.display())));
            for (config, (_, _, t)) in o.common.configs.iter().zip(&mut tallies[start..]) {
                let (secs, mib, slices) = match run(config, &planted_path, &[]) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{} seed {seed} {}: FAILED: {e}", corpus.name, config.name);
                        t.failed_runs += 1;
                        continue;
                    }
                };
                t.planted_files += 1;
                t.secs.push(secs);
                t.peak_mib = t.peak_mib.max(mib);
                // Every candidate of the same command with `--all` (its time and memory are
                // not counted).
                let candidates = if o.node_oracle {
                    match run(config, &planted_path, &["--all"]) {
                        Ok((_, _, all)) => Some(all),
                        Err(e) => {
                            eprintln!(
                                "{} seed {seed} {} --all: FAILED: {e}",
                                corpus.name, config.name
                            );
                            t.failed_runs += 1;
                            None
                        }
                    }
                } else {
                    None
                };
                let best_of = |k: usize, size: usize, sets: &[Vec<usize>]| {
                    sets.iter()
                        .map(|s| jaccard(&owner, k, size, s))
                        .fold(0.0, f64::max)
                };
                let (mut found, mut node_found) = (0, 0);
                for (k, p) in planted.iter().enumerate() {
                    let best = best_of(k, p.rows.len(), &slices);
                    let node_best = candidates.as_deref().map(|c| best_of(k, p.rows.len(), c));
                    if node_best.is_some_and(|n| n + 1e-9 < best) {
                        eprintln!(
                            "{} seed {seed} {}: warning: the --all report has no candidate as \
                             close to group {k} as a reported slice ({:.3} < {best:.3})",
                            corpus.name,
                            config.name,
                            node_best.unwrap_or_default()
                        );
                    }
                    let strong = p.rows.len() >= 100 && p.rate >= 0.45 && b <= 0.15;
                    let oracle = p.oracle_p <= 0.05;
                    found += usize::from(best >= 0.5);
                    node_found += usize::from(node_best.is_some_and(|n| n >= 0.5));
                    t.groups.push(Outcome {
                        kind: p.kind,
                        strong,
                        best_jaccard: best,
                        node_best,
                        oracle,
                    });
                    if let Some(d) = details.as_mut() {
                        let mut line = json!({
                            "corpus": corpus.name, "seed": seed, "config": config.name,
                            "type": p.kind, "groups": p.names, "word": p.word,
                            "size": p.rows.len(), "rate": p.rate, "background": b,
                            "failures": p.failures, "oracle_p": p.oracle_p, "strong": strong,
                            "best_jaccard": best, "recovered": best >= 0.5,
                            "reported_slices": slices.len(),
                        });
                        if o.node_oracle {
                            line["node_best_jaccard"] = json!(node_best);
                        }
                        writeln!(d, "{line}").unwrap_or_else(|e| fail(format!("--details: {e}")));
                    }
                }
                if slices.is_empty() {
                    t.files_without_slice += 1;
                }
                for s in slices.iter().take(5) {
                    t.precision_slices += 1;
                    let inside = s
                        .iter()
                        .filter(|&&i| owner.get(i).is_some_and(|o| o.is_some()))
                        .count();
                    t.precision_hits += u64::from(2 * inside > s.len());
                }
                let node = match &candidates {
                    Some(c) => format!(
                        ", node oracle {node_found}/{} ({} candidates)",
                        planted.len(),
                        c.len()
                    ),
                    None => String::new(),
                };
                eprintln!(
                    "{} seed {seed} {}: {secs:.1} s, {} slices, recall {found}/{}{node}",
                    corpus.name,
                    config.name,
                    slices.len(),
                    planted.len()
                );
                match run(config, &null_path, &[]) {
                    Ok((secs, mib, slices)) => {
                        t.secs.push(secs);
                        t.peak_mib = t.peak_mib.max(mib);
                        t.null_files += 1;
                        t.null_clean += u64::from(slices.is_empty());
                        t.null_slices += slices.len() as u64;
                        eprintln!(
                            "{}-null seed {seed} {}: {secs:.1} s, {} slices",
                            corpus.name,
                            config.name,
                            slices.len()
                        );
                    }
                    Err(e) => {
                        eprintln!(
                            "{}-null seed {seed} {}: FAILED: {e}",
                            corpus.name, config.name
                        );
                        t.failed_runs += 1;
                    }
                }
            }
            if !o.common.keep {
                let _ = std::fs::remove_file(&planted_path);
                let _ = std::fs::remove_file(&null_path);
            }
        }
    }
    if let Some(d) = details.as_mut() {
        d.flush()
            .unwrap_or_else(|e| fail(format!("--details: {e}")));
    }
    print_tables(&tallies, o.common.first_seed, o.common.seeds, o.node_oracle);
}

/// Recall (with its Wilson interval), oracle share and mean best Jaccard of some groups.
fn summary<'a>(groups: impl Iterator<Item = &'a Outcome>) -> [String; 3] {
    let groups: Vec<&Outcome> = groups.collect();
    let n = groups.len();
    if n == 0 {
        return ["-".into(), "-".into(), "-".into()];
    }
    let hits = groups.iter().filter(|g| g.best_jaccard >= 0.5).count() as u64;
    let oracle = groups.iter().filter(|g| g.oracle).count() as f64 / n as f64;
    let mean = groups.iter().map(|g| g.best_jaccard).sum::<f64>() / n as f64;
    [
        wilson(hits, n as u64),
        format!("{oracle:.2}"),
        format!("{mean:.2}"),
    ]
}

/// Node oracle (share of groups some candidate matches, with its Wilson interval) and the mean
/// best Jaccard over all candidates, of the groups whose `--all` run succeeded.
fn node_summary<'a>(groups: impl Iterator<Item = &'a Outcome>) -> [String; 2] {
    let best: Vec<f64> = groups.filter_map(|g| g.node_best).collect();
    if best.is_empty() {
        return ["-".into(), "-".into()];
    }
    let hits = best.iter().filter(|&&j| j >= 0.5).count() as u64;
    let mean = best.iter().sum::<f64>() / best.len() as f64;
    [wilson(hits, best.len() as u64), format!("{mean:.2}")]
}

fn print_tables(tallies: &[(String, String, Tally)], first_seed: u64, seeds: u64, node: bool) {
    let last = first_seed + seeds.max(1) - 1;
    let node_note = if node {
        " node oracle = some candidate of the `--all` report (any tree node) has Jaccard >= 0.5; node mean J = mean of that best Jaccard."
    } else {
        ""
    };
    println!("\nPlanted slices, seeds {first_seed}..={last}: recall = some reported slice has Jaccard >= 0.5 with the group; [95% Wilson interval]; strong = size >= 100, r >= 0.45, b <= 0.15.{node_note}\n");
    // Each column: header, alignment, and whether it is a node-oracle column.
    let main_columns = [
        ("corpus", "---", false),
        ("config", "---", false),
        ("groups", "---:", false),
        ("recall", "---", false),
        ("node oracle", "---", true),
        ("oracle", "---:", false),
        ("mean best J", "---:", false),
        ("node mean J", "---:", true),
        ("strong: n", "---:", false),
        ("recall", "---", false),
        ("node oracle", "---", true),
        ("oracle", "---:", false),
        ("precision@5 (slices)", "---", false),
        ("files w/o slice", "---:", false),
        ("null clean", "---", false),
        ("null mean slices", "---:", false),
        ("median s", "---:", false),
        ("max s", "---:", false),
        ("peak MiB", "---:", false),
        ("failed runs", "---:", false),
    ];
    let keep = |cols: &[(&str, &str, bool)], cells: Vec<String>| -> Vec<String> {
        cols.iter()
            .zip(cells)
            .filter(|((_, _, is_node), _)| node || !is_node)
            .map(|(_, c)| c)
            .collect()
    };
    let header = |cols: &[(&str, &str, bool)]| {
        println!(
            "{}",
            row(&keep(cols, cols.iter().map(|c| c.0.into()).collect()))
        );
        let aligns = cols.iter().map(|c| c.1.into()).collect();
        println!("|{}|", keep(cols, aligns).join("|"));
    };
    header(&main_columns);
    for (corpus, config, t) in tallies {
        let [recall, oracle, mean_j] = summary(t.groups.iter());
        let [node_recall, node_mean_j] = node_summary(t.groups.iter());
        let [s_recall, s_oracle, _] = summary(t.groups.iter().filter(|g| g.strong));
        let [s_node_recall, _] = node_summary(t.groups.iter().filter(|g| g.strong));
        let cells = vec![
            corpus.clone(),
            config.clone(),
            t.groups.len().to_string(),
            recall,
            node_recall,
            oracle,
            mean_j,
            node_mean_j,
            t.groups.iter().filter(|g| g.strong).count().to_string(),
            s_recall,
            s_node_recall,
            s_oracle,
            format!(
                "{} ({})",
                wilson(t.precision_hits, t.precision_slices),
                t.precision_slices
            ),
            format!("{}/{}", t.files_without_slice, t.planted_files),
            wilson(t.null_clean, t.null_files),
            share(t.null_slices as usize, t.null_files as usize),
            format!("{:.1}", crate::runs::median(t.secs.clone())),
            format!("{:.1}", t.secs.iter().copied().fold(f64::NAN, f64::max)),
            format!("{:.0}", t.peak_mib),
            t.failed_runs.to_string(),
        ];
        println!("{}", row(&keep(&main_columns, cells)));
    }
    let type_columns = [
        ("corpus", "---", false),
        ("config", "---", false),
        ("type", "---", false),
        ("n", "---:", false),
        ("recall", "---", false),
        ("node oracle", "---", true),
        ("oracle", "---:", false),
        ("mean best J", "---:", false),
        ("node mean J", "---:", true),
    ];
    println!();
    header(&type_columns);
    for (corpus, config, t) in tallies {
        for kind in ["single", "union", "sub"] {
            let n = t.groups.iter().filter(|g| g.kind == kind).count();
            let [recall, oracle, mean_j] = summary(t.groups.iter().filter(|g| g.kind == kind));
            let [node_recall, node_mean_j] =
                node_summary(t.groups.iter().filter(|g| g.kind == kind));
            let cells = vec![
                corpus.clone(),
                config.clone(),
                kind.to_string(),
                n.to_string(),
                recall,
                node_recall,
                oracle,
                mean_j,
                node_mean_j,
            ];
            println!("{}", row(&keep(&type_columns, cells)));
        }
    }
}
