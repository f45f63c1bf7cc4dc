//! Thin coverage: production topics that get far fewer tests than their share of traffic.
//!
//! Production is clustered (the shared clustering); each test is placed in the cluster of its
//! nearest production prompt when that prompt is within the distance threshold (a test nobody
//! asks anything like belongs to no topic). A topic with traffic share p and t of the T tests
//! is compared with proportional allocation: the density ratio is p / ((t + ½) / (T + 1)) (the
//! ½ keeps it finite for untested topics), and the one-sided binomial test P(X ≤ t),
//! X ~ Binomial(T, p), asks whether the shortfall could be chance. p-values are adjusted by
//! Benjamini-Hochberg across topics; a topic is reported when its adjusted p-value is at most
//! `alpha` and its density ratio at least `min_ratio`.

use crate::stats;
use serde::Serialize;

/// One production topic's test allocation, before naming.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Index of the cluster.
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

/// Settings of the thin-coverage test, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThinCoverageRule {
    pub min_ratio: f64,
    pub alpha: f64,
    /// Production topics tested.
    pub topics: usize,
    /// Tests placed in some topic.
    pub placed_tests: usize,
}

/// Tests every cluster of `labels` (one per production row) for too few tests.
/// `weights` are the rows' traffic weights; `test_cluster` is each test's topic, if any;
/// `total_tests` is T. Returns every topic's allocation, in cluster order.
pub fn allocations(
    labels: &[Option<usize>],
    num_clusters: usize,
    weights: &[f64],
    test_cluster: &[Option<usize>],
    total_tests: usize,
) -> Vec<Allocation> {
    let total_weight: f64 = weights.iter().sum();
    let mut rows = vec![Vec::new(); num_clusters];
    for (i, label) in labels.iter().enumerate() {
        if let Some(c) = label {
            rows[*c].push(i);
        }
    }
    let mut tests = vec![0usize; num_clusters];
    for c in test_cluster.iter().flatten() {
        tests[*c] += 1;
    }
    let t = total_tests as f64;
    let mut out: Vec<Allocation> = rows
        .into_iter()
        .enumerate()
        .map(|(cluster, rows)| {
            let weight: f64 = rows.iter().map(|&i| weights[i]).sum();
            let share = if total_weight > 0.0 {
                (weight / total_weight).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let placed = tests[cluster];
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
        // 100 tests: 2 in cluster 0, 90 in cluster 1, 8 in no topic.
        let tests: Vec<Option<usize>> = (0..100)
            .map(|j| match j {
                0..=1 => Some(0),
                2..=91 => Some(1),
                _ => None,
            })
            .collect();
        let a = allocations(&labels, 2, &weights, &tests, 100);
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
    fn traffic_weights_set_the_share() {
        // Two rows; the first carries 9 of 10 units of traffic.
        let a = allocations(&[Some(0), Some(1)], 2, &[9.0, 1.0], &[Some(1); 10], 10);
        assert!((a[0].traffic_share - 0.9).abs() < 1e-12);
        assert_eq!(a[0].tests, 0);
        assert!(a[0].p_value < 1e-9);
        assert_eq!(a[1].tests, 10);
        assert_eq!(a[1].p_value, 1.0);
    }

    #[test]
    fn zero_traffic_and_no_tests_are_not_findings() {
        let a = allocations(&[Some(0)], 1, &[0.0], &[], 0);
        assert_eq!(a[0].traffic_share, 0.0);
        assert_eq!(a[0].p_value, 1.0);
    }
}
