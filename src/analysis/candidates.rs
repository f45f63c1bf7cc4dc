//! Candidate groups of rows to test (slices, regress): the nodes of the candidate tree (or the
//! clusters of a flat clustering and its noise), and one group per value of each `--group-by`
//! field.

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

/// A tree node's place: indices are node numbers of the candidate tree (pre-order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreePosition {
    pub node: usize,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub level: usize,
}

/// One candidate per node of the candidate tree, in node order (so candidate `i` is node `i`).
pub fn from_tree(tree: crate::cluster::CandidateTree) -> Vec<Candidate> {
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
