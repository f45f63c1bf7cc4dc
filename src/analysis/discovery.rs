//! The slice-discovery core shared by `slices` and `coverage`: candidate groups of rows from
//! the embeddings (the candidate tree's nodes, or a flat clustering's clusters), extra
//! candidates such as `--group-by` values, the failure scan's regions; a one-sided test of each
//! against the rest, Benjamini-Hochberg, and the selection of what is reported
//! (docs/statistics.md). It reads only embeddings and a pass/fail flag per row, so any binary
//! outcome can be searched: a model's failures (`slices`) or the production prompts no test
//! covers (`coverage` gaps).

use super::candidates::{self, Candidate, TreePosition};
use super::grouping;
use super::scan;
use super::selection;
use super::slices::SlicesConfig;
use crate::cluster::ClusteringInfo;
use crate::error::Result;
use crate::matrix::Matrix;
use crate::progress::Progress;
use crate::stats::{self, EnrichmentTest, TestKind};
use std::time::{Duration, Instant};

/// Where a scan region and tree slices overlap, the region pays this many slice penalties: its
/// boundary was drawn around failing rows, so its Λ is optimistic against a tree node's, which
/// was fixed before the outcomes were seen. With 1, a region merging three distinct failing
/// topics beat the three topic nodes by 1.4 (support tickets, e5 embeddings).
const SCAN_HANDICAP: f64 = 2.0;

/// Every candidate with its test and whether it is reported.
pub struct Discovery {
    /// Tree nodes (candidate `i` is node `i`) or flat clusters and noise, then the extra
    /// candidates, then the scan's regions.
    pub candidates: Vec<Candidate>,
    /// Failing rows in each candidate.
    pub failures: Vec<usize>,
    pub tests: Vec<EnrichmentTest>,
    /// Benjamini-Hochberg adjusted p-values (the scan's regions: their family-wise p-value).
    pub adjusted: Vec<f64>,
    pub significant: Vec<bool>,
    /// One-sided Bernoulli log-likelihood ratio against the baseline rate.
    pub llr: Vec<f64>,
    /// Reported by default (see [`discover`]).
    pub selected: Vec<bool>,
    pub baseline: f64,
    pub total_failures: usize,
    pub clustering: ClusteringInfo,
    /// Classes for class-based TF-IDF naming.
    pub classes: usize,
    /// Rows a flat clustering left as noise.
    pub noise_rows: usize,
    /// Whether the failure scan ran.
    pub scanned: bool,
    /// Time spent building the candidates (the rest is the tests and the selection).
    pub clustering_time: Duration,
}

