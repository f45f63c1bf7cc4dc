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
use crate::error::Result;
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
}

/// Builds the candidate tree of the rows of `data` (unit rows: the reduced embeddings).
pub(crate) fn build(
    data: &Matrix,
    min_size: usize,
    fit_rows: usize,
    seed: u64,
    progress: &Progress,
) -> Result<CandidateTree> {
    let n = data.rows();
    let sample = sample_indices(n, fit_rows, seed, TREE_STREAM);
    let m = sample.len();
    if m < 2 {
        return Ok(CandidateTree::default());
    }
    let fit = data.select_rows(&sample);
    let spinner = progress.spinner(&format!("building the candidate tree (Ward on {m} rows)"));
    let mut distances = super::agglomerative::condensed_distances(&fit);
    let dendrogram = linkage(&mut distances, m, Method::Ward);
    drop(distances);
    spinner.finish_and_clear();

    // Rows of each sample point: itself and the rows nearest to it.
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

    // Dendrogram clusters: 0..m are the sample points, m + s is the cluster step s makes.
    let steps = dendrogram.steps();
    let mut size: Vec<usize> = leaf_rows.iter().map(Vec::len).collect();
    let mut kids: Vec<[usize; 2]> = Vec::with_capacity(steps.len());
    for step in steps {
        size.push(size[step.cluster1] + size[step.cluster2]);
        kids.push([step.cluster1, step.cluster2]);
    }
    let root = m + steps.len() - 1;

    // Walk down from the root, keeping nodes that shrink enough against their kept ancestor.
    let mut tree = CandidateTree {
        nodes: Vec::new(),
        fit_sample_size: (m < n).then_some(m),
    };
    // (dendrogram cluster, kept ancestor, that ancestor's size)
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
            collect_rows(cluster, m, &kids, &leaf_rows, &mut members);
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
            // Visit the child with the lower first row first (pushed last).
            let [a, b] = kids[cluster - m];
            let (first, second) =
                if first_row(a, m, &kids, &leaf_rows) <= first_row(b, m, &kids, &leaf_rows) {
                    (a, b)
                } else {
                    (b, a)
                };
            stack.push((second, parent, anchor));
            stack.push((first, parent, anchor));
        }
    }
    Ok(tree)
}

/// Appends the rows under dendrogram cluster `cluster`.
fn collect_rows(
    cluster: usize,
    m: usize,
    kids: &[[usize; 2]],
    leaf_rows: &[Vec<usize>],
    out: &mut Vec<usize>,
) {
    let mut stack = vec![cluster];
    while let Some(c) = stack.pop() {
        if c < m {
            out.extend_from_slice(&leaf_rows[c]);
        } else {
            stack.extend(kids[c - m]);
        }
    }
}

/// The lowest row under dendrogram cluster `cluster` (`usize::MAX` when it has none).
fn first_row(cluster: usize, m: usize, kids: &[[usize; 2]], leaf_rows: &[Vec<usize>]) -> usize {
    let mut stack = vec![cluster];
    let mut first = usize::MAX;
    while let Some(c) = stack.pop() {
        if c < m {
            first = first.min(leaf_rows[c].iter().copied().min().unwrap_or(usize::MAX));
        } else {
            stack.extend(kids[c - m]);
        }
    }
    first
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
        let tree = build(
            &copies(2, 2, 16),
            10,
            TREE_FIT_ROWS,
            42,
            &Progress::hidden(),
        )
        .unwrap();
        assert!(tree.nodes.is_empty());
    }

    /// Two distinct prompts repeated 10 times each: the two groups are the two top nodes,
    /// before and after the PCA (which finds a single component here).
    #[test]
    fn repeated_rows_stay_together() {
        let data = copies(2, 10, 64);
        let reduced = super::super::reduce::reduce(&data, 16, 42, &Progress::hidden()).unwrap();
        for input in [&data, &*reduced.data] {
            let tree = build(input, 5, TREE_FIT_ROWS, 42, &Progress::hidden()).unwrap();
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
        let tree = build(&data, 5, 12, 42, &Progress::hidden()).unwrap();
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
