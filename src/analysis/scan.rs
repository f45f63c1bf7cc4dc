//! Failure scan: candidate slices shaped by where failures gather among nearest neighbours.
//! They reach the groups no label-blind tree node matches: a topic the embedding splits
//! across branches, a few related topics that fail together.
//!
//! The scan works on *units*: the rows themselves, or on large inputs the candidate tree's
//! sample points, each with the rows that joined it. Each unit's *neighbourhood rate* `s_u` is
//! the failure rate of the rows of its `k` nearest other units (its own outcomes are left out).
//! For each level `j` with `j / k` above the baseline rate, the units with `s_u >= j / k`,
//! joined where one is among the other's `k` nearest, fall into connected components; each
//! component of at least `min_size` rows is a *region*. A region of level `j + 1` lies inside
//! one region of level `j`, so regions form a forest and the tree's best-antichain selection
//! applies to them unchanged.
//!
//! Regions are shaped by the outcomes, so testing one against the rest as if it were fixed in
//! advance would be biased. Significance is by Monte Carlo, as in Kulldorff's spatial scan
//! (SaTScan): the outcomes are permuted `B` times over the same neighbour graph, regions are
//! built the same way for each permutation, and a region's p-value is the upper tail of a
//! Gumbel distribution fitted to the permutations' largest Λ ([`gumbel_p_value`]). This
//! controls the family-wise error over all regions of all levels.
//!
//! Connected components come from [`DisjointSets`], which the permutations use incrementally
//! (units added level by level).

use super::selection::log_likelihood_ratio;
use crate::disjoint_sets::DisjointSets;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Permutations for the Monte Carlo p-values.
pub const PERMUTATIONS: usize = 199;

/// The p-value of `x` under a Gumbel distribution fitted by moments to the permutation maxima
/// (Abrams, Kleinman and Kulldorff 2010, as SaTScan offers): unlike the rank among B maxima it
/// goes below 1/(B + 1), so a small share of the error budget is enough for the scan. When the
/// maxima do not vary, the rank is used.
pub fn gumbel_p_value(x: f64, maxima: &[f64]) -> f64 {
    let b = maxima.len() as f64;
    let mean = maxima.iter().sum::<f64>() / b;
    let var = maxima.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (b - 1.0).max(1.0);
    if var.is_nan() || var <= 0.0 {
        let at_least = maxima.iter().filter(|&&m| m >= x).count();
        return (1 + at_least) as f64 / (1.0 + b);
    }
    let scale = var.sqrt() * 6f64.sqrt() / std::f64::consts::PI;
    let location = mean - EULER_GAMMA * scale;
    -(-(-(x - location) / scale).exp()).exp_m1()
}

/// The Euler-Mascheroni constant: the mean of the standard Gumbel distribution.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Units and each unit's nearest other units, `k` per unit (fewer only when there are at
/// most `k` units).
#[derive(Debug, Clone)]
pub struct NeighbourGraph {
    k: usize,
    /// Unit `u`'s neighbours are `lists[u * k..(u + 1) * k]`.
    lists: Vec<u32>,
    /// Units that list unit `u`: `reverse[reverse_start[u]..reverse_start[u + 1]]`.
    reverse: Vec<u32>,
    reverse_start: Vec<usize>,
    /// Rows of each unit, ascending; `None` when the units are the rows.
    members: Option<Vec<Vec<usize>>>,
}

impl NeighbourGraph {
    /// Units that are rows, from per-row neighbour lists of equal length.
    pub fn of_rows(lists: Vec<Vec<usize>>) -> Self {
        Self::new(lists, None)
    }

    /// Units that are groups of rows (`members[u]`, disjoint, ascending, covering every row),
    /// from per-unit neighbour lists of equal length.
    pub fn of_groups(lists: Vec<Vec<usize>>, members: Vec<Vec<usize>>) -> Self {
        assert_eq!(lists.len(), members.len(), "one neighbour list per unit");
        Self::new(lists, Some(members))
    }

