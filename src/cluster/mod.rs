//! Clustering of embeddings into candidate slices: HDBSCAN (default), agglomerative Ward, k-means.
//!
//! Input rows are L2-normalized embeddings. All three methods first project them with PCA to
//! `reduced_dims` and renormalize the projections (see `reduce.rs` for why, and what was
//! measured); above a size limit they fit on a seeded sample and assign the other rows:
//!
//! * HDBSCAN fits on at most `max_fit_rows` rows and assigns the rest by a density rule
//!   consistent with the fit (documented in `hdbscan.rs`); points it leaves as noise get label
//!   `None`;
//! * agglomerative runs Ward (kodama) on at most 5,000 rows, with k chosen by silhouette over a
//!   grid unless `k` is given, and assigns the rest to the nearest centroid;
//! * k-means (linfa-clustering) fits on at most `max_fit_rows` rows and gives every row its
//!   nearest centroid.
//!
//! For agglomerative and k-means, clusters with fewer than `min_cluster_size` rows (counted over
//! all rows) are dropped to noise. Cluster ids are renumbered by the first row that carries
//! each, so the same input, parameters and seed give the same labels.
//!
//! Degenerate input never panics: no rows gives no labels; fewer rows than `min_cluster_size`
//! (or all rows identical: there is no structure to slice) makes every row noise.

mod agglomerative;
mod hdbscan;
mod kmeans;
mod knn;
mod layout;
mod reduce;
#[cfg(test)]
mod tests;
pub mod tree;

pub use tree::CandidateTree;

use crate::error::{Error, Result};
use crate::matrix::{squared_distance, Matrix};
use crate::progress::Progress;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterMethod {
    /// Nested candidates at every scale ([`tree`]): Ward's dendrogram.
    Tree,
    /// Nested candidates at every scale ([`tree`]): Leiden communities of a neighbour graph.
    Graph,
    Hdbscan,
    Agglomerative,
    Kmeans,
}

impl ClusterMethod {
    /// The candidate-tree methods (nested candidates), as opposed to one flat partition.
    pub fn is_tree(self) -> bool {
        matches!(self, ClusterMethod::Tree | ClusterMethod::Graph)
    }
}

#[derive(Debug, Clone)]
pub struct ClusterParams {
    pub method: ClusterMethod,
    /// Smallest cluster kept (HDBSCAN `min_cluster_size`; smaller agglomerative/k-means clusters
    /// are dropped to noise).
    pub min_cluster_size: usize,
    /// `k` for k-means (required there); for agglomerative, `Some(k)` fixes k, `None` picks k
    /// by silhouette over a grid.
    pub k: Option<usize>,
    pub seed: u64,
    /// Above this many rows, fit on a seeded sample of this size and assign the rest.
    pub max_fit_rows: usize,
    /// Dimensions the embeddings are reduced to (PCA, then renormalized) before clustering.
    pub reduced_dims: usize,
    /// HDBSCAN `min_samples` (the neighbour count of the core distance). `None` uses the
    /// HDBSCAN convention, `min_samples = min_cluster_size` (5 and 3 measured no better on
    /// synthetic blobs: ARI within 0.005, slightly fewer rows left as noise).
    pub min_samples: Option<usize>,
    /// HDBSCAN: clusters larger than this share of the fit rows are not selected, so the
    /// excess-of-mass selection descends to their sub-clusters. Without a cap it returned two
    /// giant clusters on MMLU-Pro (12k questions, 14 subjects); at 0.1 it returns topic-level
    /// clusters (docs/slices.md). `1.0` disables the cap.
    pub max_cluster_share: f64,
}

impl Default for ClusterParams {
    fn default() -> Self {
        ClusterParams {
            method: ClusterMethod::Hdbscan,
            min_cluster_size: 10,
            k: None,
            seed: 42,
            max_fit_rows: 6_000,
            reduced_dims: FLAT_DIMS,
            min_samples: None,
            max_cluster_share: 0.1,
        }
    }
}

/// PCA dimensions of the candidate tree: 128 kept more intents recoverable than 64 on CLINC150
/// (79 against 66 of 150) and as many as 256 (82) or the full 512 (78) at half the cost.
pub const TREE_DIMS: usize = 128;
/// The candidate tree keeps at most one PCA dimension per this many rows (but at least
/// [`FLAT_DIMS`]): directions estimated from few rows are noise, and on a 180-row support set
/// Ward mixed every topic at 64 or more dimensions while 16 and 32 separated them exactly.
pub const ROWS_PER_TREE_DIM: usize = 20;
/// PCA dimensions of the flat methods (HDBSCAN, Ward with a k, k-means).
pub const FLAT_DIMS: usize = 16;

