//! The candidate tree (`--clustering tree`, the default for `slices`): nested groups of rows at
//! every scale, from a domain down to a sub-intent, so a failure slice can be found at the
//! scale where it lives instead of at the one scale a flat partition picks.
//!
//! * Ward linkage (kodama) on a seeded sample of at most `--max-fit-rows` ([`TREE_FIT_ROWS`]) rows of the reduced
//!   embeddings gives a full dendrogram; every other row joins the sample point nearest to it,
//!   so every row is in the tree (nothing is left out as noise).
//! * The dendrogram is thinned so that nested nodes differ in a meaningful way: walking down
//!   from the root, a node is kept when it has at least `min_size` rows and at most
//!   [`SHRINK`] times the rows of its nearest kept ancestor (the whole input for the top).
//!   Chains of merges that only add a few rows to a cluster would otherwise be tested as many
//!   near-copies of one candidate.
//!
//! Measured on CLINC150 (22,500 queries of 150 intents, `hash+static` embeddings, 128 PCA
//! dimensions): a node with Jaccard ≥ 0.5 exists for 79 of the 150 intents with a 5,000-row
//! Ward fit, against 74 with 3,000 rows, 66 at 64 dimensions, 78 with average linkage and
//! 76-90 for Leiden communities on a 15-nearest-neighbour graph (docs/slices.md).

use super::sample_indices;
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::progress::Progress;
use kodama::{linkage, Method};

/// Rows the Ward fit runs on by default (`--max-fit-rows`): its condensed distance matrix holds
/// n²/2 values (50 MB here) and linkage is quadratic in time.
pub const TREE_FIT_ROWS: usize = 5_000;
/// A kept node has at most this share of its kept parent's rows.
const SHRINK: f64 = 0.8;
/// Stream of the seeded RNG used for the tree's sample.
const TREE_STREAM: u64 = 5;

/// One candidate group: a node of the thinned tree.
#[derive(Debug, Clone)]
pub struct TreeNode {
    /// Row indices, ascending.
    pub rows: Vec<usize>,
    /// Index of the nearest kept ancestor in [`CandidateTree::nodes`]; `None` at the top.
    pub parent: Option<usize>,
    /// Kept nodes whose parent this is, in node order.
    pub children: Vec<usize>,
    /// Depth: 0 for a top node.
    pub level: usize,
}

/// Nodes in pre-order: a parent before its children, siblings (and so `children`) ordered by
/// their first row.
#[derive(Debug, Clone, Default)]
pub struct CandidateTree {
    pub nodes: Vec<TreeNode>,
    /// `Some(m)` when Ward ran on a sample of m rows.
    pub fit_sample_size: Option<usize>,
    /// The rows Ward ran on (all rows when not sampled), and per sample point the rows that
    /// joined it (itself included): the units the failure scan works on beyond its row limit.
    pub sample: Vec<usize>,
    pub sample_rows: Vec<Vec<usize>>,
}

/// How the merges above the sample points are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merging {
    /// Ward linkage of the sample points (kodama).
    Ward,
    /// Leiden communities of the sample's nearest-neighbour graph at every aggregation level,
    /// then Ward over the coarsest communities' centroids.
    Leiden,
}

/// Neighbours per sample point in the Leiden graph.
const GRAPH_NEIGHBOURS: usize = 15;
/// Leiden's modularity resolution: at 3, its levels on CLINC150 reached communities of about
/// intent size (median 150-157 rows for 150-row intents).
const GRAPH_RESOLUTION: f64 = 3.0;