    fn new(lists: Vec<Vec<usize>>, members: Option<Vec<Vec<usize>>>) -> Self {
        let n = lists.len();
        let k = lists.first().map_or(0, Vec::len);
        assert!(
            lists.iter().all(|l| l.len() == k),
            "unequal neighbour lists"
        );
        let flat: Vec<u32> = lists.iter().flatten().map(|&j| j as u32).collect();
        let mut reverse_start = vec![0usize; n + 1];
        for &j in &flat {
            reverse_start[j as usize + 1] += 1;
        }
        for i in 0..n {
            reverse_start[i + 1] += reverse_start[i];
        }
        let mut fill = reverse_start.clone();
        let mut reverse = vec![0u32; flat.len()];
        for (i, list) in flat.chunks_exact(k.max(1)).enumerate() {
            for &j in list {
                reverse[fill[j as usize]] = i as u32;
                fill[j as usize] += 1;
            }
        }
        NeighbourGraph {
            k,
            lists: flat,
            reverse,
            reverse_start,
            members,
        }
    }

    fn units(&self) -> usize {
        self.reverse_start.len() - 1
    }

    /// Unit `u`'s neighbours both ways: those it lists and those listing it.
    fn adjacent(&self, u: usize) -> impl Iterator<Item = usize> + '_ {
        self.lists[u * self.k..(u + 1) * self.k]
            .iter()
            .chain(&self.reverse[self.reverse_start[u]..self.reverse_start[u + 1]])
            .map(|&j| j as usize)
    }

    /// Rows and failing rows per unit.
    fn unit_counts(&self, failed: &[bool]) -> (Vec<u32>, Vec<u32>) {
        match &self.members {
            None => (
                vec![1; failed.len()],
                failed.iter().map(|&f| u32::from(f)).collect(),
            ),
            Some(members) => members
                .iter()
                .map(|rows| {
                    let fails = rows.iter().filter(|&&i| failed[i]).count();
                    (rows.len() as u32, fails as u32)
                })
                .unzip(),
        }
    }

    /// Each unit's level: the largest `j` with `j / k <=` its neighbourhood rate.
    fn unit_levels(&self, size: &[u32], fails: &[u32]) -> Vec<usize> {
        (0..self.units())
            .map(|u| {
                let list = &self.lists[u * self.k..(u + 1) * self.k];
                let rows: u64 = list.iter().map(|&v| u64::from(size[v as usize])).sum();
                let failing: u64 = list.iter().map(|&v| u64::from(fails[v as usize])).sum();
                (self.k as u64 * failing).checked_div(rows).unwrap_or(0) as usize
            })
            .collect()
    }

    /// The levels above the baseline rate `p0`, lowest first.
    fn levels(&self, p0: f64) -> std::ops::RangeInclusive<usize> {
        let first = ((p0 * self.k as f64).floor() as usize + 1).max(1);
        first..=self.k
    }

    /// The rows of a set of units, ascending.
    fn rows_of(&self, units: &[usize]) -> Vec<usize> {
        match &self.members {
            None => units.to_vec(),
            Some(members) => {
                let mut rows: Vec<usize> = units
                    .iter()
                    .flat_map(|&u| members[u].iter().copied())
                    .collect();
                rows.sort_unstable();
                rows
            }
        }
    }
}

/// One region: rows, failures, and its place in the forest of regions.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Row indices, ascending.
    pub rows: Vec<usize>,
    pub failures: usize,
    /// The region of the next lower level that holds this one (`None` at the lowest).
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Depth in the forest: 0 for a region with no parent.
    pub level: usize,
    /// Λ against the baseline rate.
    pub log_likelihood_ratio: f64,
    /// Monte Carlo p-value (family-wise over all regions).
    pub p_value: f64,
}

/// Connected sets of units, each root keeping its set's rows and failures.
struct Components {
    sets: DisjointSets,
    size: Vec<u32>,
    failures: Vec<u32>,
}

impl Components {
    fn new(size: &[u32], failures: &[u32]) -> Self {
        Components {
            sets: DisjointSets::new(size.len()),
            size: size.to_vec(),
            failures: failures.to_vec(),
        }
    }

    fn find(&mut self, i: usize) -> usize {
        self.sets.find(i)
    }

    fn union(&mut self, a: usize, b: usize) {
        if let Some((kept, absorbed)) = self.sets.union(a, b) {
            self.size[kept] += self.size[absorbed];
            self.failures[kept] += self.failures[absorbed];
        }
    }
}