/// Builds the candidates of `embeddings`, adds `extra` after the tree's nodes (or the flat
/// clusters), tests each for a failure rate above the rest, and selects: among the tree's nodes
/// and among the scan's regions the best antichain, where the two overlap the side that
/// explains the failures better, and reported tree nodes must pass the step-up rule again with
/// only reported slices counted; other candidates are reported when significant. Uses
/// `config`'s clustering, scan, test, alpha, split penalty and null rate.
pub fn discover(
    embeddings: &Matrix,
    failed: &[bool],
    extra: Vec<Candidate>,
    config: &SlicesConfig,
    progress: &Progress,
) -> Result<Discovery> {
    let started = Instant::now();
    let min_size = config.cluster.min_cluster_size;
    let candidates::Found {
        mut candidates,
        info: clustering,
        noise_rows,
        classes,
        neighbours,
    } = candidates::from_embeddings(
        embeddings,
        &config.cluster,
        if config.scan { scan::NEIGHBOURS } else { 0 },
        progress,
    )?;
    let clustering_time = started.elapsed();
    // Tree nodes come first (candidate i is node i).
    let nodes = candidates
        .iter()
        .take_while(|c| c.position.is_some())
        .count();
    candidates.extend(extra);
    // The failure-scan regions come last, numbered after the tree's nodes.
    let fixed = candidates.len();
    // With the scan, the error budget is split: the scan's family-wise Monte Carlo test gets
    // scan::ALPHA_SHARE of alpha, Benjamini-Hochberg over the other candidates the rest, so the
    // false-discovery rate of the union stays at most alpha (docs/statistics.md).
    let (alpha_fixed, alpha_scan) = match &neighbours {
        Some(_) => (
            config.alpha * (1.0 - scan::ALPHA_SHARE),
            config.alpha * scan::ALPHA_SHARE,
        ),
        None => (config.alpha, 0.0),
    };
    let regions = neighbours.as_ref().map_or(vec![], |graph| {
        scan::regions(
            graph,
            scan::Outcomes::Failures(failed),
            min_size,
            scan::PERMUTATIONS,
            config.cluster.seed,
        )
    });
    let region_p: Vec<f64> = regions.iter().map(|r| r.p_value).collect();
    candidates.extend(regions.into_iter().enumerate().map(|(i, r)| Candidate {
        source: "scan".into(),
        value: None,
        rows: r.rows,
        position: Some(TreePosition {
            node: nodes + i,
            parent: r.parent.map(|p| nodes + p),
            children: r.children.iter().map(|c| nodes + c).collect(),
            level: r.level,
            parts: Vec::new(),
        }),
    }));

    let total = failed.len();
    let total_failures = failed.iter().filter(|&&f| f).count();
    let baseline = config
        .null_rate
        .unwrap_or(total_failures as f64 / total as f64);

    let failures: Vec<usize> = candidates
        .iter()
        .map(|c| c.rows.iter().filter(|&&i| failed[i]).count())
        .collect();
    let test_of = |fails: usize, size: usize| match config.null_rate {
        Some(p0) => EnrichmentTest {
            p_value: stats::binomial_upper_tail(fails as u64, size as u64, p0),
            test: TestKind::Binomial,
        },
        None => stats::enrichment_test(
            config.test,
            fails as u64,
            size as u64,
            total_failures as u64,
            total as u64,
        ),
    };
    let mut tests: Vec<EnrichmentTest> = candidates[..fixed]
        .iter()
        .zip(&failures)
        .map(|(c, &fails)| test_of(fails, c.rows.len()))
        .collect();
    let p_values: Vec<f64> = tests.iter().map(|t| t.p_value).collect();
    let mut adjusted = stats::benjamini_hochberg(&p_values);
    tests.extend(region_p.iter().map(|&p| EnrichmentTest {
        p_value: p,
        test: TestKind::PermutationScan,
    }));
    adjusted.extend(&region_p);
    let significant: Vec<bool> = adjusted
        .iter()
        .enumerate()
        .map(|(c, &p)| p <= if c < fixed { alpha_fixed } else { alpha_scan })
        .collect();
    let llr: Vec<f64> = candidates
        .iter()
        .zip(&failures)
        .map(|(c, &fails)| selection::log_likelihood_ratio(fails, c.rows.len(), baseline))
        .collect();

    // Among the tree's nodes, and among the scan's regions, only the best antichain is
    // reported, and where the two overlap the side that explains the failures better. Other
    // candidates (flat clusters, noise, group-by values) are reported when significant.
    let penalty = config.split_penalty;
    let tree_chosen = antichain(&candidates, 0..nodes, &llr, &significant, penalty);
    let scan_chosen = antichain(
        &candidates,
        fixed..candidates.len(),
        &llr,
        &significant,
        penalty,
    );
    let mut selected = vec![false; candidates.len()];
    selected[nodes..fixed].copy_from_slice(&significant[nodes..fixed]);
    for c in selection::better_of_overlapping(
        &tree_chosen,
        &scan_chosen,
        |c| &candidates[c].rows[..],
        &llr,
        [penalty, SCAN_HANDICAP * penalty],
    ) {
        selected[c] = true;
    }
    // The reported tree nodes must pass the step-up rule again, with only reported slices
    // counted as discoveries (regions have their own family-wise test).
    let reported: Vec<usize> = (0..fixed).filter(|&c| selected[c]).collect();
    for c in selection::unconfirmed(&p_values, &reported, fixed, alpha_fixed, |c| c < nodes) {
        selected[c] = false;
    }
    let mut found = Discovery {
        candidates,
        failures,
        tests,
        adjusted,
        significant,
        llr,
        selected,
        baseline,
        total_failures,
        clustering,
        classes,
        noise_rows,
        scanned: neighbours.is_some(),
        clustering_time,
    };
    if config.group_parts {
        found.add_groups(nodes, fixed, total, test_of);
    }
    Ok(found)
}