impl ClusterParams {
    /// The defaults of `method`: the candidate trees use 128 PCA dimensions and a 5,000-row fit,
    /// the flat methods 16 and 6,000.
    pub fn for_method(method: ClusterMethod) -> Self {
        let flat = ClusterParams::default();
        if method.is_tree() {
            ClusterParams {
                method,
                reduced_dims: TREE_DIMS,
                max_fit_rows: tree::TREE_FIT_ROWS,
                ..flat
            }
        } else {
            ClusterParams { method, ..flat }
        }
    }
}

/// The outcome: a label per row, and how it was obtained (goes into the report's `parameters`).
#[derive(Debug, Clone)]
pub struct Clustering {
    /// `Some(c)` with `c < num_clusters`, or `None` for noise / dropped small clusters.
    /// Cluster ids are numbered deterministically (by first row in input order).
    pub labels: Vec<Option<usize>>,
    pub num_clusters: usize,
    pub info: ClusteringInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusteringInfo {
    pub method: ClusterMethod,
    /// Dimensions the clustering ran in (after PCA), or the embedding dimension.
    pub dims: usize,
    /// `Some(n)` when the fit used a seeded sample of `n` rows and the rest were assigned.
    pub fit_sample_size: Option<usize>,
    /// The k used (k-means, agglomerative), or `None` for HDBSCAN.
    pub k: Option<usize>,
    /// Silhouette of the chosen k (agglomerative grid search), when computed.
    pub silhouette: Option<f64>,
    /// HDBSCAN's `min_samples` as used, or `None` for the other methods.
    pub min_samples: Option<usize>,
    /// HDBSCAN's largest selectable cluster (rows of the fit), when capped.
    pub max_cluster_size: Option<usize>,
    /// Fraction of the embeddings' variance kept by the PCA projection, when PCA ran.
    pub explained_variance: Option<f64>,
    /// Rows labelled noise (HDBSCAN noise and rows of dropped small clusters).
    pub noise_rows: usize,
}

impl ClusteringInfo {
    /// Before any fitting: the method, the input's dimension, and nothing else known.
    fn unfitted(method: ClusterMethod, dims: usize) -> Self {
        ClusteringInfo {
            method,
            dims,
            fit_sample_size: None,
            k: None,
            silhouette: None,
            max_cluster_size: None,
            min_samples: None,
            explained_variance: None,
            noise_rows: 0,
        }
    }
}

/// Clusters the rows of `embeddings`.
///
/// Errors: [`Error::Usage`] for invalid parameters (k-means without `k`, `k = 0`, `k` above the
/// row count, `min_cluster_size < 2`, `max_fit_rows < 2`, `reduced_dims = 0`);
/// [`Error::Analysis`] when a clustering library fails on the data.
pub fn cluster(
    embeddings: &Matrix,
    params: &ClusterParams,
    progress: &Progress,
) -> Result<Clustering> {
    validate(params)?;
    let n = embeddings.rows();
    let k_fixed = match params.method {
        ClusterMethod::Kmeans | ClusterMethod::Agglomerative => params.k,
        ClusterMethod::Hdbscan | ClusterMethod::Tree | ClusterMethod::Graph => None,
    };
    let min_samples = (params.method == ClusterMethod::Hdbscan)
        .then(|| params.min_samples.unwrap_or(params.min_cluster_size));
    let mut info = ClusteringInfo {
        k: k_fixed,
        min_samples,
        noise_rows: n,
        ..ClusteringInfo::unfitted(params.method, embeddings.cols())
    };
    if n < params.min_cluster_size || all_rows_identical(embeddings) {
        return Ok(Clustering {
            labels: vec![None; n],
            num_clusters: 0,
            info,
        });
    }

    let reduced = reduce::reduce(embeddings, params.reduced_dims, params.seed, progress)?;
    info.dims = reduced.data.cols();
    info.explained_variance = reduced.explained_variance;
    let data: &Matrix = &reduced.data;
    let (raw, fit_sample_size) = match params.method {
        ClusterMethod::Tree | ClusterMethod::Graph => {
            return Err(Error::Usage(
                "--clustering tree and graph apply to slices and regress; give hdbscan, agglomerative or kmeans here".into(),
            ))
        }
        ClusterMethod::Hdbscan => {
            info.max_cluster_size = hdbscan::cluster_size_cap(
                params.max_cluster_share,
                params.max_fit_rows.min(n),
                params.min_cluster_size,
            );
            let fit = hdbscan::run(
                data,
                params.min_cluster_size,
                min_samples.unwrap_or(params.min_cluster_size),
                info.max_cluster_size,
                params.max_fit_rows,
                params.seed,
                progress,
            )?;
            (fit.labels, fit.fit_sample_size)
        }
        ClusterMethod::Agglomerative => {
            let out = agglomerative::run(
                data,
                params.min_cluster_size,
                params.k,
                params.max_fit_rows,
                params.seed,
                progress,
            )?;
            info.k = Some(out.k);
            info.silhouette = out.silhouette;
            let labels = drop_small_clusters(out.fit.labels, params.min_cluster_size);
            (labels, out.fit.fit_sample_size)
        }
        ClusterMethod::Kmeans => {
            // `validate` has checked that k is given.
            let k = params.k.unwrap_or(1);
            let fit = kmeans::run(data, k, params.max_fit_rows, params.seed, progress)?;
            let labels = drop_small_clusters(fit.labels, params.min_cluster_size);
            (labels, fit.fit_sample_size)
        }
    };
    info.fit_sample_size = fit_sample_size;
    let (labels, num_clusters) = renumber(&raw);
    info.noise_rows = labels.iter().filter(|l| l.is_none()).count();
    Ok(Clustering {
        labels,
        num_clusters,
        info,
    })
}

/// Builds the candidate tree ([`tree`]) of the rows of `embeddings`: PCA to
/// `params.reduced_dims` (at most one dimension per [`ROWS_PER_TREE_DIM`] rows), then Ward on a
/// sample and every row assigned. `alongside(reduced, sample, sample_rows)` runs on the
/// reduced rows the tree is built on while the merges run ([`tree::build`]); its result is
/// returned, `None` when there is no tree.
pub fn candidate_tree<T: Send>(
    embeddings: &Matrix,
    params: &ClusterParams,
    progress: &Progress,
    alongside: impl FnOnce(&Matrix, &[usize], &[Vec<usize>]) -> T + Send,
) -> Result<(CandidateTree, ClusteringInfo, Option<T>)> {
    validate(params)?;
    let n = embeddings.rows();
    let mut info = ClusteringInfo::unfitted(params.method, embeddings.cols());
    if n < params.min_cluster_size || all_rows_identical(embeddings) {
        return Ok((CandidateTree::default(), info, None));
    }
    let dims = params
        .reduced_dims
        .min((n / ROWS_PER_TREE_DIM).max(FLAT_DIMS));
    let reduced = reduce::reduce_many(embeddings, dims, params.seed, progress)?;
    info.dims = reduced.data.cols();
    info.explained_variance = reduced.explained_variance;
    let reduced = &reduced.data;
    let (tree, beside) = tree::build(
        reduced,
        params.min_cluster_size,
        params.max_fit_rows,
        if params.method == ClusterMethod::Graph {
            tree::Merging::Leiden
        } else {
            tree::Merging::Ward
        },
        params.seed,
        progress,
        |sample, sample_rows| alongside(reduced, sample, sample_rows),
    )?;
    info.fit_sample_size = tree.fit_sample_size;
    Ok((tree, info, Some(beside)))
}

/// The rows reduced as [`candidate_tree`] reduces them by default ([`TREE_DIMS`], at most one
/// dimension per [`ROWS_PER_TREE_DIM`] rows): the space of a neighbour graph built beside a
/// flat clustering.
pub fn reduce_for_neighbours<'a>(
    embeddings: &'a Matrix,
    seed: u64,
    progress: &Progress,
) -> Result<Cow<'a, Matrix>> {
    let dims = TREE_DIMS.min((embeddings.rows() / ROWS_PER_TREE_DIM).max(FLAT_DIMS));
    Ok(reduce::reduce_many(embeddings, dims, seed, progress)?.data)
}

