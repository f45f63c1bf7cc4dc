//! When is a production prompt uncovered? Two rules, each calibrated so that prompts drawn
//! from the same distribution as the test suite are wrongly flagged with a known probability.
//!
//! **Distance rule.** A prompt is uncovered when its nearest test is farther than a threshold.
//! The automatic threshold comes from the test suite itself: each test prompt's distance to its
//! nearest *other* test prompt (exact duplicates skipped) is what "the distance to the nearest
//! test" looks like for a prompt the suite does cover. Taking the ⌈(n + 1)(1 − α)⌉-th smallest
//! of those n distances is the split-conformal quantile: a new prompt exchangeable with the
//! tests exceeds it with probability at most α. So the share of covered traffic called
//! uncovered is about α whatever the production set looks like, and a suite that covers
//! everything reports (almost) no gaps. The Python faultmap's rule, mean + 1.5σ of the
//! *production* distances, instead declares roughly the same share of production uncovered
//! whatever the suite is, gaps or none (docs/coverage.md).
//!
//! **Smoothing.** A prompt of a missing topic can sit as close to a neighbouring topic's test as
//! that topic's own prompts do, while the topic as a whole is far from the tests. So the rule
//! scores a prompt by its nearest-test distance averaged with those of its nearest production
//! prompts (`--smooth-over N`: the prompt and N - 1 neighbours from the reference sample
//! below). Each test is scored the same way with itself (and its copies) left out of the suite:
//! its nearest other test, and its nearest production prompts' nearest tests once it is gone
//! (the runner-up where it was the nearest). The threshold is the same conformal quantile of
//! those scores, so the guarantee above holds for the smoothed score. Only prompts beyond the
//! neighbour rule's floor (the median test spacing) are smoothed, and tests likewise: nearer
//! than that, a prompt keeps its own distance, which is far below the threshold (a cost
//! saving: the neighbours come from the neighbour rule's pass, which asks only those prompts).
//! On the planted-gap benchmark this found more missing intents at about the same false alarms
//! (docs/benchmarks.md).
//!
//! **Neighbour rule.** A bag-of-words or small embedding places a prompt of a missing topic
//! closer to a test of a neighbouring topic than the tests of one topic are to each other, so
//! distance alone misses near-miss gaps. But such a prompt's own topic is in production too:
//! its nearest neighbours among all prompts are production prompts, not tests. If tests and
//! production came from the same distribution, each neighbour would be a test with probability
//! π = T / (T + S) (T distinct tests, S distinct production prompts in the reference set), so
//! "none of the k nearest neighbours is a test" happens with probability (1 − π)^k; k is the
//! smallest count that makes this at most α. This is a k-nearest-neighbour estimate of the
//! density ratio production/tests. Near-duplicate traffic would make any popular prompt look
//! untested, so the rule counts distinct prompts and only applies where the nearest test is
//! farther than the median test-to-test spacing.
//!
//! The rule judges a neighbourhood, and a topic with few tests for its traffic is such a
//! neighbourhood too, so its flags are evidence for gaps: a flagged prompt counts as uncovered
//! only inside a gap (`Uncovered::confirm`).

use serde::Serialize;

/// How the distance threshold was set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ThresholdSource {
    /// `--distance-threshold`.
    Given,
    /// The conformal quantile of the tests' nearest-other-test distances.
    Calibrated {
        /// 1 − α of the distance rule.
        quantile: f64,
        /// Test prompts with a distinct nearest other test (the calibration sample).
        calibration_tests: usize,
        /// Median of those distances: the neighbour rule's floor.
        median_test_spacing: f64,
        /// Prompts each distance is averaged over (1: none).
        smoothed_over: usize,
    },
}

/// The ⌈(n + 1)(1 − α)⌉-th smallest value (the largest when that rank exceeds n), or `None`
/// for an empty sample. `values` need not be sorted.
pub fn conformal_quantile(values: &[f64], alpha: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let rank = (((n + 1) as f64) * (1.0 - alpha)).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// The mean of `first` and `rest`.
pub fn mean_with(first: f64, rest: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = rest.fold((first, 1usize), |(sum, n), x| (sum + x, n + 1));
    sum / n as f64
}

/// The median (lower middle value for an even count), or `None` for an empty sample.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[(sorted.len() - 1) / 2])
}

/// The neighbour rule's settings, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NeighbourRule {
    /// A prompt is flagged when its `k` nearest neighbours are all production prompts; a
    /// flagged prompt is uncovered when it lies in a gap.
    pub k: usize,
    /// Distinct production prompts the neighbours are drawn from (a seeded sample above the
    /// limit).
    pub reference_prompts: usize,
    /// Distinct test prompts.
    pub tests: usize,
    /// Probability that a neighbour is a test under the null, T / (T + S).
    pub test_probability: f64,
    /// The rule applies only to prompts whose nearest test is farther than this.
    pub min_distance: f64,
    /// Prompts the rule flagged that lie in no gap, and so count as covered: the rule judges a
    /// neighbourhood, and alone a flag there is as likely a thinly tested topic as a missing one.
    pub flagged_outside_gaps: usize,
}

/// The smallest k with (1 − π)^k ≤ α, π = tests / (tests + references); `None` when even
/// all references could not reach it (too few tests for the rule to have any power).
pub fn neighbour_k(tests: usize, references: usize, alpha: f64) -> Option<usize> {
    if tests == 0 || references < 2 {
        return None;
    }
    let pi = tests as f64 / (tests + references) as f64;
    let k = (alpha.ln() / (1.0 - pi).ln()).ceil().max(1.0) as usize;
    // A prompt in the reference set is not its own neighbour.
    (k < references).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformal_quantile_uses_the_n_plus_one_rank() {
        let values: Vec<f64> = (1..=19).map(f64::from).collect();
        // (19 + 1) * 0.95 = 19 → the 19th smallest.
        assert_eq!(conformal_quantile(&values, 0.05), Some(19.0));
        // (19 + 1) * 0.9 = 18.
        assert_eq!(conformal_quantile(&values, 0.1), Some(18.0));
        // Rank above n: the largest.
        assert_eq!(conformal_quantile(&values[..5], 0.05), Some(5.0));
        assert_eq!(conformal_quantile(&[], 0.05), None);
        // Unsorted input.
        assert_eq!(conformal_quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn neighbour_k_makes_an_all_production_neighbourhood_unlikely() {
        // CLINC150 holdout: 2,200 tests, 5,500 production prompts, α = 0.025.
        let k = neighbour_k(2200, 5500, 0.025).unwrap();
        let pi = 2200.0 / 7700.0;
        assert!((1.0f64 - pi).powi(k as i32) <= 0.025);
        assert!((1.0f64 - pi).powi(k as i32 - 1) > 0.025);
        assert_eq!(k, 11);
        // Equal sizes: π = 1/2, 2^-6 < 0.025 < 2^-5.
        assert_eq!(neighbour_k(1000, 1000, 0.025), Some(6));
        // Few tests among many prompts: k would exceed the references, so no rule.
        assert_eq!(neighbour_k(2, 100, 0.025), None);
        assert_eq!(neighbour_k(0, 100, 0.025), None);
    }
}