/// Builds the candidate tree of the rows of `data` (unit rows: the reduced embeddings).
/// `alongside(sample, sample_rows)` runs once every row has joined its sample point, while the
/// merges are found: Ward's linkage is single-threaded, so the other cores do this meanwhile
/// (the failure scan's nearest neighbours); its result is returned with the tree.
pub(crate) fn build<T: Send>(
    data: &Matrix,
    min_size: usize,
    fit_rows: usize,
    merging: Merging,
    seed: u64,
    progress: &Progress,
    alongside: impl FnOnce(&[usize], &[Vec<usize>]) -> T + Send,
) -> Result<(CandidateTree, T)> {
    let n = data.rows();
    let sample = sample_indices(n, fit_rows, seed, TREE_STREAM);
    let m = sample.len();
    let fit = data.select_rows(&sample);
    // Rows of each sample point: itself and the rows nearest to it.
    let assign = || {
        let mut leaf_rows: Vec<Vec<usize>> = vec![Vec::new(); m];
        if m < n {
            let nearest =
                crate::neighbours::nearest(data, &fit, progress, "assigning rows to the tree");
            for (i, near) in nearest.iter().enumerate() {
                leaf_rows[near.index.unwrap_or(0)].push(i);
            }
        } else {
            for (i, rows) in leaf_rows.iter_mut().enumerate() {
                rows.push(i);
            }
        }
        let beside = alongside(&sample, &leaf_rows);
        (leaf_rows, beside)
    };
    if m < 2 {
        return Ok((CandidateTree::default(), assign().1));
    }
    let merges = || match merging {
        Merging::Ward => {
            let spinner =
                progress.spinner(&format!("building the candidate tree (Ward on {m} rows)"));
            let mut kids = Vec::new();
            ward_merges(&fit, (0..m).collect(), m, &mut kids);
            spinner.finish_and_clear();
            Ok(kids)
        }
        Merging::Leiden => leiden_merges(&fit, seed, progress),
    };
    let (kids, (leaf_rows, beside)) = rayon::join(merges, assign);
    let kids = kids?;
    let mut tree = thin(&kids, &leaf_rows, n, min_size);
    tree.fit_sample_size = (m < n).then_some(m);
    tree.sample = sample;
    tree.sample_rows = leaf_rows;
    Ok((tree, beside))
}

/// Appends to `kids` Ward's binary merges of the rows of `points`, whose cluster ids are `ids`;
/// each merge is cluster `m + kids.len()` at the time it is pushed (`m` sample points).
fn ward_merges(points: &Matrix, mut ids: Vec<usize>, m: usize, kids: &mut Vec<Vec<usize>>) {
    let mut distances = super::agglomerative::condensed_distances(points);
    let dendrogram = linkage(&mut distances, points.rows(), Method::Ward);
    for step in dendrogram.steps() {
        ids.push(m + kids.len());
        kids.push(vec![ids[step.cluster1], ids[step.cluster2]]);
    }
}

/// Merges from Leiden's aggregation levels on the nearest-neighbour graph of `fit`, then
/// Ward over the centroids of the coarsest communities up to one root.
fn leiden_merges(fit: &Matrix, seed: u64, progress: &Progress) -> Result<Vec<Vec<usize>>> {
    use leiden_rs::{GraphDataBuilder, Leiden, LeidenConfig, QualityType};
    let m = fit.rows();
    let neighbours = crate::neighbours::k_nearest_other(fit, GRAPH_NEIGHBOURS, progress);
    let spinner = progress.spinner(&format!("building the candidate tree (Leiden on {m} rows)"));
    let graph_error = |e: leiden_rs::LeidenError| Error::Analysis(format!("Leiden failed: {e}"));
    // Undirected edges, weight = the sum of both directions' (non-negative) similarities, in
    // a fixed order.
    let mut edges: Vec<(usize, usize, f64)> = Vec::with_capacity(m * GRAPH_NEIGHBOURS);
    for (i, list) in neighbours.iter().enumerate() {
        for &(j, s) in list {
            edges.push((i.min(j), i.max(j), f64::from(s.max(0.0))));
        }
    }
    edges.sort_by_key(|a| (a.0, a.1));
    let mut builder = GraphDataBuilder::new(m);
    let mut i = 0;
    while i < edges.len() {
        let (a, b) = (edges[i].0, edges[i].1);
        let mut w = 0.0;
        while i < edges.len() && (edges[i].0, edges[i].1) == (a, b) {
            w += edges[i].2;
            i += 1;
        }
        if w > 0.0 {
            builder.add_edge(a, b, w).map_err(graph_error)?;
        }
    }
    let graph = builder.build().map_err(graph_error)?;
    let config = LeidenConfig {
        resolution: GRAPH_RESOLUTION,
        seed: Some(seed),
        quality: QualityType::Modularity,
        ..Default::default()
    };
    let levels = Leiden::new(config)
        .run_hierarchical(&graph)
        .map_err(graph_error)?
        .levels;
    spinner.finish_and_clear();

    // Cluster ids: 0..m sample points, then one per community of each level. A community of
    // level l + 1 takes the level-l communities most of whose points it holds, so the levels
    // nest even where Leiden's refinement moved a point.
    let mut kids: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = (0..m).collect(); // cluster id of each sample point's group
    let mut current_members: Vec<Vec<usize>> = (0..m).map(|p| vec![p]).collect();
    for level in &levels {
        let mut members = std::mem::take(&mut current_members);
        let groups = level.membership.iter().copied().max().map_or(0, |c| c + 1);
        // Each current group goes to the community holding most of its points (lower id on
        // ties).
        let mut group_of_community: Vec<Vec<usize>> = vec![Vec::new(); groups];
        for (g, group) in members.iter().enumerate() {
            let mut counts: std::collections::BTreeMap<usize, usize> = Default::default();
            for &p in group {
                *counts.entry(level.membership[p]).or_default() += 1;
            }
            let best = counts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map_or(0, |(&c, _)| c);
            group_of_community[best].push(g);
        }
        let mut next = Vec::new();
        let mut next_members = Vec::new();
        for groups_in in group_of_community.into_iter().filter(|g| !g.is_empty()) {
            if groups_in.len() == 1 {
                // Same group as before: no new cluster.
                next.push(current[groups_in[0]]);
                next_members.push(std::mem::take(&mut members[groups_in[0]]));
                continue;
            }
            let id = m + kids.len();
            kids.push(groups_in.iter().map(|&g| current[g]).collect());
            next.push(id);
            next_members.push(
                groups_in
                    .iter()
                    .flat_map(|&g| std::mem::take(&mut members[g]))
                    .collect(),
            );
        }
        current = next;
        current_members = next_members;
    }
    // Ward over the centroids of the remaining groups, up to one root.
    if current.len() > 1 {
        let mut centroids = Matrix::zeros(current.len(), fit.cols());
        for (g, members) in current_members.iter().enumerate() {
            let row = centroids.row_mut(g);
            for &p in members {
                for (c, &v) in row.iter_mut().zip(fit.row(p)) {
                    *c += v;
                }
            }
        }
        centroids.normalize_rows();
        ward_merges(&centroids, current, m, &mut kids);
    }
    Ok(kids)
}

