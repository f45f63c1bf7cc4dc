//! Regression checks: pair a candidate run with a baseline case by case, test the whole run and
//! each slice with paired statistics, and decide whether a gate tripped.
//!
//! Statistics (see `stats::paired` for the formulas):
//! - pass rate: Tango's score test for the paired difference (McNemar when the margin is 0;
//!   exact binomial when few pairs disagree), with its score interval;
//! - mean score: a seeded paired bootstrap of the mean difference, with a percentile interval.
//!
//! One of them is the gate's metric ([`Metric`]); both are reported when scores exist. A run
//! or slice *regressed* when the test of "candidate worse by more than `margin`" rejects at
//! one-sided level `alpha` (slices: after Benjamini-Hochberg across the tested slices), which is
//! exactly when the upper end of its two-sided `1 - 2·alpha` interval lies below `-margin`. The
//! margin is what keeps a noisy rerun of the same system from failing the build.

pub mod baseline;
pub mod cases;
pub mod regions;
pub mod slicing;

use crate::analysis::scan::{self, NeighbourGraph};
use crate::error::{Error, Result};
use crate::stats::{
    self,
    paired::{
        paired_mean_bootstrap, paired_proportions, PairedCounts, PairedMeanTest,
        PairedProportionTest,
    },
};
use cases::{KeyKind, Run};
use rayon::prelude::*;
use serde::Serialize;
use slicing::{SliceDef, Slicing, SlicingParameters};

/// What the gate measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of cases that pass.
    PassRate,
    /// Mean score (every paired case needs a score on both sides).
    MeanScore,
}

/// Which findings fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gates {
    pub global: bool,
    pub slice: bool,
    pub case: bool,
    /// Baseline cases absent from the candidate (an incomplete run) fail it.
    pub missing: bool,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            global: true,
            slice: true,
            case: false,
            missing: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RegressConfig {
    /// `None`: mean score when the runs have scores other than 0 and 1, else pass rate.
    pub metric: Option<Metric>,
    /// Non-inferiority margin, in the metric's units (pass rate: a share, 0.01 = 1 point).
    pub margin: f64,
    /// One-sided level of each regression test (slices: the false-discovery rate).
    pub alpha: f64,
    /// A case regresses when its score drops by more than this (or it flips pass to fail).
    pub case_threshold: f64,
    /// Bootstrap resamples for the mean-score test.
    pub resamples: usize,
    pub seed: u64,
    pub gates: Gates,
    /// Slices with fewer pairs than this are not tested.
    pub min_slice_size: usize,
    /// Run the regression scan when the slicing has a neighbour graph.
    pub scan: bool,
    /// Representative prompts per scan region.
    pub representatives: usize,
}

