//! Candidate groups of rows to test (slices, regress): the nodes of the candidate tree (or the
//! clusters of a flat clustering and its noise), and one group per value of each `--group-by`
//! field.

use super::scan::NeighbourGraph;
use crate::cluster::{self, CandidateTree, ClusterParams, ClusteringInfo};
use crate::error::Result;
use crate::matrix::Matrix;
use crate::neighbours;
use crate::progress::Progress;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A group of rows to test, before testing.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// `cluster`, `noise`, or the group-by field the group comes from.
    pub source: String,
    /// The field's value, for group-by groups.
    pub value: Option<String>,
    /// Row indices, ascending.
    pub rows: Vec<usize>,
    /// Where the group sits in the candidate tree, for tree nodes.
    pub position: Option<TreePosition>,
}

/// A tree node's place: its number in the candidate tree (pre-order), its parent's and
/// children's numbers, and its depth (0 at the top). A group of reported slices
/// ([`super::grouping`]) has no parent or children, and lists the slices it joins as `parts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreePosition {
    pub node: usize,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub level: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<usize>,
}

/// The candidates the embeddings give, before any `--group-by` value.
pub struct Found {
    /// Tree nodes first, in node order (candidate `i` is node `i`); or the flat clusters and
    /// the noise group.
    pub candidates: Vec<Candidate>,
    pub info: ClusteringInfo,
    /// Rows a flat clustering left as noise (0 with a tree, which places every row).
    pub noise_rows: usize,
    /// Classes for class-based TF-IDF naming: the tree's leaves, or the clusters, plus one.
    pub classes: usize,
    /// With a tree and `neighbours > 0`: the failure scan's units and their nearest
    /// neighbours in the reduced space ([`scan_graph`]).
    pub neighbours: Option<NeighbourGraph>,
}

/// Up to this many rows the failure scan's units are the rows (exact nearest neighbours cost
/// rows² products: about 1 s at 25,000 rows on 2 cores); beyond, the tree's sample points.
pub const SCAN_ROW_LIMIT: usize = 25_000;

/// Builds the candidates of `embeddings`: the candidate tree's nodes, or a flat clustering's
/// clusters and noise group (`params.method`); with a tree, also each row's `neighbours`
/// nearest rows when `neighbours > 0`. Shared by `slices` and `regress`.
pub fn from_embeddings(
    embeddings: &Matrix,
    params: &ClusterParams,
    neighbours: usize,
    progress: &Progress,
) -> Result<Found> {
    if params.method.is_tree() {
        let (tree, info, graph) =
            cluster::candidate_tree(embeddings, params, progress, |reduced, sample, rows| {
                (neighbours > 0).then(|| scan_graph(reduced, sample, rows, neighbours, progress))
            })?;
        let leaves = tree.nodes.iter().filter(|n| n.children.is_empty()).count();
        let graph = graph.flatten();
        return Ok(Found {
            candidates: from_tree(tree),
            info,
            noise_rows: 0,
            classes: leaves + 1,
            neighbours: graph,
        });
    }
    let clustering = cluster::cluster(embeddings, params, progress)?;
    let mut candidates = from_clusters(&clustering.labels, clustering.num_clusters);
    candidates.extend(from_noise(&clustering.labels, params.min_cluster_size));
    Ok(Found {
        candidates,
        noise_rows: clustering.labels.iter().filter(|l| l.is_none()).count(),
        classes: clustering.num_clusters + 1,
        info: clustering.info,
        neighbours: None,
    })
}

/// The failure scan's units and their `k` nearest other units: the rows themselves up to
/// [`SCAN_ROW_LIMIT`] rows, else the tree's sample points (each with the rows that joined it),
/// so the cost stays bounded at any input size.
fn scan_graph(
    reduced: &Matrix,
    sample: &[usize],
    sample_rows: &[Vec<usize>],
    k: usize,
    progress: &Progress,
) -> NeighbourGraph {
    let lists = |m: &Matrix| neighbour_lists(m, k, progress);
    if reduced.rows() <= SCAN_ROW_LIMIT || sample.len() == reduced.rows() {
        NeighbourGraph::of_rows(lists(reduced))
    } else {
        let points = reduced.select_rows(sample);
        NeighbourGraph::of_groups(lists(&points), sample_rows.to_vec())
    }
}

