//! Agglomerative clustering: Ward linkage (kodama) on at most [`WARD_MAX_ROWS`] sampled rows,
//! k chosen by silhouette over a grid unless fixed, and the other rows assigned to the nearest
//! cluster centroid.

use super::{nearest_centroid, sample_indices, FitOutcome};
use crate::disjoint_sets::DisjointSets;
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::progress::Progress;
use kodama::{linkage, Method};
use rayon::prelude::*;

/// Rows Ward runs on: its condensed distance matrix holds n²/2 values (50 MB at 5,000 rows)
/// and linkage is quadratic in time.
pub(crate) const WARD_MAX_ROWS: usize = 5_000;
/// Largest k the silhouette grid tries.
const MAX_GRID_K: usize = 50;
/// The k values tried (those between 2 and the largest allowed k).
const K_GRID: [usize; 16] = [2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 18, 22, 27, 33, 40, 50];
/// Stream of the seeded RNG used for the Ward sample.
const FIT_STREAM: u64 = 3;

pub(crate) struct AgglomerativeOutcome {
    pub fit: FitOutcome,
    pub k: usize,
    pub silhouette: Option<f64>,
}

pub(crate) fn run(
    data: &Matrix,
    min_cluster_size: usize,
    fixed_k: Option<usize>,
    max_fit_rows: usize,
    seed: u64,
    progress: &Progress,
) -> Result<AgglomerativeOutcome> {
    let n = data.rows();
    if let Some(k) = fixed_k {
        if k > n {
            return Err(Error::Usage(format!(
                "--k {k} is more than the {n} rows to cluster"
            )));
        }
    }
    let sample = sample_indices(n, n.min(max_fit_rows).min(WARD_MAX_ROWS), seed, FIT_STREAM);
    let m = sample.len();
    let fit_data = data.select_rows(&sample);

    let spinner = progress.spinner(&format!("clustering (Ward on {m} rows)"));
    let distances = condensed_distances(&fit_data);
    let mut work = distances.clone();
    let dendrogram = linkage(&mut work, m, Method::Ward);
    drop(work);
    let merges: Vec<(usize, usize)> = dendrogram
        .steps()
        .iter()
        .map(|s| (s.cluster1, s.cluster2))
        .collect();

    let (k, silhouette, fit_labels) = match fixed_k {
        Some(k) => {
            let k = k.min(m);
            let labels = cut(&merges, m, k);
            let s = (k >= 2).then(|| silhouettes(&distances, m, &[&labels], &[k])[0]);
            (k, s, labels)
        }
        None => {
            let k_max = MAX_GRID_K.min(m / min_cluster_size.max(1)).min(m);
            let grid: Vec<usize> = K_GRID.iter().copied().filter(|&k| k <= k_max).collect();
            if grid.is_empty() {
                // Too few rows for two clusters of the minimum size: one cluster.
                (1, None, vec![0; m])
            } else {
                let cuts: Vec<Vec<usize>> = grid.iter().map(|&k| cut(&merges, m, k)).collect();
                let refs: Vec<&[usize]> = cuts.iter().map(Vec::as_slice).collect();
                let scores = silhouettes(&distances, m, &refs, &grid);
                // Highest silhouette; ties go to the smaller k.
                let mut best = 0;
                for (i, &s) in scores.iter().enumerate() {
                    if s > scores[best] {
                        best = i;
                    }
                }
                (grid[best], Some(scores[best]), cuts[best].clone())
            }
        }
    };
    drop(distances);
    spinner.finish_and_clear();

    let mut labels: Vec<Option<usize>> = vec![None; n];
    let sampled = m < n;
    if sampled {
        let centroids = centroids(&fit_data, &fit_labels, k);
        let bar = progress.bar(n as u64, "assigning");
        let assigned = nearest_centroid(data, &centroids, &|done| bar.inc(done as u64));
        bar.finish_and_clear();
        for (label, c) in labels.iter_mut().zip(assigned) {
            *label = Some(c);
        }
        // Sample rows keep the cluster Ward gave them.
        for (&i, &c) in sample.iter().zip(&fit_labels) {
            labels[i] = Some(c);
        }
    } else {
        for (label, &c) in labels.iter_mut().zip(&fit_labels) {
            *label = Some(c);
        }
    }
    Ok(AgglomerativeOutcome {
        fit: FitOutcome {
            labels,
            fit_sample_size: sampled.then_some(m),
        },
        k,
        silhouette,
    })
}