/// The thinned tree of a merge forest: `kids[c - m]` are the clusters merged into cluster `c`
/// (0..m are the sample points, holding `leaf_rows`); the last cluster is the root. Walking
/// down from the root, a cluster is kept when it has at least `min_size` rows, fewer than `n`,
/// and at most [`SHRINK`] times the rows of its nearest kept ancestor.
fn thin(kids: &[Vec<usize>], leaf_rows: &[Vec<usize>], n: usize, min_size: usize) -> CandidateTree {
    let m = leaf_rows.len();
    let mut size: Vec<usize> = leaf_rows.iter().map(Vec::len).collect();
    let mut first: Vec<usize> = leaf_rows
        .iter()
        .map(|r| r.iter().copied().min().unwrap_or(usize::MAX))
        .collect();
    for k in kids {
        size.push(k.iter().map(|&c| size[c]).sum());
        first.push(k.iter().map(|&c| first[c]).min().unwrap_or(usize::MAX));
    }
    let mut tree = CandidateTree::default();
    let Some(root) = (m + kids.len()).checked_sub(1) else {
        return tree;
    };
    // (cluster, kept ancestor, that ancestor's size)
    let mut stack: Vec<(usize, Option<usize>, usize)> = vec![(root, None, n)];
    while let Some((cluster, parent, anchor)) = stack.pop() {
        let rows = size[cluster];
        let keep = cluster != root
            && rows >= min_size
            && rows < n
            && rows as f64 <= SHRINK * anchor as f64;
        let (parent, anchor) = if keep {
            let id = tree.nodes.len();
            let mut members = Vec::with_capacity(rows);
            collect_rows(cluster, kids, leaf_rows, &mut members);
            members.sort_unstable();
            if let Some(p) = parent {
                tree.nodes[p].children.push(id);
            }
            let level = parent.map_or(0, |p: usize| tree.nodes[p].level + 1);
            tree.nodes.push(TreeNode {
                rows: members,
                parent,
                children: Vec::new(),
                level,
            });
            (Some(id), rows)
        } else {
            (parent, anchor)
        };
        if cluster >= m && size[cluster] >= min_size {
            // Children by their first row, the lowest visited first (pushed last).
            let mut children = kids[cluster - m].clone();
            children.sort_by_key(|&c| std::cmp::Reverse(first[c]));
            stack.extend(children.into_iter().map(|c| (c, parent, anchor)));
        }
    }
    tree
}

