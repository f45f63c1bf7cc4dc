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
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Nearest neighbours per unit in the scan's graph (as in the graph clustering).
pub const NEIGHBOURS: usize = 15;

/// Permutations for the Monte Carlo p-values.
pub const PERMUTATIONS: usize = 199;

/// The scan's share of the error budget `alpha` (the rest goes to Benjamini-Hochberg over the
/// fixed candidates). A real region is usually far beyond every permutation's largest, so a
/// small share costs the scan little, and the fixed candidates keep most of their power.
pub const ALPHA_SHARE: f64 = 0.1;

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

    /// The graph in a form to store (a regress baseline): neighbour lists, and each unit's
    /// rows when the units are not the rows.
    pub fn to_stored(&self) -> StoredGraph {
        StoredGraph {
            neighbours: self.k,
            lists: self
                .lists
                .chunks_exact(self.k.max(1))
                .map(<[u32]>::to_vec)
                .collect(),
            unit_rows: self.members.clone(),
        }
    }

    /// A stored graph over `rows` rows, checked: lists of `neighbours` units each, in range,
    /// and units that are the rows or split them exactly. The error says what is wrong.
    pub fn from_stored(stored: StoredGraph, rows: usize) -> std::result::Result<Self, String> {
        let units = stored.lists.len();
        match &stored.unit_rows {
            None if units != rows => {
                return Err(format!("{units} neighbour lists for {rows} cases"));
            }
            None => {}
            Some(members) => {
                if members.len() != units {
                    return Err(format!(
                        "{} units with cases for {units} neighbour lists",
                        members.len()
                    ));
                }
                let mut seen = vec![false; rows];
                for row in members.iter().flatten() {
                    match seen.get_mut(*row) {
                        Some(s) if !*s => *s = true,
                        Some(_) => return Err(format!("case {row} is in two units")),
                        None => return Err(format!("unit case {row} is out of range")),
                    }
                }
                if let Some(row) = seen.iter().position(|s| !s) {
                    return Err(format!("case {row} is in no unit"));
                }
            }
        }
        for (u, list) in stored.lists.iter().enumerate() {
            if list.len() != stored.neighbours {
                return Err(format!(
                    "unit {u} has {} neighbours, expected {}",
                    list.len(),
                    stored.neighbours
                ));
            }
            if let Some(v) = list
                .iter()
                .find(|&&v| v as usize >= units || v as usize == u)
            {
                return Err(format!(
                    "unit {u} lists neighbour {v}, which is not another unit"
                ));
            }
        }
        let lists = stored
            .lists
            .into_iter()
            .map(|l| l.into_iter().map(|v| v as usize).collect())
            .collect();
        Ok(Self::new(lists, stored.unit_rows))
    }

    /// `rows` (ascending) with those at the core of their set first: ordered by how many of
    /// their unit's neighbours lie in the set, most first (ties by row).
    pub fn core_first(&self, rows: &[usize]) -> Vec<usize> {
        let unit_of = |row: usize| match &self.members {
            None => row,
            Some(members) => members
                .iter()
                .position(|m| m.binary_search(&row).is_ok())
                .unwrap_or(0),
        };
        let units: Vec<usize> = rows.iter().map(|&r| unit_of(r)).collect();
        let mut inside: Vec<usize> = units.clone();
        inside.sort_unstable();
        inside.dedup();
        let mut ranked: Vec<(usize, usize)> = rows
            .iter()
            .zip(&units)
            .map(|(&row, &u)| {
                let list = &self.lists[u * self.k..(u + 1) * self.k];
                let within = list
                    .iter()
                    .filter(|&&v| inside.binary_search(&(v as usize)).is_ok())
                    .count();
                (row, within)
            })
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().map(|(row, _)| row).collect()
    }

    /// Neighbours per unit.
    pub fn neighbours(&self) -> usize {
        self.k
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

    /// Per unit: rows, trials and hits (see [`Outcomes`]).
    fn unit_counts(&self, trial: &[bool], hit: &[bool]) -> Counts {
        let count = |rows: &mut dyn Iterator<Item = usize>| {
            let mut c = (0u32, 0u32, 0u32);
            for i in rows {
                c.0 += 1;
                c.1 += u32::from(trial[i]);
                c.2 += u32::from(hit[i]);
            }
            c
        };
        let per_unit: Vec<(u32, u32, u32)> = match &self.members {
            None => (0..hit.len())
                .map(|i| count(&mut std::iter::once(i)))
                .collect(),
            Some(members) => members
                .iter()
                .map(|rows| count(&mut rows.iter().copied()))
                .collect(),
        };
        let mut counts = Counts::default();
        for (size, trials, hits) in per_unit {
            counts.size.push(size);
            counts.trials.push(trials);
            counts.hits.push(hits);
        }
        counts
    }

    /// Each unit's level from its neighbours' trials and hits (own ones left out): for
    /// failures, the largest `j` with `j / k <=` the neighbourhood's failure rate; for
    /// changes, the neighbourhood's regressions less its improvements (0 at least).
    fn unit_levels(&self, kind: Kind, counts: &Counts) -> Vec<usize> {
        (0..self.units())
            .map(|u| {
                let list = &self.lists[u * self.k..(u + 1) * self.k];
                let sum =
                    |v: &[u32]| -> u64 { list.iter().map(|&w| u64::from(v[w as usize])).sum() };
                let (trials, hits) = (sum(&counts.trials), sum(&counts.hits));
                match kind {
                    Kind::Failures => {
                        (self.k as u64 * hits).checked_div(trials).unwrap_or(0) as usize
                    }
                    Kind::Changes => (2 * hits).saturating_sub(trials) as usize,
                }
            })
            .collect()
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

/// A [`NeighbourGraph`] as stored in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredGraph {
    /// Neighbours per unit.
    pub neighbours: usize,
    /// Per unit, its nearest other units.
    pub lists: Vec<Vec<u32>>,
    /// Per unit, its rows; absent when the units are the rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_rows: Option<Vec<Vec<usize>>>,
}

/// What the scan looks for, one entry per row.
#[derive(Debug, Clone, Copy)]
pub enum Outcomes<'a> {
    /// Whether each row failed: regions failing above the baseline rate. Null: the outcomes
    /// permuted over the rows.
    Failures(&'a [bool]),
    /// Each row's change between two runs: `Some(true)` regressed, `Some(false)` improved,
    /// `None` neither (or unpaired): regions where regressions outnumber improvements, a Λ of
    /// the regressions among the changed pairs against one half (the sign test). Null: each
    /// changed pair regressed or improved with probability one half, independently.
    Changes(&'a [Option<bool>]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Failures,
    Changes,
}

/// Rows, trials and hits per unit. A trial is a row that counts for Λ (every row for
/// failures, a changed pair for changes); a hit is a failing row or a regressed pair.
#[derive(Debug, Default)]
struct Counts {
    size: Vec<u32>,
    trials: Vec<u32>,
    hits: Vec<u32>,
}

/// One region: rows, trials and hits, and its place in the forest of regions.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Row indices, ascending.
    pub rows: Vec<usize>,
    /// Rows that count for Λ: all of them for failures, the changed pairs for changes.
    pub trials: usize,
    /// Failing rows, or regressed pairs.
    pub hits: usize,
    /// The region of the next lower level that holds this one (`None` at the lowest).
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Depth in the forest: 0 for a region with no parent.
    pub level: usize,
    /// Λ of the hits among the trials against the null rate (the baseline failure rate, or
    /// one half for changes).
    pub log_likelihood_ratio: f64,
    /// Monte Carlo p-value (family-wise over all regions).
    pub p_value: f64,
}

/// Connected sets of units, each root keeping its set's rows, trials and hits.
struct Components {
    sets: DisjointSets,
    counts: Counts,
}

impl Components {
    fn new(counts: &Counts) -> Self {
        Components {
            sets: DisjointSets::new(counts.size.len()),
            counts: Counts {
                size: counts.size.clone(),
                trials: counts.trials.clone(),
                hits: counts.hits.clone(),
            },
        }
    }

    fn find(&mut self, i: usize) -> usize {
        self.sets.find(i)
    }

    fn union(&mut self, a: usize, b: usize) {
        if let Some((kept, absorbed)) = self.sets.union(a, b) {
            let c = &mut self.counts;
            c.size[kept] += c.size[absorbed];
            c.trials[kept] += c.trials[absorbed];
            c.hits[kept] += c.hits[absorbed];
        }
    }

    /// The root's rows, trials and hits.
    fn totals(&self, root: usize) -> (usize, usize, usize) {
        let c = &self.counts;
        (
            c.size[root] as usize,
            c.trials[root] as usize,
            c.hits[root] as usize,
        )
    }
}

/// The scan of one set of outcomes over one graph.
struct Scan<'g> {
    graph: &'g NeighbourGraph,
    kind: Kind,
    /// The null rate of hits among trials.
    p0: f64,
    min_size: usize,
}

