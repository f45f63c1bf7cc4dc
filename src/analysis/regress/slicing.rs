//! The slices a comparison is broken down by: the nodes of the candidate tree of the baseline's
//! prompts (the pipeline `slices` uses; or the clusters of a flat `--clustering` and the prompts
//! it left as noise), and one slice per value of each group-by field. They are fixed when the baseline is recorded, so a later
//! check compares the same slices.

use super::cases::Case;
use crate::analysis::candidates;
use crate::analysis::representatives::{distinct_prompts, nearest_to_centroid};
use crate::analysis::scan::NeighbourGraph;
use crate::cluster::{ClusterParams, ClusteringInfo};
use crate::embed::Embedder;
use crate::error::Result;
use crate::naming::{KeywordNamer, SliceNamer};
use crate::progress::Progress;
use serde::{Deserialize, Serialize};

/// How slices are made.
#[derive(Debug, Clone)]
pub struct SlicingConfig {
    /// `min_cluster_size` is also the smallest group-by slice.
    pub cluster: ClusterParams,
    pub group_by: Vec<String>,
    /// Representative prompts kept per slice.
    pub representatives: usize,
    /// Nearest neighbours per case in the regression scan's graph; 0 builds no graph.
    pub scan_neighbours: usize,
}

/// One slice as stored in a baseline and shown in reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceDef {
    pub name: String,
    pub keywords: Vec<String>,
    /// `cluster`, `noise`, or the group-by field.
    pub source: String,
    /// The field's value, for group-by slices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Prompts nearest the slice's centroid (distinct).
    pub representative_prompts: Vec<String>,
    /// Depth in the candidate tree (0 at the top), for tree nodes: the slices of one depth
    /// share one part of the error budget (see `regress::slice_weights`). Absent in baselines
    /// recorded before it, which then get plain Benjamini-Hochberg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<usize>,
}

/// How the slices were made; stored in the baseline and echoed in reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlicingParameters {
    pub embedder: String,
    pub embedding_dims: usize,
    pub clustering: serde_json::Value,
    pub min_slice_size: usize,
    pub seed: u64,
    pub group_by: Vec<String>,
}

/// Slices over a list of cases.
#[derive(Debug, Clone)]
pub struct Slicing {
    pub slices: Vec<SliceDef>,
    /// Per slice, the indices of its cases, ascending.
    pub members: Vec<Vec<usize>>,
    pub parameters: SlicingParameters,
    /// The regression scan's neighbour graph over the cases (`None`: no scan).
    pub graph: Option<NeighbourGraph>,
}

/// Embeds and clusters the prompts of `cases`, and adds the noise and group-by slices.
pub fn build(
    cases: &[Case],
    embedder: &dyn Embedder,
    config: &SlicingConfig,
    progress: &Progress,
) -> Result<Slicing> {
    let prompts: Vec<&str> = cases.iter().map(|c| c.prompt.as_str()).collect();
    let embeddings = embedder.embed(&prompts, progress)?;
    let min_size = config.cluster.min_cluster_size;
    let candidates::Found {
        candidates: mut groups,
        info,
        classes,
        neighbours,
        ..
    } = candidates::from_embeddings(
        &embeddings,
        &config.cluster,
        config.scan_neighbours,
        progress,
    )?;
    // A flat clustering has no tree to take the graph from.
    let graph = match neighbours {
        Some(graph) => Some(graph),
        None => candidates::neighbour_graph(
            &embeddings,
            config.cluster.seed,
            config.scan_neighbours,
            progress,
        )?,
    };
    groups.extend(candidates::from_groups(
        &config.group_by,
        cases.len(),
        |i, f| cases[i].groups.get(f).cloned().flatten(),
        min_size,
    ));

    let namer = KeywordNamer {
        classes,
        ..KeywordNamer::default()
    };
    let rows: Vec<&[usize]> = groups.iter().map(|g| &g.rows[..]).collect();
    let names = namer.name_slices(&prompts, &rows);
    let slices = groups
        .iter()
        .zip(names)
        .map(|(group, name)| {
            let nearest = nearest_to_centroid(&embeddings, &group.rows);
            SliceDef {
                name: match (&group.source[..], &group.value) {
                    ("noise", _) => format!("unclustered prompts: {}", name.name),
                    (field, Some(value)) => format!("{field} = {value}"),
                    _ => name.name,
                },
                keywords: name.keywords,
                source: group.source.clone(),
                value: group.value.clone(),
                representative_prompts: distinct_prompts(
                    &prompts,
                    &nearest,
                    config.representatives,
                )
                .into_iter()
                .map(|i| prompts[i].to_string())
                .collect(),
                level: group.position.as_ref().map(|p| p.level),
            }
        })
        .collect();
    Ok(Slicing {
        slices,
        members: groups.into_iter().map(|g| g.rows).collect(),
        parameters: SlicingParameters {
            embedder: embedder.name(),
            embedding_dims: embeddings.cols(),
            clustering: clustering_json(&info),
            min_slice_size: min_size,
            seed: config.cluster.seed,
            group_by: config.group_by.clone(),
        },
        graph,
    })
}

/// The clustering's description as JSON, so a baseline can store and return it verbatim.
fn clustering_json(info: &ClusteringInfo) -> serde_json::Value {
    serde_json::to_value(info).unwrap_or(serde_json::Value::Null)
}