/// The regions of `failed` (one outcome per row) over `graph`, parents before children, with
/// Monte Carlo p-values from `permutations` permutations of the outcomes (seeded by `seed`;
/// the same at any thread count).
pub fn regions(
    graph: &NeighbourGraph,
    failed: &[bool],
    min_size: usize,
    permutations: usize,
    seed: u64,
) -> Vec<Region> {
    let n = failed.len();
    let total_failures = failed.iter().filter(|&&f| f).count();
    if graph.units() == 0 || graph.k == 0 || total_failures == 0 || total_failures == n {
        return Vec::new();
    }
    let p0 = total_failures as f64 / n as f64;
    let min_size = min_size.max(1);
    let mut regions = build_forest(graph, failed, p0, min_size);
    if regions.is_empty() {
        return regions;
    }
    let base = ChaCha8Rng::seed_from_u64(seed);
    let maxima: Vec<f64> = (0..permutations)
        .into_par_iter()
        .map(|b| {
            let mut rng = base.clone();
            rng.set_stream(b as u64 + 1);
            let mut shuffled = failed.to_vec();
            shuffled.shuffle(&mut rng);
            largest_llr(graph, &shuffled, p0, min_size)
        })
        .collect();
    for r in &mut regions {
        r.p_value = gumbel_p_value(r.log_likelihood_ratio, &maxima);
    }
    regions
}

/// Every region of every level, lowest level (largest regions) first; a component equal to
/// its parent is not repeated.
fn build_forest(graph: &NeighbourGraph, failed: &[bool], p0: f64, min_size: usize) -> Vec<Region> {
    let units = graph.units();
    let (size, fails) = graph.unit_counts(failed);
    let level = graph.unit_levels(&size, &fails);
    let mut regions: Vec<Region> = Vec::new();
    // The region each unit belongs to at the previous level.
    let mut previous: Vec<Option<usize>> = vec![None; units];
    for j in graph.levels(p0) {
        let active: Vec<bool> = level.iter().map(|&l| l >= j).collect();
        let mut sets = Components::new(&size, &fails);
        for u in (0..units).filter(|&u| active[u]) {
            for v in graph.adjacent(u) {
                if active[v] {
                    sets.union(u, v);
                }
            }
        }
        // Components keyed by their lowest unit.
        let mut components: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for u in (0..units).filter(|&u| active[u]) {
            let root = sets.find(u);
            components.entry(root).or_default().push(u);
        }
        if components.is_empty() {
            break;
        }
        let mut current: Vec<Option<usize>> = vec![None; units];
        for (root, members) in components {
            let (rows, failures) = (sets.size[root] as usize, sets.failures[root] as usize);
            if rows < min_size {
                continue;
            }
            let parent = previous[members[0]];
            let id = match parent {
                Some(p) if regions[p].rows.len() == rows => p,
                _ => {
                    let id = regions.len();
                    regions.push(Region {
                        rows: graph.rows_of(&members),
                        failures,
                        parent,
                        children: Vec::new(),
                        level: parent.map_or(0, |p| regions[p].level + 1),
                        log_likelihood_ratio: log_likelihood_ratio(failures, rows, p0),
                        p_value: 1.0,
                    });
                    if let Some(p) = parent {
                        regions[p].children.push(id);
                    }
                    id
                }
            };
            for &u in &members {
                current[u] = Some(id);
            }
        }
        previous = current;
    }
    regions
}