fn validate(params: &ClusterParams) -> Result<()> {
    if params.min_cluster_size < 2 {
        return Err(Error::Usage(format!(
            "the minimum slice size must be at least 2 (got {})",
            params.min_cluster_size
        )));
    }
    if params.max_fit_rows < 2 {
        return Err(Error::Usage(format!(
            "the clustering fit sample must allow at least 2 rows (got {})",
            params.max_fit_rows
        )));
    }
    if params.reduced_dims == 0 {
        return Err(Error::Usage(
            "the reduced dimension for clustering must be at least 1".into(),
        ));
    }
    if params.k == Some(0) {
        return Err(Error::Usage("--k must be at least 1".into()));
    }
    if params.min_samples == Some(0) {
        return Err(Error::Usage("min_samples must be at least 1".into()));
    }
    if params.method == ClusterMethod::Kmeans && params.k.is_none() {
        return Err(Error::Usage(
            "--clustering kmeans needs --k N (the number of clusters)".into(),
        ));
    }
    Ok(())
}

/// Labels of one method's fit, before renumbering.
pub(crate) struct FitOutcome {
    /// One per row; `None` is noise.
    pub labels: Vec<Option<usize>>,
    /// `Some(m)` when the fit used a sample of m rows.
    pub fit_sample_size: Option<usize>,
}