impl Scan<'_> {
    fn llr(&self, trials: usize, hits: usize) -> f64 {
        log_likelihood_ratio(hits, trials, self.p0)
    }

    /// The levels that can hold a region, lowest first: for failures, the `j` with `j / k`
    /// above the baseline rate; for changes, a net regression of at least one.
    fn levels(&self, level: &[usize]) -> std::ops::RangeInclusive<usize> {
        match self.kind {
            Kind::Failures => {
                let k = self.graph.k;
                ((self.p0 * k as f64).floor() as usize + 1).max(1)..=k
            }
            Kind::Changes => 1..=level.iter().copied().max().unwrap_or(0),
        }
    }

    /// Every region of every level, lowest level (largest regions) first; a component equal
    /// to its parent is not repeated.
    fn forest(&self, trial: &[bool], hit: &[bool]) -> Vec<Region> {
        let graph = self.graph;
        let units = graph.units();
        let counts = graph.unit_counts(trial, hit);
        let level = graph.unit_levels(self.kind, &counts);
        let mut regions: Vec<Region> = Vec::new();
        // The region each unit belongs to at the previous level.
        let mut previous: Vec<Option<usize>> = vec![None; units];
        for j in self.levels(&level) {
            let active: Vec<bool> = level.iter().map(|&l| l >= j).collect();
            let mut sets = Components::new(&counts);
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
                let (rows, trials, hits) = sets.totals(root);
                if rows < self.min_size {
                    continue;
                }
                let parent = previous[members[0]];
                let id = match parent {
                    Some(p) if regions[p].rows.len() == rows => p,
                    _ => {
                        let id = regions.len();
                        regions.push(Region {
                            rows: graph.rows_of(&members),
                            trials,
                            hits,
                            parent,
                            children: Vec::new(),
                            level: parent.map_or(0, |p| regions[p].level + 1),
                            log_likelihood_ratio: self.llr(trials, hits),
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

    /// The largest Λ of any region of [`Scan::forest`], found by adding units from the
    /// highest level down, so each permutation costs one pass over the graph.
    fn largest_llr(&self, trial: &[bool], hit: &[bool]) -> f64 {
        let graph = self.graph;
        let counts = graph.unit_counts(trial, hit);
        let level = graph.unit_levels(self.kind, &counts);
        let levels = self.levels(&level);
        let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); *levels.end() + 1];
        for (u, &l) in level.iter().enumerate() {
            if levels.contains(&l) {
                by_level[l].push(u);
            }
        }
        let mut sets = Components::new(&counts);
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
                let (rows, trials, hits) = sets.totals(root);
                if rows >= self.min_size {
                    best = best.max(self.llr(trials, hits));
                }
            }
        }
        best
    }
}

/// The regions of `outcomes` over `graph`, parents before children, with Monte Carlo p-values
/// from `permutations` draws of the null (seeded by `seed`; the same at any thread count).
pub fn regions(
    graph: &NeighbourGraph,
    outcomes: Outcomes,
    min_size: usize,
    permutations: usize,
    seed: u64,
) -> Vec<Region> {
    let (kind, trial, hit): (Kind, Vec<bool>, Vec<bool>) = match outcomes {
        Outcomes::Failures(failed) => (Kind::Failures, vec![true; failed.len()], failed.to_vec()),
        Outcomes::Changes(changes) => (
            Kind::Changes,
            changes.iter().map(Option::is_some).collect(),
            changes.iter().map(|c| *c == Some(true)).collect(),
        ),
    };
    let trials = trial.iter().filter(|&&t| t).count();
    let hits = hit.iter().filter(|&&h| h).count();
    if graph.units() == 0 || graph.k == 0 || hits == 0 || hits == trials {
        return Vec::new();
    }
    let scan = Scan {
        graph,
        kind,
        p0: match kind {
            Kind::Failures => hits as f64 / trials as f64,
            Kind::Changes => 0.5,
        },
        min_size: min_size.max(1),
    };
    let mut regions = scan.forest(&trial, &hit);
    if regions.is_empty() {
        return regions;
    }
    let base = ChaCha8Rng::seed_from_u64(seed);
    let maxima: Vec<f64> = (0..permutations)
        .into_par_iter()
        .map(|b| {
            let mut rng = base.clone();
            rng.set_stream(b as u64 + 1);
            let mut drawn = hit.clone();
            match kind {
                Kind::Failures => drawn.shuffle(&mut rng),
                Kind::Changes => {
                    for (h, &t) in drawn.iter_mut().zip(&trial) {
                        *h = t && rng.gen_bool(0.5);
                    }
                }
            }
            scan.largest_llr(&trial, &drawn)
        })
        .collect();
    for r in &mut regions {
        r.p_value = gumbel_p_value(r.log_likelihood_ratio, &maxima);
    }
    regions
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
        let regions = regions(
            &chains(),
            Outcomes::Failures(&first_chain_failing()),
            5,
            99,
            1,
        );
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
        let regions = regions(&graph, Outcomes::Failures(&first_chain_failing()), 5, 99, 1);
        let top = strongest(&regions);
        assert_eq!(top.rows, (0..20).collect::<Vec<_>>());
        assert_eq!((top.trials, top.hits), (20, 18));
        assert!(top.p_value <= 0.05, "{}", top.p_value);
    }

    #[test]
    fn a_stored_graph_round_trips_and_is_checked() {
        let rows = chains();
        assert_eq!(
            NeighbourGraph::from_stored(rows.to_stored(), 60)
                .unwrap()
                .to_stored(),
            rows.to_stored()
        );
        let members: Vec<Vec<usize>> = (0..30).map(|u| vec![2 * u, 2 * u + 1]).collect();
        let groups = NeighbourGraph::of_groups(two_chains(30, 10), members);
        let stored = groups.to_stored();
        assert_eq!(stored.neighbours, 3);
        assert_eq!(
            NeighbourGraph::from_stored(stored.clone(), 60)
                .unwrap()
                .to_stored(),
            stored
        );
        let fails = |edit: &dyn Fn(&mut StoredGraph), rows: usize| {
            let mut bad = stored.clone();
            edit(&mut bad);
            NeighbourGraph::from_stored(bad, rows).unwrap_err()
        };
        assert_eq!(fails(&|_| {}, 61), "case 60 is in no unit");
        assert_eq!(fails(&|_| {}, 59), "unit case 59 is out of range");
        let twice = |g: &mut StoredGraph| g.unit_rows.as_mut().unwrap()[1][0] = 0;
        assert_eq!(fails(&twice, 60), "case 0 is in two units");
        let own = |g: &mut StoredGraph| g.lists[4][0] = 4;
        assert_eq!(
            fails(&own, 60),
            "unit 4 lists neighbour 4, which is not another unit"
        );
        let fewer = |g: &mut StoredGraph| {
            g.lists.pop();
        };
        assert_eq!(
            fails(&fewer, 60),
            "30 units with cases for 29 neighbour lists"
        );
        assert_eq!(
            NeighbourGraph::from_stored(rows.to_stored(), 59).unwrap_err(),
            "60 neighbour lists for 59 cases"
        );
    }

    #[test]
    fn the_permutation_maximum_matches_the_forest() {
        let graph = chains();
        for seed in 0..20u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut failed: Vec<bool> = (0..60).map(|i| i % 3 == 0).collect();
            failed.shuffle(&mut rng);
            let changed: Vec<bool> = (0..60).map(|_| rng.gen_bool(0.4)).collect();
            let p0 = failed.iter().filter(|&&f| f).count() as f64 / 60.0;
            for (kind, trial, p0) in [
                (Kind::Failures, vec![true; 60], p0),
                (Kind::Changes, changed, 0.5),
            ] {
                let hit: Vec<bool> = failed.iter().zip(&trial).map(|(&f, &t)| f && t).collect();
                let scan = Scan {
                    graph: &graph,
                    kind,
                    p0,
                    min_size: 4,
                };
                let best = scan
                    .forest(&trial, &hit)
                    .iter()
                    .map(|r| r.log_likelihood_ratio)
                    .fold(0.0, f64::max);
                assert!((best - scan.largest_llr(&trial, &hit)).abs() < 1e-9);
            }
        }
    }

    /// Pairs 0-19 mostly regressed, 20-59 mostly improved, a third of each unchanged.
    fn first_chain_regressing() -> Vec<Option<bool>> {
        (0..60)
            .map(|i| match (i % 3, i < 20) {
                (0, _) => None,
                (1, first) => Some(first),
                (_, first) => Some(first != (i % 10 == 2)),
            })
            .collect()
    }

    #[test]
    fn regressions_gathering_in_a_chain_are_one_region() {
        let changes = first_chain_regressing();
        let regions = regions(&chains(), Outcomes::Changes(&changes), 5, 99, 1);
        let top = strongest(&regions);
        // most of the regressing chain; its counts are those of its rows
        assert!(
            top.rows.len() >= 15 && top.rows.iter().all(|&i| i < 20),
            "{:?}",
            top.rows
        );
        let changed = top.rows.iter().filter(|&&i| changes[i].is_some()).count();
        let regressed = top
            .rows
            .iter()
            .filter(|&&i| changes[i] == Some(true))
            .count();
        assert_eq!((top.trials, top.hits), (changed, regressed));
        assert!(top.p_value <= 0.05, "{}", top.p_value);
        // the improving chain never forms a region
        assert!(regions.iter().all(|r| r.rows.iter().all(|&i| i < 20)));
        // the same changes the other way round: no regression anywhere
        let flipped: Vec<Option<bool>> = changes[..20]
            .iter()
            .map(|c| c.map(|_| false))
            .chain(changes[20..].iter().copied())
            .collect();
        let none = super::regions(&chains(), Outcomes::Changes(&flipped), 5, 99, 1);
        assert!(none.iter().all(|r| r.p_value > 0.05), "{none:?}");
    }

    #[test]
    fn degenerate_outcomes_give_no_region() {
        let graph = chains();
        assert!(regions(&graph, Outcomes::Failures(&[false; 60]), 5, 19, 1).is_empty());
        assert!(regions(&graph, Outcomes::Failures(&[true; 60]), 5, 19, 1).is_empty());
        assert!(regions(
            &NeighbourGraph::of_rows(vec![]),
            Outcomes::Failures(&[]),
            5,
            19,
            1
        )
        .is_empty());
        assert!(regions(&graph, Outcomes::Changes(&[None; 60]), 5, 19, 1).is_empty());
        assert!(regions(&graph, Outcomes::Changes(&[Some(false); 60]), 5, 19, 1).is_empty());
    }

    #[test]
    fn p_values_do_not_depend_on_threads() {
        let graph = chains();
        let failed: Vec<bool> = (0..60).map(|i| i < 15 || i % 7 == 0).collect();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| regions(&graph, Outcomes::Failures(&failed), 5, 49, 3));
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| regions(&graph, Outcomes::Failures(&failed), 5, 49, 3));
        assert_eq!(one, two);
    }
}