/// The largest Λ of any region of `failed`: the same family as [`build_forest`], found by
/// adding units from the highest level down, so each permutation costs one pass over the graph.
fn largest_llr(graph: &NeighbourGraph, failed: &[bool], p0: f64, min_size: usize) -> f64 {
    let (size, fails) = graph.unit_counts(failed);
    let level = graph.unit_levels(&size, &fails);
    let levels = graph.levels(p0);
    let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); graph.k + 1];
    for (u, &l) in level.iter().enumerate() {
        if l >= *levels.start() {
            by_level[l].push(u);
        }
    }
    let mut sets = Components::new(&size, &fails);
    let mut active = vec![false; graph.units()];
    let mut best = 0.0f64;
    for j in levels.rev() {
        for &u in &by_level[j] {
            active[u] = true;
        }
        for &u in &by_level[j] {
            for v in graph.adjacent(u) {
                if active[v] {
                    sets.union(u, v);
                }
            }
        }
        // Only components holding a unit added at this level changed.
        for &u in &by_level[j] {
            let root = sets.find(u);
            let rows = sets.size[root] as usize;
            if rows >= min_size {
                best = best.max(log_likelihood_ratio(sets.failures[root] as usize, rows, p0));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neighbour lists of units `0..n` forming two chains, `0..split` and `split..n`: each
    /// unit's neighbours are the next three in its chain.
    fn two_chains(n: usize, split: usize) -> Vec<Vec<usize>> {
        (0..n)
            .map(|i| {
                let (lo, hi) = if i < split { (0, split) } else { (split, n) };
                (1..=3).map(|d| lo + (i - lo + d) % (hi - lo)).collect()
            })
            .collect()
    }

    /// Two chains of rows (0-19 and 20-59).
    fn chains() -> NeighbourGraph {
        NeighbourGraph::of_rows(two_chains(60, 20))
    }

    /// Rows 0-19 fail at 90%, rows 20-59 at 10%.
    fn first_chain_failing() -> Vec<bool> {
        (0..60)
            .map(|i| if i < 20 { i % 10 != 0 } else { i % 10 == 0 })
            .collect()
    }

    fn strongest(regions: &[Region]) -> &Region {
        regions
            .iter()
            .max_by(|a, b| a.log_likelihood_ratio.total_cmp(&b.log_likelihood_ratio))
            .expect("a region")
    }

    #[test]
    fn a_failing_chain_is_one_region_and_significant() {
        let regions = regions(&chains(), &first_chain_failing(), 5, 99, 1);
        let top = strongest(&regions);
        assert_eq!(top.rows, (0..20).collect::<Vec<_>>());
        assert!(top.p_value <= 0.05, "{}", top.p_value);
        // parents come before children, and children lie inside their parents
        for (i, r) in regions.iter().enumerate() {
            if let Some(p) = r.parent {
                assert!(p < i);
                assert!(r.rows.iter().all(|x| regions[p].rows.contains(x)));
                assert!(r.rows.len() < regions[p].rows.len());
            }
        }
    }

    /// Against values computed independently (Python: scipy.stats.gumbel_r.sf with the
    /// moment fit written out by hand).
    #[test]
    fn gumbel_p_values_match_known_values() {
        let maxima = [5.0, 6.0, 7.0, 8.0, 9.0];
        // mean 7, sd sqrt(2.5); scale = sd * sqrt(6) / pi = 1.2328089, location = 6.2884034
        let expected = [
            (7.0, 0.429_623_998_324_977),
            (12.0, 0.009_678_453_076_566),
            (20.0, 1.477_982_308_526e-5),
        ];
        for (x, p) in expected {
            let got = gumbel_p_value(x, &maxima);
            assert!((got - p).abs() <= 1e-9 * p, "{x}: {got} vs {p}");
        }
        // maxima that do not vary: the rank among them
        assert_eq!(gumbel_p_value(3.0, &[3.0; 9]), 1.0);
        assert_eq!(gumbel_p_value(4.0, &[3.0; 9]), 0.1);
    }

    #[test]
    fn units_of_several_rows_give_their_rows() {
        // 30 units of two rows each (rows 2u and 2u + 1); units 0-9 and 10-29 form two chains.
        let members: Vec<Vec<usize>> = (0..30).map(|u| vec![2 * u, 2 * u + 1]).collect();
        let graph = NeighbourGraph::of_groups(two_chains(30, 10), members);
        let regions = regions(&graph, &first_chain_failing(), 5, 99, 1);
        let top = strongest(&regions);
        assert_eq!(top.rows, (0..20).collect::<Vec<_>>());
        assert_eq!(top.failures, 18);
        assert!(top.p_value <= 0.05, "{}", top.p_value);
    }

    #[test]
    fn the_permutation_maximum_matches_the_forest() {
        let graph = chains();
        for seed in 0..20u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut failed: Vec<bool> = (0..60).map(|i| i % 3 == 0).collect();
            failed.shuffle(&mut rng);
            let p0 = failed.iter().filter(|&&f| f).count() as f64 / 60.0;
            let forest = build_forest(&graph, &failed, p0, 4);
            let best = forest
                .iter()
                .map(|r| r.log_likelihood_ratio)
                .fold(0.0, f64::max);
            assert!((best - largest_llr(&graph, &failed, p0, 4)).abs() < 1e-9);
        }
    }

    #[test]
    fn degenerate_outcomes_give_no_region() {
        let graph = chains();
        assert!(regions(&graph, &[false; 60], 5, 19, 1).is_empty());
        assert!(regions(&graph, &[true; 60], 5, 19, 1).is_empty());
        assert!(regions(&NeighbourGraph::of_rows(vec![]), &[], 5, 19, 1).is_empty());
    }

    #[test]
    fn p_values_do_not_depend_on_threads() {
        let graph = chains();
        let failed: Vec<bool> = (0..60).map(|i| i < 15 || i % 7 == 0).collect();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| regions(&graph, &failed, 5, 49, 3));
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| regions(&graph, &failed, 5, 49, 3));
        assert_eq!(one, two);
    }
}
