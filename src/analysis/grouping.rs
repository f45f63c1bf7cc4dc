//! Reported slices that fail together: the parts of one failing region, reported as one
//! group besides the parts.
//!
//! The best antichain ([`super::selection`]) reports a failing topic that the tree splits
//! across branches, or a family of neighbouring topics failing alike, as several slices: each
//! part is purer than the region around them, so `Σ Λ(parts)` beats `Λ(region)` by more than
//! the penalties. But a user asking "where does my model fail?" wants to hear that those parts
//! are one thing when they are. A group is formed where a significant candidate that was not
//! reported (a tree node or a scan region: the *support*) holds at least half of the rows of
//! each of two or more reported slices, and those parts fail at one common rate: the
//! likelihood-ratio test of "the parts' rates differ", `2 (Σ Λ(parts) - Λ(union))`, does not
//! reject at 5% against χ² with `parts - 1` degrees of freedom. Its rows are the union of the
//! parts (not the support's, which was only the evidence that they are neighbours). Where
//! groups share parts, the one with the larger Λ is kept.
//!
//! A group is no new discovery: every part is already significant, and the group only says
//! they fail alike. Measured on the planted-slice benchmark in docs/benchmarks.md.

use super::selection::log_likelihood_ratio;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::BTreeSet;

/// Share of a part's rows the support must hold.
const INSIDE: f64 = 0.5;
/// Level of the test that the parts' failure rates differ.
const HOMOGENEITY_LEVEL: f64 = 0.05;

/// The groups of `reported` slices, each a list of parts (ascending, disjoint between groups),
/// ordered by first part. `rows(c)` lists candidate `c`'s rows (ascending), `failures[c]`
/// counts its failing rows; `supports` are the candidates that may show parts to be
/// neighbours; `reported` slices must not share rows; `baseline` is the rate Λ is measured
/// against; `total_rows` bounds the row indices.
pub fn groups<'a>(
    reported: &[usize],
    supports: &[usize],
    rows: impl Fn(usize) -> &'a [usize],
    failures: &[usize],
    baseline: f64,
    total_rows: usize,
) -> Vec<Vec<usize>> {
    const NONE: u32 = u32::MAX;
    let mut part_of = vec![NONE; total_rows];
    for (k, &c) in reported.iter().enumerate() {
        for &i in rows(c) {
            part_of[i] = k as u32;
        }
    }
    // Distinct sets of parts that some support holds.
    let mut sets: BTreeSet<Vec<usize>> = BTreeSet::new();
    let mut inside = vec![0usize; reported.len()];
    for &s in supports {
        inside.iter_mut().for_each(|x| *x = 0);
        for &i in rows(s) {
            if part_of[i] != NONE {
                inside[part_of[i] as usize] += 1;
            }
        }
        let parts: Vec<usize> = (0..reported.len())
            .filter(|&k| {
                inside[k] > 0 && inside[k] as f64 >= INSIDE * rows(reported[k]).len() as f64
            })
            .collect();
        if parts.len() >= 2 {
            sets.insert(parts);
        }
    }
    let llr = |fails: usize, size: usize| log_likelihood_ratio(fails, size, baseline);
    let mut homogeneous: Vec<(f64, Vec<usize>)> = sets
        .into_iter()
        .filter_map(|parts| {
            let (fails, size, split) = parts.iter().fold((0, 0, 0.0), |(f, n, l), &k| {
                let c = reported[k];
                let (cf, cn) = (failures[c], rows(c).len());
                (f + cf, n + cn, l + llr(cf, cn))
            });
            let joined = llr(fails, size);
            let df = (parts.len() - 1) as f64;
            let critical = ChiSquared::new(df)
                .map(|d| d.inverse_cdf(1.0 - HOMOGENEITY_LEVEL))
                .unwrap_or(f64::INFINITY);
            (2.0 * (split - joined) <= critical).then_some((joined, parts))
        })
        .collect();
    // Largest Λ first (ties: the earlier parts), each part in one group at most.
    homogeneous.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut used = vec![false; reported.len()];
    let mut kept = Vec::new();
    for (_, parts) in homogeneous {
        if parts.iter().all(|&k| !used[k]) {
            parts.iter().for_each(|&k| used[k] = true);
            kept.push(parts.iter().map(|&k| reported[k]).collect::<Vec<usize>>());
        }
    }
    kept.sort();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Candidates 0-2 are reported parts (20 rows each), 3 a support holding all of 0 and 1
    /// and a quarter of 2, 4 a support holding all three.
    fn rows() -> Vec<Vec<usize>> {
        vec![
            (0..20).collect(),
            (20..40).collect(),
            (40..60).collect(),
            (0..45).collect(),
            (0..60).collect(),
        ]
    }

    #[test]
    fn parts_failing_alike_inside_one_support_are_grouped() {
        let rows = rows();
        // parts at 10, 11 and 12 of 20 against a baseline of 0.1: rates alike
        let failures = [10, 11, 12, 30, 33];
        let g = groups(&[0, 1, 2], &[3, 4], |c| &rows[c][..], &failures, 0.1, 60);
        assert_eq!(g, vec![vec![0, 1, 2]]);
        // only support 3: it holds a quarter of part 2, so 2 stays out
        let g = groups(&[0, 1, 2], &[3], |c| &rows[c][..], &failures, 0.1, 60);
        assert_eq!(g, vec![vec![0, 1]]);
    }

    #[test]
    fn parts_failing_at_different_rates_are_not_grouped() {
        let rows = rows();
        // 20 of 20 against 4 of 20: 2 (Λ0 + Λ1 - Λ01) is about 34, far above χ²₁'s 3.84
        let failures = [20, 4, 4, 24, 28];
        let g = groups(&[0, 1], &[3], |c| &rows[c][..], &failures, 0.1, 60);
        assert!(g.is_empty(), "{g:?}");
    }

    #[test]
    fn the_homogeneity_test_matches_a_hand_computed_statistic() {
        // Parts of 20 rows with 10 and 16 failures, baseline 0.1. By hand (Python, math.log):
        // Λ(10/20) = 10 ln 5 + 10 ln(0.5/0.9) = 10.217; Λ(16/20) = 16 ln 8 + 4 ln(0.2/0.9)
        // = 27.255; Λ(26/40) = 26 ln 6.5 + 14 ln(0.35/0.9) = 35.444; statistic
        // 2 (10.217 + 27.255 - 35.444) = 4.05 > 3.84: not grouped. With 15 failures instead of
        // 16 the statistic is 2.71 < 3.84: grouped.
        let rows = rows();
        let two_parts =
            |failures: &[usize]| groups(&[0, 1], &[3], |c| &rows[c][..], failures, 0.1, 60);
        assert!(two_parts(&[10, 16, 0, 26, 26]).is_empty());
        assert_eq!(two_parts(&[10, 15, 0, 25, 25]), vec![vec![0, 1]]);
    }
}