impl Default for RegressConfig {
    fn default() -> Self {
        RegressConfig {
            metric: None,
            margin: 0.01,
            alpha: 0.025,
            case_threshold: 0.05,
            resamples: 10_000,
            seed: 42,
            gates: Gates::default(),
            min_slice_size: 10,
            scan: true,
            representatives: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Regression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Regressed,
    Improved,
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegressReport {
    pub verdict: Verdict,
    /// `global`, `slice`, `case`: the gates that failed the run.
    pub gates_tripped: Vec<String>,
    pub metric: Metric,
    pub baseline: RunSummary,
    pub candidate: RunSummary,
    pub matched_by: KeyKind,
    pub num_pairs: usize,
    /// Cases of one run only: never silently dropped.
    pub only_in_baseline: Vec<UnmatchedCase>,
    pub only_in_candidate: Vec<UnmatchedCase>,
    pub global: Comparison,
    pub num_slices_tested: usize,
    /// Slices with fewer than `min_slice_size` pairs.
    pub num_slices_untested: usize,
    pub num_regressed_slices: usize,
    pub num_improved_slices: usize,
    /// Tested slices: regressed first (largest drop first), then improved, then unchanged.
    pub slices: Vec<SliceComparison>,
    pub num_regressed_cases: usize,
    pub num_improved_cases: usize,
    /// Regressed cases, worst first.
    pub regressed_cases: Vec<CaseChange>,
    pub parameters: RegressParameters,
    /// Every pair, in baseline order (JSONL and JUnit output).
    #[serde(skip)]
    pub cases: Vec<CaseChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub source: String,
    pub cases: usize,
    pub pass_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_score: Option<f64>,
    pub skipped_rows: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedCase {
    /// The id, or the prompt when cases are paired by prompt.
    pub key: String,
    /// 0-based data row in its file (absent for a baseline file's cases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
}

/// The paired comparison of a set of cases (the whole run, or one slice).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub pairs: usize,
    pub baseline_pass_rate: f64,
    pub candidate_pass_rate: f64,
    pub pass_to_fail: u64,
    pub fail_to_pass: u64,
    /// Candidate minus baseline pass rate, its interval and one-sided p-values.
    pub pass_rate_test: PairedProportionTest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_mean_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_mean_score: Option<f64>,
    /// Candidate minus baseline mean score, when every pair has scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_score_test: Option<PairedMeanTest>,
    /// Of the gate metric: difference, interval and p-values (adjusted, for slices).
    pub difference: f64,
    pub ci: [f64; 2],
    pub p_worse: f64,
    pub p_better: f64,
    pub change: Change,
}

#[derive(Debug, Clone, Serialize)]
pub struct SliceComparison {
    pub name: String,
    pub keywords: Vec<String>,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    pub comparison: Comparison,
    /// `p_worse` / `p_better` before the Benjamini-Hochberg adjustment.
    pub raw_p_worse: f64,
    pub raw_p_better: f64,
    pub representative_prompts: Vec<String>,
    /// Keys of the slice's regressed cases.
    pub regressed_cases: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseChange {
    pub key: String,
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_row: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_row: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_score: Option<f64>,
    /// Both responses, when the runs carry them: shown by the HTML page only, so that the
    /// JSON and JSONL reports stay as they were.
    #[serde(skip)]
    pub baseline_response: Option<String>,
    #[serde(skip)]
    pub candidate_response: Option<String>,
    /// Candidate minus baseline score, when both have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    pub baseline_pass: bool,
    pub candidate_pass: bool,
    pub change: Change,
    /// Names of the slices the case is in.
    pub slices: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegressParameters {
    pub tool_version: String,
    pub margin: f64,
    pub alpha: f64,
    /// Level of the two-sided intervals: `1 - 2·alpha`.
    pub confidence: f64,
    pub case_threshold: f64,
    pub resamples: usize,
    pub seed: u64,
    pub fail_on: Gates,
    pub min_slice_size: usize,
    pub slicing: SlicingParameters,
    pub regression_scan: regions::ScanSummary,
}

/// Compares `candidate` with `baseline`; `slicing` slices the baseline's cases. Both runs must
/// have unique keys ([`Run::check_unique`]).
pub fn compare(
    baseline: &Run,
    candidate: &Run,
    key: KeyKind,
    slicing: &Slicing,
    config: &RegressConfig,
) -> Result<RegressReport> {
    let pairing = cases::pair(baseline, candidate, key);
    if pairing.pairs.is_empty() {
        return Err(Error::Analysis(format!(
            "no case of {} pairs with a case of {} (matched by {}): nothing to compare",
            candidate.source,
            baseline.source,
            match key {
                KeyKind::Id => "id",
                KeyKind::Prompt => "prompt text",
            }
        )));
    }
    let pair_cases: Vec<(&cases::Case, &cases::Case)> = pairing
        .pairs
        .iter()
        .map(|&(b, c)| (&baseline.cases[b], &candidate.cases[c]))
        .collect();
    let scored = pair_cases
        .iter()
        .all(|(b, c)| b.score.is_some() && c.score.is_some());
    let metric = match config.metric {
        Some(Metric::MeanScore) if !scored => {
            return Err(Error::Usage(
                "--metric score needs a score on every paired case of both runs".into(),
            ))
        }
        Some(m) => m,
        None => {
            let binary = |s: Option<f64>| s.is_none_or(|s| s == 0.0 || s == 1.0);
            if scored
                && !pair_cases
                    .iter()
                    .all(|(b, c)| binary(b.score) && binary(c.score))
            {
                Metric::MeanScore
            } else {
                Metric::PassRate
            }
        }
    };
    let confidence = 1.0 - 2.0 * config.alpha;

    // Which slices (by index into slicing) each baseline case is in.
    let mut case_slices: Vec<Vec<usize>> = vec![Vec::new(); baseline.cases.len()];
    for (s, members) in slicing.members.iter().enumerate() {
        for &i in members {
            case_slices[i].push(s);
        }
    }
    let changes: Vec<CaseChange> = pairing
        .pairs
        .iter()
        .map(|&(b, c)| {
            case_change(
                &baseline.cases[b],
                &candidate.cases[c],
                key,
                &case_slices[b],
                slicing,
                config.case_threshold,
            )
        })
        .collect();

    let all: Vec<usize> = (0..pair_cases.len()).collect();
    let test = |members: &[usize], seed: u64| {
        comparison(
            &pair_cases,
            members,
            scored,
            metric,
            config,
            confidence,
            seed,
        )
    };
    let mut global = test(&all, config.seed);
    global.change = change_of(global.p_worse, global.p_better, config.alpha);

    // Slices: members are baseline indices; keep the paired ones.
    let pair_of: Vec<Option<usize>> = {
        let mut v = vec![None; baseline.cases.len()];
        for (p, &(b, _)) in pairing.pairs.iter().enumerate() {
            v[b] = Some(p);
        }
        v
    };
    let slice_pairs: Vec<(usize, Vec<usize>)> = slicing
        .members
        .iter()
        .enumerate()
        .map(|(s, members)| {
            (
                s,
                members
                    .iter()
                    .filter_map(|&b| pair_of[b])
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, pairs)| pairs.len() >= config.min_slice_size.max(1))
        .collect();
    let num_slices_untested = slicing.members.len() - slice_pairs.len();
    // With the regression scan, the error budget for "worse" is split as in `slices`: the
    // scan's family-wise test gets its share of alpha, Benjamini-Hochberg over the fixed
    // slices the rest.
    let graph = slicing.graph.as_ref().filter(|_| config.scan);
    let (alpha_slices, alpha_scan) = match graph {
        Some(_) => (
            config.alpha * (1.0 - scan::ALPHA_SHARE),
            config.alpha * scan::ALPHA_SHARE,
        ),
        None => (config.alpha, 0.0),
    };
    let mut tested: Vec<Comparison> = slice_pairs
        .par_iter()
        .map(|(s, pairs)| test(pairs, config.seed.wrapping_add(1 + *s as u64)))
        .collect();
    let raw_worse: Vec<f64> = tested.iter().map(|c| c.p_worse).collect();
    let raw_better: Vec<f64> = tested.iter().map(|c| c.p_better).collect();
    let levels: Vec<Option<usize>> = slice_pairs
        .iter()
        .map(|(s, _)| slicing.slices[*s].level)
        .collect();
    let weights = slice_weights(&levels);
    let adj_worse = stats::weighted_benjamini_hochberg(&raw_worse, &weights);
    let adj_better = stats::weighted_benjamini_hochberg(&raw_better, &weights);
    let mut slices: Vec<SliceComparison> = slice_pairs
        .iter()
        .zip(tested.iter_mut())
        .enumerate()
        .map(|(t, ((s, pairs), comparison))| {
            comparison.p_worse = adj_worse[t];
            comparison.p_better = adj_better[t];
            comparison.change = if adj_worse[t] <= alpha_slices {
                Change::Regressed
            } else {
                change_of(1.0, adj_better[t], config.alpha)
            };
            let def: &SliceDef = &slicing.slices[*s];
            SliceComparison {
                name: def.name.clone(),
                keywords: def.keywords.clone(),
                source: def.source.clone(),
                value: def.value.clone(),
                comparison: comparison.clone(),
                raw_p_worse: raw_worse[t],
                raw_p_better: raw_better[t],
                representative_prompts: def.representative_prompts.clone(),
                regressed_cases: pairs
                    .iter()
                    .filter(|&&p| changes[p].change == Change::Regressed)
                    .map(|&p| changes[p].key.clone())
                    .collect(),
            }
        })
        .collect();
    let regions_built = match graph {
        Some(graph) => {
            let (regions, built) = regions::comparisons(
                &regions::ScanInput {
                    graph,
                    baseline,
                    pairs: &pairing.pairs,
                    pair_of: &pair_of,
                    changes: &changes,
                },
                config,
                alpha_scan,
                |pairs, i| {
                    test(
                        pairs,
                        config
                            .seed
                            .wrapping_add(1 + (slicing.members.len() + i) as u64),
                    )
                },
            );
            slices.extend(regions);
            built
        }
        None => 0,
    };
    let rank = |c: Change| match c {
        Change::Regressed => 0,
        Change::Improved => 1,
        Change::Unchanged => 2,
    };
    slices.sort_by(|a, b| {
        let (x, y) = (&a.comparison, &b.comparison);
        rank(x.change)
            .cmp(&rank(y.change))
            .then(x.difference.total_cmp(&y.difference))
            .then(a.name.cmp(&b.name))
    });

    let num_regressed_cases = changes
        .iter()
        .filter(|c| c.change == Change::Regressed)
        .count();
    let num_improved_cases = changes
        .iter()
        .filter(|c| c.change == Change::Improved)
        .count();
    let mut regressed_cases: Vec<CaseChange> = changes
        .iter()
        .filter(|c| c.change == Change::Regressed)
        .cloned()
        .collect();
    // Worst first: the largest score drop, then pass-to-fail flips without scores.
    regressed_cases.sort_by(|a, b| a.delta.unwrap_or(-1.0).total_cmp(&b.delta.unwrap_or(-1.0)));

    let num_regressed_slices = slices
        .iter()
        .filter(|s| s.comparison.change == Change::Regressed)
        .count();
    let mut gates_tripped = Vec::new();
    if config.gates.global && global.change == Change::Regressed {
        gates_tripped.push("global".to_string());
    }
    if config.gates.slice && num_regressed_slices > 0 {
        gates_tripped.push("slice".to_string());
    }
    if config.gates.case && num_regressed_cases > 0 {
        gates_tripped.push("case".to_string());
    }
    if config.gates.missing && !pairing.only_in_baseline.is_empty() {
        gates_tripped.push("missing".to_string());
    }
    Ok(RegressReport {
        verdict: if gates_tripped.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Regression
        },
        gates_tripped,
        metric,
        baseline: summary(baseline, scored),
        candidate: summary(candidate, scored),
        matched_by: key,
        num_pairs: pairing.pairs.len(),
        only_in_baseline: unmatched(baseline, &pairing.only_in_baseline, key),
        only_in_candidate: unmatched(candidate, &pairing.only_in_candidate, key),
        global,
        num_slices_tested: slices.len(),
        num_slices_untested,
        num_regressed_slices,
        num_improved_slices: slices
            .iter()
            .filter(|s| s.comparison.change == Change::Improved)
            .count(),
        slices,
        num_regressed_cases,
        num_improved_cases,
        regressed_cases,
        parameters: RegressParameters {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            margin: config.margin,
            alpha: config.alpha,
            confidence,
            case_threshold: config.case_threshold,
            resamples: config.resamples,
            seed: config.seed,
            fail_on: config.gates,
            min_slice_size: config.min_slice_size,
            slicing: slicing.parameters.clone(),
            regression_scan: regions::ScanSummary {
                ran: graph.is_some(),
                neighbours: graph.map_or(0, NeighbourGraph::neighbours),
                permutations: if graph.is_some() {
                    scan::PERMUTATIONS
                } else {
                    0
                },
                alpha: alpha_scan,
                regions: regions_built,
            },
        },
        cases: changes,
    })
}

/// Weights for the weighted Benjamini-Hochberg over the tested slices: each depth of the
/// candidate tree, and all other slices (flat clusters, noise, group-by values) together, get
/// an equal share, split equally within. A tree has a few coarse nodes and thousands of fine
/// ones; plain BH over all of them spends nearly the whole budget on the fine ones, and a
/// subject-level regression in a coarse node (hundreds of pairs, a few points) is lost. The
/// weights depend on the tree alone, never on the outcomes, so the false-discovery rate
/// holds. Without tree nodes every weight is equal: plain BH.
pub fn slice_weights(levels: &[Option<usize>]) -> Vec<f64> {
    let mut per_stratum: std::collections::HashMap<Option<usize>, usize> = Default::default();
    for level in levels {
        *per_stratum.entry(*level).or_insert(0) += 1;
    }
    let strata = per_stratum.len() as f64;
    levels
        .iter()
        .map(|level| 1.0 / (strata * per_stratum[level] as f64))
        .collect()
}

/// Regressed when the (adjusted) worse-test rejects, improved when the better-test does.
fn change_of(p_worse: f64, p_better: f64, alpha: f64) -> Change {
    if p_worse <= alpha {
        Change::Regressed
    } else if p_better <= alpha {
        Change::Improved
    } else {
        Change::Unchanged
    }
}

/// The paired tests over `members` (indices into `pairs`); `change` is left `Unchanged` for
/// the caller to set once p-values are final.
fn comparison(
    pairs: &[(&cases::Case, &cases::Case)],
    members: &[usize],
    scored: bool,
    metric: Metric,
    config: &RegressConfig,
    confidence: f64,
    seed: u64,
) -> Comparison {
    let n = members.len();
    let (mut base_pass, mut cand_pass, mut b, mut c) = (0u64, 0u64, 0u64, 0u64);
    for &p in members {
        let (x, y) = pairs[p];
        base_pass += x.pass as u64;
        cand_pass += y.pass as u64;
        b += (x.pass && !y.pass) as u64;
        c += (!x.pass && y.pass) as u64;
    }
    let pass_rate_test = paired_proportions(
        PairedCounts {
            n: n as u64,
            pass_to_fail: b,
            fail_to_pass: c,
        },
        config.margin,
        confidence,
    );
    let (base_mean, cand_mean, mean_score_test) = if scored {
        let mean = |side: fn(&(&cases::Case, &cases::Case)) -> f64| {
            members.iter().map(|&p| side(&pairs[p])).sum::<f64>() / n as f64
        };
        let differences: Vec<f64> = members
            .iter()
            .map(|&p| pairs[p].1.score.unwrap_or(0.0) - pairs[p].0.score.unwrap_or(0.0))
            .collect();
        (
            Some(mean(|p| p.0.score.unwrap_or(0.0))),
            Some(mean(|p| p.1.score.unwrap_or(0.0))),
            Some(paired_mean_bootstrap(
                &differences,
                config.margin,
                confidence,
                config.resamples,
                seed,
            )),
        )
    } else {
        (None, None, None)
    };
    let (difference, ci, p_worse, p_better) = match (metric, &mean_score_test) {
        (Metric::MeanScore, Some(t)) => (t.mean_difference, t.ci, t.p_worse, t.p_better),
        _ => (
            pass_rate_test.difference,
            pass_rate_test.ci,
            pass_rate_test.p_worse,
            pass_rate_test.p_better,
        ),
    };
    Comparison {
        pairs: n,
        baseline_pass_rate: base_pass as f64 / n as f64,
        candidate_pass_rate: cand_pass as f64 / n as f64,
        pass_to_fail: b,
        fail_to_pass: c,
        pass_rate_test,
        baseline_mean_score: base_mean,
        candidate_mean_score: cand_mean,
        mean_score_test,
        difference,
        ci,
        p_worse,
        p_better,
        change: Change::Unchanged,
    }
}

fn case_change(
    base: &cases::Case,
    cand: &cases::Case,
    key: KeyKind,
    slices: &[usize],
    slicing: &Slicing,
    case_threshold: f64,
) -> CaseChange {
    let delta = match (base.score, cand.score) {
        (Some(x), Some(y)) => Some(y - x),
        _ => None,
    };
    let change = if (base.pass && !cand.pass) || delta.is_some_and(|d| d < -case_threshold) {
        Change::Regressed
    } else if (!base.pass && cand.pass) || delta.is_some_and(|d| d > case_threshold) {
        Change::Improved
    } else {
        Change::Unchanged
    };
    CaseChange {
        key: base.key(key).to_string(),
        prompt: base.prompt.clone(),
        baseline_row: base.row,
        candidate_row: cand.row,
        baseline_score: base.score,
        candidate_score: cand.score,
        baseline_response: base.response.clone(),
        candidate_response: cand.response.clone(),
        delta,
        baseline_pass: base.pass,
        candidate_pass: cand.pass,
        change,
        slices: slices
            .iter()
            .map(|&s| slicing.slices[s].name.clone())
            .collect(),
    }
}

fn summary(run: &Run, scored: bool) -> RunSummary {
    let n = run.cases.len().max(1) as f64;
    RunSummary {
        source: run.source.clone(),
        cases: run.cases.len(),
        pass_rate: run.cases.iter().filter(|c| c.pass).count() as f64 / n,
        mean_score: scored
            .then(|| {
                let scores: Vec<f64> = run.cases.iter().filter_map(|c| c.score).collect();
                (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
            })
            .flatten(),
        skipped_rows: run.skipped_rows,
    }
}

fn unmatched(run: &Run, indices: &[usize], key: KeyKind) -> Vec<UnmatchedCase> {
    indices
        .iter()
        .map(|&i| UnmatchedCase {
            key: run.cases[i].key(key).to_string(),
            row: run.cases[i].row,
        })
        .collect()
}

#[cfg(test)]
mod weight_tests {
    use super::slice_weights;

    #[test]
    fn each_depth_and_the_other_slices_share_the_budget_equally() {
        // Depth 0: 1 node, depth 1: 2 nodes, depth 2: 4 nodes, and 3 group-by slices.
        let levels = [
            Some(0),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            Some(2),
            Some(2),
            None,
            None,
            None,
        ];
        let w = slice_weights(&levels);
        let share = |level: Option<usize>| -> f64 {
            levels
                .iter()
                .zip(&w)
                .filter(|(l, _)| **l == level)
                .map(|(_, w)| w)
                .sum()
        };
        for level in [Some(0), Some(1), Some(2), None] {
            assert!((share(level) - 0.25).abs() < 1e-12, "{level:?}: {w:?}");
        }
        // Without tree nodes (a flat clustering), every weight is equal: plain BH.
        let flat = slice_weights(&[None; 5]);
        assert!(flat.windows(2).all(|p| p[0] == p[1]), "{flat:?}");
    }
}