/// Stream of the seeded sample of units for [`neighbour_graph`] beyond [`SCAN_ROW_LIMIT`] rows.
const GRAPH_SAMPLE_STREAM: u64 = 6;

/// The scan's units and their `k` nearest neighbours without a candidate tree (beside a flat
/// clustering): the rows reduced as the tree reduces them; beyond [`SCAN_ROW_LIMIT`] rows the
/// units are a seeded sample of [`cluster::tree::TREE_FIT_ROWS`] rows, each with the rows
/// nearest to it. `None` below two rows.
pub fn neighbour_graph(
    embeddings: &Matrix,
    seed: u64,
    k: usize,
    progress: &Progress,
) -> Result<Option<NeighbourGraph>> {
    let n = embeddings.rows();
    if n < 2 || k == 0 {
        return Ok(None);
    }
    let reduced = cluster::reduce_for_neighbours(embeddings, seed, progress)?;
    if n <= SCAN_ROW_LIMIT {
        return Ok(Some(NeighbourGraph::of_rows(neighbour_lists(
            &reduced, k, progress,
        ))));
    }
    let sample =
        cluster::sample_indices(n, cluster::tree::TREE_FIT_ROWS, seed, GRAPH_SAMPLE_STREAM);
    let points = reduced.select_rows(&sample);
    let mut members = vec![Vec::new(); sample.len()];
    let nearest = neighbours::nearest(&reduced, &points, progress, "assigning scan units");
    for (row, near) in nearest.iter().enumerate() {
        // every row has a nearest sample point: the sample is not empty
        members[near.index.unwrap_or(0)].push(row);
    }
    Ok(Some(NeighbourGraph::of_groups(
        neighbour_lists(&points, k, progress),
        members,
    )))
}

/// Each row's `k` nearest other rows, indices only.
fn neighbour_lists(m: &Matrix, k: usize, progress: &Progress) -> Vec<Vec<usize>> {
    neighbours::k_nearest_other(m, k, progress)
        .into_iter()
        .map(|l| l.into_iter().map(|(j, _)| j).collect())
        .collect()
}

/// One candidate per node of the candidate tree, in node order (so candidate `i` is node `i`).
fn from_tree(tree: CandidateTree) -> Vec<Candidate> {
    tree.nodes
        .into_iter()
        .enumerate()
        .map(|(node, n)| Candidate {
            source: "cluster".into(),
            value: None,
            rows: n.rows,
            position: Some(TreePosition {
                node,
                parent: n.parent,
                children: n.children,
                level: n.level,
                parts: Vec::new(),
            }),
        })
        .collect()
}

/// One candidate per non-empty cluster, in cluster-id order.
pub fn from_clusters(labels: &[Option<usize>], num_clusters: usize) -> Vec<Candidate> {
    let mut rows = vec![Vec::new(); num_clusters];
    for (i, label) in labels.iter().enumerate() {
        if let Some(c) = label {
            rows[*c].push(i);
        }
    }
    rows.into_iter()
        .filter(|r| !r.is_empty())
        .map(|rows| Candidate {
            source: "cluster".into(),
            value: None,
            rows,
            position: None,
        })
        .collect()
}

/// The rows the clustering left as noise, as one candidate when there are at least `min_size`.
pub fn from_noise(labels: &[Option<usize>], min_size: usize) -> Option<Candidate> {
    let rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_none()).collect();
    (rows.len() >= min_size.max(1)).then(|| Candidate {
        source: "noise".into(),
        value: None,
        rows,
        position: None,
    })
}

/// One candidate per value of each field with at least `min_size` rows, fields in order and
/// values sorted. `value(row, field)` is the row's value of field `field`; `None` forms no
/// group.
pub fn from_groups(
    fields: &[String],
    rows: usize,
    value: impl Fn(usize, usize) -> Option<String>,
    min_size: usize,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (f, field) in fields.iter().enumerate() {
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for i in 0..rows {
            if let Some(v) = value(i, f) {
                groups.entry(v).or_default().push(i);
            }
        }
        out.extend(
            groups
                .into_iter()
                .filter(|(_, rows)| rows.len() >= min_size.max(1))
                .map(|(value, rows)| Candidate {
                    source: field.clone(),
                    value: Some(value),
                    rows,
                    position: None,
                }),
        );
    }
    out
}

/// A group-by value as text: strings as they are, other JSON as its text; `null` is no value.
pub fn group_value(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}