/// Condensed (upper triangle, row-major) Euclidean distance matrix, the input kodama takes.
/// Hand-written: kodama only consumes the matrix and building it is one loop.
pub(crate) fn condensed_distances(data: &Matrix) -> Vec<f32> {
    let m = data.rows();
    let mut out = vec![0f32; m * m.saturating_sub(1) / 2];
    // Each row of the matrix is written in place, in parallel.
    let mut rest = &mut out[..];
    let mut rows: Vec<(usize, &mut [f32])> = Vec::with_capacity(m);
    for i in 0..m {
        let (row, tail) = std::mem::take(&mut rest).split_at_mut(m - i - 1);
        rows.push((i, row));
        rest = tail;
    }
    rows.into_par_iter()
        .for_each(|(i, row)| distances_after(data, i, row));
    out
}

dispatch!(
    distances_after,
    distances_after_avx2,
    (data: &Matrix, i: usize, out: &mut [f32])
);

mod imp {
    use crate::matrix::{squared_distance_lanes, Matrix};

    /// Distances from row `i` to every later row (one row of the condensed matrix) into
    /// `out`. A loop writing in place, not `collect`: `collect` is not inlined into the AVX2
    /// copy, so its body would be compiled without the wider lanes.
    #[inline(always)]
    pub(super) fn distances_after(data: &Matrix, i: usize, out: &mut [f32]) {
        let row = data.row(i);
        for (j, d) in ((i + 1)..data.rows()).zip(out) {
            *d = squared_distance_lanes(row, data.row(j)).sqrt();
        }
    }
}

/// Index of the pair (i, j), i < j, in a condensed matrix of m observations.
#[inline]
fn condensed_index(m: usize, i: usize, j: usize) -> usize {
    m * i - i * (i + 1) / 2 + (j - i - 1)
}

/// Labels 0..k of the partition after the first `m - k` merges of the dendrogram.
/// Hand-written: kodama gives the merge steps but no cut; replaying them with disjoint sets is
/// the standard way to obtain flat clusters.
fn cut(merges: &[(usize, usize)], m: usize, k: usize) -> Vec<usize> {
    let k = k.clamp(1, m.max(1));
    let mut sets = DisjointSets::new(m);
    // Dendrogram label -> one observation in that cluster.
    let mut representative: Vec<usize> = (0..m).collect();
    for &(a, b) in merges.iter().take(m - k) {
        let (ra, rb) = (representative[a], representative[b]);
        sets.union(ra, rb);
        representative.push(ra);
    }
    // Number clusters by first observation, so labels are 0..k.
    let mut ids = vec![usize::MAX; m];
    let mut next = 0;
    (0..m)
        .map(|i| {
            let root = sets.find(i);
            if ids[root] == usize::MAX {
                ids[root] = next;
                next += 1;
            }
            ids[root]
        })
        .collect()
}