/// Appends the rows under cluster `cluster`.
fn collect_rows(
    cluster: usize,
    kids: &[Vec<usize>],
    leaf_rows: &[Vec<usize>],
    out: &mut Vec<usize>,
) {
    let m = leaf_rows.len();
    let mut stack = vec![cluster];
    while let Some(c) = stack.pop() {
        if c < m {
            out.extend_from_slice(&leaf_rows[c]);
        } else {
            stack.extend(kids[c - m].iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `per_group` copies of each of `groups` distinct unit rows in `d` dimensions, interleaved
    /// (row i is a copy of group i % groups).
    fn copies(groups: usize, per_group: usize, d: usize) -> Matrix {
        let mut data = Matrix::zeros(groups * per_group, d);
        for i in 0..data.rows() {
            let g = i % groups;
            for (j, x) in data.row_mut(i).iter_mut().enumerate() {
                *x = ((j * (2 * g + 5) + g) % 11) as f32 - 5.0;
            }
        }
        data.normalize_rows();
        data
    }

    fn rows_of_group(groups: usize, n: usize, g: usize) -> Vec<usize> {
        (0..n).filter(|i| i % groups == g).collect()
    }

    #[test]
    fn fewer_rows_than_the_minimum_size_give_no_node() {
        for merging in [Merging::Ward, Merging::Leiden] {
            let tree = tree_of(&copies(2, 2, 16), 10, TREE_FIT_ROWS, merging);
            assert!(tree.nodes.is_empty());
        }
    }

    /// Two distinct prompts repeated 10 times each: the two groups are the two top nodes,
    /// before and after the PCA (which finds a single component here).
    #[test]
    fn repeated_rows_stay_together() {
        let data = copies(2, 10, 64);
        let reduced = super::super::reduce::reduce(&data, 16, 42, &Progress::hidden()).unwrap();
        let many = super::super::reduce::reduce_many(&data, 16, 42, &Progress::hidden()).unwrap();
        let inputs = [&data, &*reduced.data, &*many.data];
        for (input, merging) in inputs
            .iter()
            .flat_map(|i| [(*i, Merging::Ward), (*i, Merging::Leiden)])
        {
            let tree = tree_of(input, 5, TREE_FIT_ROWS, merging);
            let tops: Vec<&Vec<usize>> = tree
                .nodes
                .iter()
                .filter(|n| n.parent.is_none())
                .map(|n| &n.rows)
                .collect();
            assert_eq!(tops, [&rows_of_group(2, 20, 0), &rows_of_group(2, 20, 1)]);
            for node in &tree.nodes {
                let group = node.rows[0] % 2;
                assert!(node.rows.iter().all(|r| r % 2 == group), "{:?}", node.rows);
            }
        }
    }

    /// Fitted on a sample, every row still lands with its copies.
    #[test]
    fn rows_outside_the_sample_join_their_group() {
        let data = copies(3, 20, 32);
        for merging in [Merging::Ward, Merging::Leiden] {
            check_sampled(&data, merging);
        }
    }

    /// The tree alone, nothing run beside it.
    fn tree_of(data: &Matrix, min_size: usize, fit_rows: usize, merging: Merging) -> CandidateTree {
        build(
            data,
            min_size,
            fit_rows,
            merging,
            42,
            &Progress::hidden(),
            |_, _| (),
        )
        .unwrap()
        .0
    }

    fn check_sampled(data: &Matrix, merging: Merging) {
        let (tree, (sample, sample_rows)) = build(
            data,
            5,
            12,
            merging,
            42,
            &Progress::hidden(),
            |sample, rows| (sample.to_vec(), rows.to_vec()),
        )
        .unwrap();
        // What ran beside the merges saw the sample and its rows as the tree keeps them.
        assert_eq!(
            (sample, sample_rows),
            (tree.sample.clone(), tree.sample_rows.clone())
        );
        assert_eq!(tree.fit_sample_size, Some(12));
        for g in 0..3 {
            let rows = rows_of_group(3, 60, g);
            assert!(
                tree.nodes.iter().any(|n| n.rows == rows),
                "group {g} is no node"
            );
        }
        for (id, node) in tree.nodes.iter().enumerate() {
            if let Some(p) = node.parent {
                let parent = &tree.nodes[p];
                assert!(node
                    .rows
                    .iter()
                    .all(|r| parent.rows.binary_search(r).is_ok()));
                assert!(parent.children.contains(&id));
                assert_eq!(node.level, parent.level + 1);
            }
        }
    }
}
