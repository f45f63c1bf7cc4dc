//! Which nodes of the candidate tree to report: among nested significant nodes, the set that
//! best explains the failures.
//!
//! Each node `v` with `a` failures in `n` rows scores its Bernoulli log-likelihood ratio
//! against the baseline rate `p0` of all rows,
//! `Λ(v) = a ln(a / (n p0)) + (n - a) ln((n - a) / (n (1 - p0)))`, one-sided (0 unless
//! `a / n > p0`): the scan statistic of Kulldorff with the outside rate held at `p0`. With
//! `p0` fixed, Λ adds up over disjoint nodes, so the best antichain (no node inside another)
//! follows from one pass up the tree:
//!
//! `best(v) = max(Σ best(children), Λ(v) - PENALTY if v is significant)`.
//!
//! A parent whose children fail at one common rate scores about the sum of the children, so
//! the penalty of one extra slice makes it win: it is reported as one slice. Children win when
//! `Σ Λ(children) - Λ(parent)`, half the likelihood-ratio statistic for "the children's rates
//! differ", exceeds the penalty; [`PENALTY`] is the 95% point of χ²₁ halved, so the parent is
//! split only where its children's rates differ significantly. A parent that holds a failing
//! child and a child failing at the baseline loses to the failing child alone (dilution lowers
//! Λ). Only significant nodes (after the false-discovery correction) can be chosen.

use crate::disjoint_sets::DisjointSets;

/// The default penalty per reported slice: half the 95% point of the χ² distribution with one
/// degree of freedom (3.841).
pub const PENALTY: f64 = 3.841_458_820_694_124 / 2.0;

/// One-sided Bernoulli log-likelihood ratio of `failures` in `size` rows against rate `p0`.
pub fn log_likelihood_ratio(failures: usize, size: usize, p0: f64) -> f64 {
    if size == 0 || !(0.0..1.0).contains(&p0) || p0 <= 0.0 {
        return 0.0;
    }
    let (a, n) = (failures as f64, size as f64);
    let rate = a / n;
    if rate <= p0 {
        return 0.0;
    }
    let term = |k: f64, q: f64, p: f64| if k > 0.0 { k * (q / p).ln() } else { 0.0 };
    (term(a, rate, p0) + term(n - a, 1.0 - rate, 1.0 - p0)).max(0.0)
}

