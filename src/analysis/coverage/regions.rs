//! Thin coverage: production topics that get far fewer tests than their share of traffic.
//!
//! The topics are the candidate tree's nodes (or a flat clustering's clusters); each test is
//! placed at its nearest production prompt when that prompt is within the distance threshold
//! (a test nobody asks anything like belongs to no topic), and a topic holds the tests placed
//! at its prompts. A topic with traffic share p and t of the T tests
//! is compared with proportional allocation: the density ratio is p / ((t + ½) / (T + 1)) (the
//! ½ keeps it finite for untested topics), and the one-sided binomial test P(X ≤ t),
//! X ~ Binomial(T, p), asks whether the shortfall could be chance. p-values are adjusted by
//! Benjamini-Hochberg across topics; a topic is reported when its adjusted p-value is at most
//! `alpha` and its density ratio at least `min_ratio`.

use crate::analysis::selection;
use crate::stats;
use serde::Serialize;

/// One production topic's test allocation, before naming.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Index of the topic among those tested.
    pub cluster: usize,
    /// Production rows (indices into the production records).
    pub rows: Vec<usize>,
    pub traffic_share: f64,
    pub tests: usize,
    pub expected_tests: f64,
    pub density_ratio: f64,
    pub p_value: f64,
    pub adjusted_p_value: f64,
}

impl Allocation {
    /// One-sided log-likelihood ratio of the shortfall: `tests` of T against the traffic share
    /// (0 when the topic has its share or more). Tree nodes are chosen by it, as slices are.
    pub fn shortfall_llr(&self, total_tests: usize) -> f64 {
        // Tests outside the topic are "too many" exactly when those inside are too few.
        selection::log_likelihood_ratio(
            total_tests - self.tests,
            total_tests,
            1.0 - self.traffic_share,
        )
    }
}

/// Settings of the thin-coverage test, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThinCoverageRule {
    pub min_ratio: f64,
    pub alpha: f64,
    /// Production topics tested.
    pub topics: usize,
    /// Tests placed at a production prompt (their nearest, within the distance threshold).
    pub placed_tests: usize,
}

/// The groups of a flat clustering: the rows of each cluster of `labels`.
pub fn groups_of(labels: &[Option<usize>], num_clusters: usize) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); num_clusters];
    for (i, label) in labels.iter().enumerate() {
        if let Some(c) = label {
            rows[*c].push(i);
        }
    }
    rows
}

/// Tests every group of production rows for too few tests; groups may nest (tree nodes).
/// `weights` are the rows' traffic weights; `tests_at[i]` counts the tests placed at production
/// row `i`; `total_tests` is T. Returns each group's allocation, in the order given, with
/// p-values adjusted by Benjamini-Hochberg across the groups.
pub fn allocations(
    groups: Vec<Vec<usize>>,
    weights: &[f64],
    tests_at: &[usize],
    total_tests: usize,
) -> Vec<Allocation> {
    let total_weight: f64 = weights.iter().sum();
    let t = total_tests as f64;
    let mut out: Vec<Allocation> = groups
        .into_iter()
        .enumerate()
        .map(|(cluster, rows)| {
            let weight: f64 = rows.iter().map(|&i| weights[i]).sum();
            let share = if total_weight > 0.0 {
                (weight / total_weight).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let placed: usize = rows.iter().map(|&i| tests_at[i]).sum();
            Allocation {
                cluster,
                rows,
                traffic_share: share,
                tests: placed,
                expected_tests: share * t,
                density_ratio: share / ((placed as f64 + 0.5) / (t + 1.0)),
                p_value: stats::binomial_lower_tail(placed as u64, total_tests as u64, share),
                adjusted_p_value: 1.0,
            }
        })
        .collect();
    let p_values: Vec<f64> = out.iter().map(|a| a.p_value).collect();
    for (a, adjusted) in out.iter_mut().zip(stats::benjamini_hochberg(&p_values)) {
        a.adjusted_p_value = adjusted;
    }
    out
}

/// Whether a topic is thinly covered under `rule`.
pub fn is_thin(a: &Allocation, rule: &ThinCoverageRule) -> bool {
    a.adjusted_p_value <= rule.alpha && a.density_ratio >= rule.min_ratio
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_with_much_traffic_and_few_tests_is_thin() {
        // 100 production rows: cluster 0 has 30 (30% of traffic), cluster 1 has 70.
        let labels: Vec<Option<usize>> = (0..100).map(|i| Some(usize::from(i >= 30))).collect();
        let weights = vec![1.0; 100];
        // 100 tests: 2 in cluster 0 (at row 0), 90 in cluster 1 (at row 50), 8 in no topic.
        let mut tests_at = vec![0usize; 100];
        tests_at[0] = 2;
        tests_at[50] = 90;
        let a = allocations(groups_of(&labels, 2), &weights, &tests_at, 100);
        assert_eq!(a[0].rows.len(), 30);
        assert_eq!(a[0].tests, 2);
        assert!((a[0].traffic_share - 0.3).abs() < 1e-12);
        assert!((a[0].expected_tests - 30.0).abs() < 1e-9);
        // 0.3 / (2.5 / 101) = 12.12
        assert!((a[0].density_ratio - 12.12).abs() < 1e-9);
        assert!(a[0].p_value < 1e-9, "{}", a[0].p_value);
        assert!(a[1].p_value > 0.5);
        let rule = ThinCoverageRule {
            min_ratio: 3.0,
            alpha: 0.05,
            topics: 2,
            placed_tests: 92,
        };
        assert!(is_thin(&a[0], &rule));
        assert!(!is_thin(&a[1], &rule));
    }

    #[test]
    fn the_shortfall_ratio_is_the_binomial_log_likelihood_ratio() {
        // 2 of 100 tests where 30% of traffic is: 98 ln(0.98 / 0.7) + 2 ln(0.02 / 0.3).
        let labels: Vec<Option<usize>> = (0..10).map(|i| Some(usize::from(i >= 3))).collect();
        let mut tests_at = vec![0usize; 10];
        tests_at[0] = 2;
        tests_at[5] = 98;
        let a = allocations(groups_of(&labels, 2), &[1.0; 10], &tests_at, 100);
        assert!((a[0].shortfall_llr(100) - 27.558_178_786_674_45).abs() < 1e-9);
        // No test at all: 100 ln(1 / 0.7).
        let none = allocations(vec![vec![0, 1, 2]], &[1.0; 10], &[0; 10], 100);
        assert!((none[0].shortfall_llr(100) - 35.667_494_393_873_24).abs() < 1e-9);
        // At or above its share, no shortfall.
        assert_eq!(a[1].shortfall_llr(100), 0.0);
    }

    #[test]
    fn traffic_weights_set_the_share() {
        // Two rows; the first carries 9 of 10 units of traffic.
        let a = allocations(vec![vec![0], vec![1]], &[9.0, 1.0], &[0, 10], 10);
        assert!((a[0].traffic_share - 0.9).abs() < 1e-12);
        assert_eq!(a[0].tests, 0);
        assert!(a[0].p_value < 1e-9);
        assert_eq!(a[1].tests, 10);
        assert_eq!(a[1].p_value, 1.0);
    }

    #[test]
    fn zero_traffic_and_no_tests_are_not_findings() {
        let a = allocations(vec![vec![0]], &[0.0], &[0], 0);
        assert_eq!(a[0].traffic_share, 0.0);
        assert_eq!(a[0].p_value, 1.0);
    }
}