/// A seeded sample of `amount` distinct indices of `0..n`, sorted; all of `0..n` when
/// `amount >= n`. `stream` separates the samples drawn for different purposes.
pub(crate) fn sample_indices(n: usize, amount: usize, seed: u64, stream: u64) -> Vec<usize> {
    if amount >= n {
        return (0..n).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut sample = rand::seq::index::sample(&mut rng, n, amount).into_vec();
    sample.sort_unstable();
    sample
}

/// Index of the nearest centroid (squared Euclidean; ties to the lower index) for every row.
/// Hand-written: a loop over at most a few dozen centroids per row.
pub(crate) fn nearest_centroid(
    data: &Matrix,
    centroids: &Matrix,
    on_chunk: &(dyn Fn(usize) + Sync),
) -> Vec<usize> {
    const CHUNK: usize = 8192;
    let rows: Vec<usize> = (0..data.rows()).collect();
    rows.par_chunks(CHUNK)
        .flat_map_iter(|chunk| {
            let out: Vec<usize> = chunk
                .iter()
                .map(|&i| {
                    let row = data.row(i);
                    let mut best = (f32::INFINITY, 0);
                    for c in 0..centroids.rows() {
                        let d = squared_distance(row, centroids.row(c));
                        if d < best.0 {
                            best = (d, c);
                        }
                    }
                    best.1
                })
                .collect();
            on_chunk(chunk.len());
            out.into_iter()
        })
        .collect()
}

/// Turns clusters with fewer than `min_size` rows into noise.
fn drop_small_clusters(labels: Vec<Option<usize>>, min_size: usize) -> Vec<Option<usize>> {
    let clusters = labels.iter().flatten().max().map_or(0, |&c| c + 1);
    let mut sizes = vec![0usize; clusters];
    for &c in labels.iter().flatten() {
        sizes[c] += 1;
    }
    labels
        .into_iter()
        .map(|l| l.filter(|&c| sizes[c] >= min_size))
        .collect()
}

/// Renumbers cluster ids 0.. in order of the first row carrying each; returns the count.
fn renumber(labels: &[Option<usize>]) -> (Vec<Option<usize>>, usize) {
    let clusters = labels.iter().flatten().max().map_or(0, |&c| c + 1);
    let mut ids = vec![None; clusters];
    let mut next = 0;
    let out = labels
        .iter()
        .map(|l| {
            l.map(|c| {
                *ids[c].get_or_insert_with(|| {
                    next += 1;
                    next - 1
                })
            })
        })
        .collect();
    (out, next)
}

/// True when every row equals the first (including a single row).
fn all_rows_identical(m: &Matrix) -> bool {
    if m.rows() == 0 {
        return true;
    }
    let first = m.row(0);
    (1..m.rows()).all(|i| m.row(i) == first)
}

/// How the map places the prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MapLayout {
    /// UMAP's layout of the nearest-neighbour graph: topics apart (the default).
    Umap,
    /// The first two principal components: faster, topics overlap.
    Pca,
}

/// Every row's place on a 2-D map, seeded: the HTML report draws the prompts there.
pub fn map_2d(embeddings: &Matrix, seed: u64, progress: &Progress) -> Result<Vec<[f32; 2]>> {
    map_2d_with(embeddings, MapLayout::Umap, seed, progress)
}

/// [`map_2d`] by the given method; UMAP falls back to PCA below a graph's worth of rows.
pub fn map_2d_with(
    embeddings: &Matrix,
    layout: MapLayout,
    seed: u64,
    progress: &Progress,
) -> Result<Vec<[f32; 2]>> {
    if layout == MapLayout::Umap {
        if let Some(points) = layout::umap_2d(embeddings, seed, progress)? {
            return Ok(points);
        }
    }
    reduce::map_2d(embeddings, seed, progress)
}