/// The nodes to report, ascending. `parent[v]` and `children[v]` describe a forest in
/// pre-order (parents before children); `llr[v]` is Λ(v) and `significant[v]` whether the node
/// passed the false-discovery correction; `penalty` is the cost of one more slice ([`PENALTY`]).
pub fn best_antichain(
    parent: &[Option<usize>],
    children: &[Vec<usize>],
    llr: &[f64],
    significant: &[bool],
    penalty: f64,
) -> Vec<usize> {
    let n = parent.len();
    let mut best = vec![0.0f64; n];
    let mut take_node = vec![false; n];
    for v in (0..n).rev() {
        let below: f64 = children[v].iter().map(|&c| best[c]).sum();
        let own = llr[v] - penalty;
        if significant[v] && own > below {
            best[v] = own;
            take_node[v] = true;
        } else {
            best[v] = below;
        }
    }
    let mut chosen = Vec::new();
    let mut stack: Vec<usize> = (0..n).filter(|&v| parent[v].is_none()).rev().collect();
    while let Some(v) = stack.pop() {
        if take_node[v] {
            chosen.push(v);
        } else {
            stack.extend(children[v].iter().rev());
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Where two antichains over the same rows overlap, keeps one side: slices are grouped by
/// overlap (a slice of `first` and one of `second` sharing a row are in one group), and each
/// group keeps the side with the larger `Σ (llr - penalty of its side)` (ties to `first`).
/// Slices that overlap nothing are kept. `rows(s)` lists slice `s`'s rows; the result is
/// ascending.
pub fn better_of_overlapping<'a>(
    first: &[usize],
    second: &[usize],
    rows: impl Fn(usize) -> &'a [usize],
    llr: &[f64],
    penalty: [f64; 2],
) -> Vec<usize> {
    let all: Vec<usize> = first.iter().chain(second).copied().collect();
    // Group slices by overlap: label every row with the first slice seen on it, and join.
    let mut group = DisjointSets::new(all.len());
    let mut owner: std::collections::HashMap<usize, usize> = Default::default();
    for (g, &s) in all.iter().enumerate() {
        for &i in rows(s) {
            let other = *owner.entry(i).or_insert(g);
            group.union(g, other);
        }
    }
    // Per group and side: the penalized score, and whether the side has a slice there (a
    // group with one side keeps it, whatever its score).
    let mut value: std::collections::BTreeMap<usize, [(f64, bool); 2]> = Default::default();
    for (g, &s) in all.iter().enumerate() {
        let side = usize::from(g >= first.len());
        let entry = &mut value.entry(group.find(g)).or_default()[side];
        *entry = (entry.0 + llr[s] - penalty[side], true);
    }
    let mut kept: Vec<usize> = (0..all.len())
        .filter(|&g| {
            let [(a, has_a), (b, has_b)] = value[&group.find(g)];
            let first_wins = !has_b || (has_a && a >= b);
            (g < first.len()) == first_wins
        })
        .map(|g| all[g])
        .collect();
    kept.sort_unstable();
    kept
}

/// The reported tree nodes that the step-up rule still confirms when only reported slices
/// count as discoveries. Benjamini-Hochberg over the whole tree counts every significant
/// ancestor of a failing topic as a discovery: a file with one failing topic has dozens of
/// them, which relaxes the cut `k alpha / m` for unrelated nodes, and those nodes (a few
/// failures more than chance) were most of the top-5 slices without planted rows on the
/// development seeds. Here the reported candidates are ranked by raw p-value and a reported
/// tree node must pass `p_(r) <= r alpha / m`, `r` its rank among them and `m` the whole
/// family: stricter than BH, so every node kept was already BH-significant. `reported` lists
/// the candidates that are reported and were tested in the BH family; `droppable(c)` says
/// whether `c` may be dropped (tree nodes; group-by values and flat clusters count toward the
/// ranks but stay). Returns the candidates to drop.
pub fn unconfirmed(
    p_values: &[f64],
    reported: &[usize],
    family: usize,
    alpha: f64,
    droppable: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut ranked: Vec<usize> = reported.to_vec();
    ranked.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]).then(a.cmp(&b)));
    let passing = ranked
        .iter()
        .enumerate()
        .rev()
        .find(|&(r, &c)| p_values[c] <= (r + 1) as f64 * alpha / family as f64)
        .map_or(0, |(r, _)| r + 1);
    ranked[passing..]
        .iter()
        .copied()
        .filter(|&c| droppable(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Λ against values computed by hand from the formula (Python, math.log).
    #[test]
    fn llr_known_values() {
        // 60 of 100 failing against 0.1: 60 ln 6 + 40 ln(0.4/0.9)
        let expected = 60.0 * 6.0f64.ln() + 40.0 * (0.4f64 / 0.9).ln();
        assert!((log_likelihood_ratio(60, 100, 0.1) - expected).abs() < 1e-12);
        // all failing: only the first term
        assert!((log_likelihood_ratio(10, 10, 0.5) - 10.0 * 2.0f64.ln()).abs() < 1e-12);
        // at or below the baseline, zero failures, degenerate p0
        assert_eq!(log_likelihood_ratio(10, 100, 0.1), 0.0);
        assert_eq!(log_likelihood_ratio(0, 100, 0.1), 0.0);
        assert_eq!(log_likelihood_ratio(5, 10, 0.0), 0.0);
        assert_eq!(log_likelihood_ratio(5, 10, 1.0), 0.0);
        assert_eq!(log_likelihood_ratio(0, 0, 0.3), 0.0);
    }

    #[test]
    fn overlapping_sides_keep_the_better_explanation() {
        // 0 = rows 0..10, 1 = rows 10..20 (first side); 2 = rows 5..15 (second side) overlaps
        // both; 3 = rows 30..40 (second side) overlaps nothing.
        let rows: Vec<Vec<usize>> = vec![
            (0..10).collect(),
            (10..20).collect(),
            (5..15).collect(),
            (30..40).collect(),
        ];
        let get = |s: usize| &rows[s][..];
        let kept = better_of_overlapping(&[0, 1], &[2, 3], get, &[5.0, 5.0, 12.0, 3.0], [1.0; 2]);
        assert_eq!(kept, vec![2, 3]);
        let kept = better_of_overlapping(&[0, 1], &[2, 3], get, &[7.0, 7.0, 12.0, 3.0], [1.0; 2]);
        assert_eq!(kept, vec![0, 1, 3]);
        // a larger penalty on the second side tips the first example the other way
        let kept = better_of_overlapping(&[0, 1], &[2, 3], get, &[5.0, 5.0, 12.0, 3.0], [1.0, 4.0]);
        assert_eq!(kept, vec![0, 1, 3]);
    }

    #[test]
    fn only_reported_slices_count_as_discoveries() {
        // Family of 100; reported: 0 (p 1e-4), 1 (p 0.0009), 2 (p 0.02, a tree node).
        // BH over the whole family may have passed node 2 thanks to significant ancestors;
        // among the reported ones its rank is 3: 0.02 > 3 * 0.05 / 100, so it is dropped.
        let p = [1e-4, 0.0009, 0.02, 0.5];
        let dropped = unconfirmed(&p, &[0, 1, 2], 100, 0.05, |_| true);
        assert_eq!(dropped, vec![2]);
        // A group-by value (not droppable) counts toward the ranks but stays.
        assert!(unconfirmed(&p, &[0, 1, 2], 100, 0.05, |c| c != 2).is_empty());
        // Step-up: a larger p at a passing rank keeps the smaller ones before it.
        let p = [0.0012, 0.0011, 0.0014];
        assert!(unconfirmed(&p, &[0, 1, 2], 100, 0.05, |_| true).is_empty());
        // Nothing passes: all droppable ones go.
        assert_eq!(
            unconfirmed(&[0.5, 0.6], &[1, 0], 10, 0.05, |_| true),
            vec![0, 1]
        );
        assert!(unconfirmed(&p, &[], 100, 0.05, |_| true).is_empty());
    }

    fn forest() -> (Vec<Option<usize>>, Vec<Vec<usize>>) {
        // 0 -> {1, 2}; 3 alone
        (
            vec![None, Some(0), Some(0), None],
            vec![vec![1, 2], vec![], vec![], vec![]],
        )
    }

    #[test]
    fn parent_wins_when_children_agree() {
        let (p, c) = forest();
        // children 10 + 10, parent 19.5: splitting gains less than the penalty
        let chosen = best_antichain(
            &p,
            &c,
            &[19.5, 10.0, 10.0, 0.0],
            &[true, true, true, false],
            PENALTY,
        );
        assert_eq!(chosen, vec![0]);
    }

    #[test]
    fn children_win_when_they_differ() {
        let (p, c) = forest();
        let chosen = best_antichain(
            &p,
            &c,
            &[12.0, 30.0, 0.0, 5.0],
            &[true, true, false, true],
            PENALTY,
        );
        assert_eq!(chosen, vec![1, 3]);
    }

    #[test]
    fn nothing_significant_nothing_chosen() {
        let (p, c) = forest();
        assert!(best_antichain(&p, &c, &[50.0, 40.0, 3.0, 9.0], &[false; 4], PENALTY).is_empty());
    }

    #[test]
    fn a_significant_node_below_the_penalty_is_not_chosen() {
        let (p, c) = forest();
        assert!(best_antichain(
            &p,
            &c,
            &[0.0, 1.0, 0.0, 0.0],
            &[false, true, false, false],
            PENALTY
        )
        .is_empty());
    }
}