/// Mean silhouette of each labelling (labels 0..k[t]) over the same condensed distances.
/// Hand-written: linfa's `SilhouetteScore` recomputes every distance with an allocation per pair
/// and scores singleton clusters as 1; this reuses one matrix for the whole grid in one pass.
fn silhouettes(distances: &[f32], m: usize, labelings: &[&[usize]], ks: &[usize]) -> Vec<f64> {
    let sizes: Vec<Vec<usize>> = labelings
        .iter()
        .zip(ks)
        .map(|(labels, &k)| {
            let mut s = vec![0usize; k];
            for &l in labels.iter() {
                s[l] += 1;
            }
            s
        })
        .collect();
    let per_point: Vec<Vec<f64>> = (0..m)
        .into_par_iter()
        .map(|i| {
            let row: Vec<f32> = (0..m)
                .map(|j| match j.cmp(&i) {
                    std::cmp::Ordering::Less => distances[condensed_index(m, j, i)],
                    std::cmp::Ordering::Equal => 0.0,
                    std::cmp::Ordering::Greater => distances[condensed_index(m, i, j)],
                })
                .collect();
            labelings
                .iter()
                .zip(&sizes)
                .map(|(labels, sizes)| {
                    let mut sums = vec![0.0f64; sizes.len()];
                    for (&d, &l) in row.iter().zip(labels.iter()) {
                        sums[l] += d as f64;
                    }
                    let own = labels[i];
                    if sizes[own] <= 1 {
                        return 0.0;
                    }
                    let a = sums[own] / (sizes[own] - 1) as f64;
                    let b = sums
                        .iter()
                        .zip(sizes)
                        .enumerate()
                        .filter(|&(c, (_, &size))| c != own && size > 0)
                        .map(|(_, (&sum, &size))| sum / size as f64)
                        .fold(f64::INFINITY, f64::min);
                    let denom = a.max(b);
                    if !b.is_finite() || denom <= 0.0 {
                        0.0
                    } else {
                        (b - a) / denom
                    }
                })
                .collect()
        })
        .collect();
    (0..labelings.len())
        .map(|t| per_point.iter().map(|p| p[t]).sum::<f64>() / m.max(1) as f64)
        .collect()
}

/// Mean of each cluster's rows.
fn centroids(data: &Matrix, labels: &[usize], k: usize) -> Matrix {
    let d = data.cols();
    let mut sums = vec![0.0f64; k * d];
    let mut counts = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        counts[l] += 1;
        for (s, &v) in sums[l * d..(l + 1) * d].iter_mut().zip(data.row(i)) {
            *s += v as f64;
        }
    }
    let mut out = Matrix::zeros(k, d);
    for c in 0..k {
        let n = counts[c].max(1) as f64;
        for (o, s) in out.row_mut(c).iter_mut().zip(&sums[c * d..(c + 1) * d]) {
            *o = (*s / n) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condensed_matrix_is_the_same_on_every_path() {
        // 7 points in 19 dimensions (two 8-lane chunks and a tail), irrational-ish values so
        // that the summation order would show
        let data = Matrix::from_vec(
            7,
            19,
            (0..133).map(|i| ((i as f32) * 0.37).sin() * 3.1).collect(),
        );
        let d = condensed_distances(&data);
        assert_eq!(d.len(), 21);
        for i in 0..7 {
            let mut portable = vec![0f32; 6 - i];
            imp::distances_after(&data, i, &mut portable);
            for (j, &got) in ((i + 1)..7).zip(&portable) {
                assert_eq!(d[condensed_index(7, i, j)], got);
                let plain = crate::matrix::squared_distance(data.row(i), data.row(j)).sqrt();
                assert!(
                    (got - plain).abs() <= 1e-5 * plain.max(1.0),
                    "{got} vs {plain}"
                );
            }
        }
    }

    #[test]
    fn cut_replays_merges() {
        // Points 0,1 merge first (label 4), then 2,3 (label 5), then 4,5.
        let merges = vec![(0, 1), (2, 3), (4, 5)];
        assert_eq!(cut(&merges, 4, 4), vec![0, 1, 2, 3]);
        assert_eq!(cut(&merges, 4, 3), vec![0, 0, 1, 2]);
        assert_eq!(cut(&merges, 4, 2), vec![0, 0, 1, 1]);
        assert_eq!(cut(&merges, 4, 1), vec![0, 0, 0, 0]);
    }

    #[test]
    fn silhouette_of_two_tight_pairs_is_high() {
        let data = Matrix::from_vec(4, 1, vec![0.0, 0.1, 10.0, 10.1]);
        let d = condensed_distances(&data);
        let good = [0usize, 0, 1, 1];
        let bad = [0usize, 1, 0, 1];
        let s = silhouettes(&d, 4, &[&good, &bad], &[2, 2]);
        assert!(s[0] > 0.95, "{s:?}");
        assert!(s[1] < 0.0, "{s:?}");
    }
}
