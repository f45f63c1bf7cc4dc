//! The regression scan: slices drawn where regressed pairs gather among the baseline's nearest
//! neighbours, for a regression confined to a topic that no fixed slice matches (a subject
//! the clusters split into sub-topics, or a few related topics).
//!
//! The scan ([`crate::analysis::scan`], `Outcomes::Changes`) builds regions from the net
//! regressions (regressed less improved pairs) among each case's neighbours and scores each
//! region by the sign test's Λ: its regressed pairs among its changed pairs against one half.
//! Its p-value is family-wise over every region, from random signs of the changed pairs, so a
//! run that improves overall cannot make a region look worse than it is. Among nested
//! significant regions, the best antichain is kept (as `slices` does).

use super::cases::Run;
use super::{CaseChange, Change, Comparison, RegressConfig, SliceComparison};
use crate::analysis::representatives::distinct_prompts;
use crate::analysis::scan::{self, NeighbourGraph, Outcomes};
use crate::analysis::selection;
use crate::naming::{KeywordNamer, SliceName, SliceNamer};
use serde::Serialize;

/// The scan's settings and what it found, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// False when the baseline has no neighbour graph (recorded with `--no-scan`) or the
    /// scan was turned off.
    pub ran: bool,
    /// Neighbours per case in the graph.
    pub neighbours: usize,
    pub permutations: usize,
    /// The scan's share of alpha: its regions are significant at this family-wise level.
    pub alpha: f64,
    /// Regions built, before significance and selection.
    pub regions: usize,
}

/// What the scan of one comparison works on.
pub struct ScanInput<'a> {
    pub graph: &'a NeighbourGraph,
    pub baseline: &'a Run,
    /// (baseline case, candidate case) per pair.
    pub pairs: &'a [(usize, usize)],
    /// Per baseline case, its pair.
    pub pair_of: &'a [Option<usize>],
    /// Per pair, its change.
    pub changes: &'a [CaseChange],
}

/// The selected regions as slices, tested by `test(pairs, region number)` (the paired tests
/// of the fixed slices), and the number of regions built. A region regressed when its
/// `p_worse` ([`region_p_worse`]) is at most `alpha_scan`.
pub fn comparisons(
    input: &ScanInput,
    config: &RegressConfig,
    alpha_scan: f64,
    test: impl Fn(&[usize], usize) -> Comparison,
) -> (Vec<SliceComparison>, usize) {
    let mut by_case: Vec<Option<bool>> = vec![None; input.baseline.cases.len()];
    for (p, &(b, _)) in input.pairs.iter().enumerate() {
        by_case[b] = match input.changes[p].change {
            Change::Regressed => Some(true),
            Change::Improved => Some(false),
            Change::Unchanged => None,
        };
    }
    let (found, built) = scan_slices(
        input.graph,
        input.baseline,
        &by_case,
        config.min_slice_size,
        alpha_scan,
        config.seed,
    );
    let prompts: Vec<&str> = input
        .baseline
        .cases
        .iter()
        .map(|c| c.prompt.as_str())
        .collect();
    let slices = found
        .into_iter()
        .enumerate()
        .map(|(i, region)| {
            let pairs: Vec<usize> = region
                .cases
                .iter()
                .filter_map(|&b| input.pair_of[b])
                .collect();
            let mut comparison = test(&pairs, i);
            let (own_worse, own_better) = (comparison.p_worse, comparison.p_better);
            // The region was drawn around regressions: it makes no claim of improvement.
            comparison.p_worse = region_p_worse(region.p_value, own_worse);
            comparison.p_better = 1.0;
            if comparison.p_worse <= alpha_scan {
                comparison.change = Change::Regressed;
            }
            SliceComparison {
                name: format!("regression scan: {}", region.name.name),
                keywords: region.name.keywords,
                source: "scan".into(),
                value: None,
                comparison,
                raw_p_worse: own_worse,
                raw_p_better: own_better,
                representative_prompts: distinct_prompts(
                    &prompts,
                    &region.representatives,
                    config.representatives,
                )
                .into_iter()
                .map(|i| prompts[i].to_string())
                .collect(),
                regressed_cases: pairs
                    .iter()
                    .filter(|&&p| input.changes[p].change == Change::Regressed)
                    .map(|&p| input.changes[p].key.clone())
                    .collect(),
            }
        })
        .collect();
    (slices, built)
}

/// One selected region: its baseline cases, name and p-value.
#[derive(Debug, Clone)]
struct ScanSlice {
    /// Baseline case indices, ascending.
    cases: Vec<usize>,
    name: SliceName,
    /// Family-wise Monte Carlo p-value of the region.
    p_value: f64,
    /// Regressed cases at the region's core first, for representative prompts.
    representatives: Vec<usize>,
}

/// Runs the scan over `changes` (one per baseline case: `Some(true)` regressed, `Some(false)`
/// improved, `None` neither or unpaired) and returns the selected significant regions.
fn scan_slices(
    graph: &NeighbourGraph,
    baseline: &Run,
    changes: &[Option<bool>],
    min_size: usize,
    alpha: f64,
    seed: u64,
) -> (Vec<ScanSlice>, usize) {
    let regions = scan::regions(
        graph,
        Outcomes::Changes(changes),
        min_size,
        scan::PERMUTATIONS,
        seed,
    );
    let parents: Vec<Option<usize>> = regions.iter().map(|r| r.parent).collect();
    let children: Vec<Vec<usize>> = regions.iter().map(|r| r.children.clone()).collect();
    let llr: Vec<f64> = regions.iter().map(|r| r.log_likelihood_ratio).collect();
    let significant: Vec<bool> = regions.iter().map(|r| r.p_value <= alpha).collect();
    let chosen =
        selection::best_antichain(&parents, &children, &llr, &significant, selection::PENALTY);
    let prompts: Vec<&str> = baseline.cases.iter().map(|c| c.prompt.as_str()).collect();
    let rows: Vec<&[usize]> = chosen.iter().map(|&r| &regions[r].rows[..]).collect();
    let names = KeywordNamer::default().name_slices(&prompts, &rows);
    let slices = chosen
        .iter()
        .zip(names)
        .map(|(&r, name)| {
            let cases = regions[r].rows.clone();
            let core = graph.core_first(&cases);
            let mut representatives: Vec<usize> = core
                .iter()
                .copied()
                .filter(|&i| changes[i] == Some(true))
                .collect();
            representatives.extend(core.iter().filter(|&&i| changes[i] != Some(true)));
            ScanSlice {
                cases,
                name,
                p_value: regions[r].p_value,
                representatives,
            }
        })
        .collect();
    (slices, regions.len())
}

/// A scan region's p-value for "worse": its family-wise scan p-value, or its own paired test's
/// when larger. The own test ignores that the region was drawn around regressions, and the
/// margin is in it only, so it is a floor: a region regresses when both are within the scan's
/// share of alpha.
fn region_p_worse(scan_p: f64, own_p_worse: f64) -> f64 {
    scan_p.max(own_p_worse)
}