impl Discovery {
    /// Reports, besides them, the reported tree nodes and regions that fail alike inside one
    /// significant unreported node or region ([`grouping`]), as candidates of source `group`
    /// numbered after the regions. `nodes` and `fixed` delimit the tree's nodes and the
    /// regions as in [`discover`]; `total` rows; `test_of(failures, size)` is every
    /// candidate's test.
    fn add_groups(
        &mut self,
        nodes: usize,
        fixed: usize,
        total: usize,
        test_of: impl Fn(usize, usize) -> EnrichmentTest,
    ) {
        let nested = |c: &usize| *c < nodes || *c >= fixed;
        let reported: Vec<usize> = (0..self.candidates.len())
            .filter(|c| nested(c) && self.selected[*c])
            .collect();
        let supports: Vec<usize> = (0..self.candidates.len())
            .filter(|c| nested(c) && self.significant[*c] && !self.selected[*c])
            .collect();
        let found = grouping::groups(
            &reported,
            &supports,
            |c| &self.candidates[c].rows[..],
            &self.failures,
            self.baseline,
            total,
        );
        for parts in found {
            let mut rows: Vec<usize> = parts
                .iter()
                .flat_map(|&c| self.candidates[c].rows.iter().copied())
                .collect();
            rows.sort_unstable();
            let fails = parts.iter().map(|&c| self.failures[c]).sum();
            let position = TreePosition {
                // Numbered after the tree's nodes and the scan's regions.
                node: nodes + self.candidates.len() - fixed,
                parent: None,
                children: Vec::new(),
                level: 0,
                parts: parts
                    .iter()
                    .filter_map(|&c| self.candidates[c].position.as_ref().map(|p| p.node))
                    .collect(),
            };
            // No new discovery: the group is as significant as its weakest part.
            let weakest = parts.iter().map(|&c| self.adjusted[c]).fold(0.0, f64::max);
            self.llr.push(selection::log_likelihood_ratio(
                fails,
                rows.len(),
                self.baseline,
            ));
            self.tests.push(test_of(fails, rows.len()));
            self.failures.push(fails);
            self.adjusted.push(weakest);
            self.significant.push(true);
            self.selected.push(true);
            self.candidates.push(Candidate {
                source: "group".into(),
                value: None,
                rows,
                position: Some(position),
            });
        }
    }
}

/// The best antichain ([`selection::best_antichain`]) of the nested candidates `range`, whose
/// tree positions number them consecutively from the first one's node; candidate indices.
fn antichain(
    candidates: &[Candidate],
    range: std::ops::Range<usize>,
    llr: &[f64],
    significant: &[bool],
    penalty: f64,
) -> Vec<usize> {
    let Some(first) = candidates
        .get(range.start)
        .and_then(|c| c.position.as_ref())
    else {
        return Vec::new();
    };
    let base = first.node;
    let positions: Vec<&TreePosition> = candidates[range.clone()]
        .iter()
        .map(|c| {
            c.position
                .as_ref()
                .expect("nested candidates have positions")
        })
        .collect();
    let parents: Vec<Option<usize>> = positions
        .iter()
        .map(|p| p.parent.map(|v| v - base))
        .collect();
    let children: Vec<Vec<usize>> = positions
        .iter()
        .map(|p| p.children.iter().map(|v| v - base).collect())
        .collect();
    selection::best_antichain(
        &parents,
        &children,
        &llr[range.clone()],
        &significant[range.clone()],
        penalty,
    )
    .into_iter()
    .map(|v| range.start + v)
    .collect()
}
