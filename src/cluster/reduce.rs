//! PCA reduction (linfa-reduction) of the normalized embeddings to a few dimensions.
//!
//! The PCA is fitted on a seeded sample of at most [`PCA_FIT_ROWS`] rows and applied to all rows
//! in parallel chunks, and the projected rows are renormalized to unit length (so clustering
//! works on directions, as cosine similarity does on the embeddings), not whitened.
//!
//! Measured on synthetic data (25 blobs of 40-800 rows with spreads 0.02-0.07 in 256 dims, plus
//! 10% random directions; `cargo test --release --lib cluster::tests::quality -- --ignored`):
//! without renormalizing, the random rows project near the centre of the 16-d space, bridge
//! blobs together and are absorbed into clusters (HDBSCAN: ARI on blob rows 0.78-1.00, 0-41% of
//! the random rows left as noise); renormalized they scatter (ARI 0.99-1.00, 95-98% left as
//! noise), and k-means on the renormalized projection scored ARI 0.99-1.00 against 0.96-1.00 on
//! the full embeddings, 5-10x faster. Whitening was no better than the plain projection
//! (it scales low-variance noise directions up to the size of those that separate clusters).

use super::sample_indices;
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::progress::Progress;
use linfa::traits::{Fit, Predict};
use linfa::DatasetBase;
use linfa_reduction::Pca;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::borrow::Cow;

/// Rows the PCA is fitted on: plenty to estimate 16 directions of a few hundred dimensions.
pub(crate) const PCA_FIT_ROWS: usize = 20_000;
/// Rows projected per parallel task.
const PROJECT_CHUNK: usize = 4096;
/// Stream of the seeded RNG used for the PCA sample (other samples use other streams).
const PCA_STREAM: u64 = 1;

/// Rows in the space a clustering method runs in.
pub(crate) struct Reduced<'a> {
    pub data: Cow<'a, Matrix>,
    /// Fraction of the (sampled) variance the projection keeps; `None` when PCA did not run.
    pub explained_variance: Option<f64>,
}

/// Projects `embeddings` onto their first `target_dims` principal components.
///
/// PCA is skipped (rows are used as they are) when the embeddings have no more than
/// `target_dims` columns, when there are too few rows to estimate that many components, or when
/// all sampled rows are identical (there is no direction of variance to find).
pub(crate) fn reduce<'a>(
    embeddings: &'a Matrix,
    target_dims: usize,
    seed: u64,
    progress: &Progress,
) -> Result<Reduced<'a>> {
    let (n, d) = (embeddings.rows(), embeddings.cols());
    let Some(x) = fit_sample(embeddings, target_dims, PCA_FIT_ROWS, seed) else {
        return Ok(unreduced(embeddings));
    };
    let spinner = progress.spinner("reducing (PCA)");
    let total_variance = total_squared_deviation(&x);
    if total_variance <= f64::EPSILON * x.nrows() as f64 {
        spinner.finish_and_clear();
        return Ok(unreduced(embeddings));
    }
    let pca = Pca::params(target_dims)
        .fit(&DatasetBase::from(x))
        .map_err(|e| Error::Analysis(format!("PCA before clustering failed: {e}")))?;
    let kept: f64 = pca.singular_values().iter().map(|s| s * s).sum();
    let explained_variance = (kept / total_variance).clamp(0.0, 1.0);
    let mut out = Matrix::zeros(n, target_dims);
    out.as_mut_slice()
        .par_chunks_mut(PROJECT_CHUNK * target_dims)
        .enumerate()
        .for_each(|(c, dst)| {
            let start = c * PROJECT_CHUNK;
            let rows = dst.len() / target_dims;
            let src = &embeddings.as_slice()[start * d..(start + rows) * d];
            let chunk = ArrayView2::from_shape((rows, d), src)
                .expect("chunk shape")
                .mapv(f64::from);
            let projected: Array2<f64> = pca.predict(&chunk);
            // The PCA returns fewer components than asked when the rows span fewer directions
            // (few distinct prompts): row by row, the missing coordinates stay 0.
            for (dst_row, row) in dst
                .chunks_mut(target_dims)
                .zip(projected.axis_iter(Axis(0)))
            {
                for (o, v) in dst_row.iter_mut().zip(row) {
                    *o = *v as f32;
                }
            }
        });
    out.normalize_rows();
    spinner.finish_and_clear();
    Ok(Reduced {
        data: Cow::Owned(out),
        explained_variance: Some(explained_variance),
    })
}

/// The rows as they are: no PCA.
fn unreduced(embeddings: &Matrix) -> Reduced<'_> {
    Reduced {
        data: Cow::Borrowed(embeddings),
        explained_variance: None,
    }
}

/// A seeded sample of at most `max_rows` rows to fit a PCA of `target_dims` components on, as
/// `f64`; `None` when no PCA applies (no more columns than `target_dims`, or too few rows).
fn fit_sample(
    embeddings: &Matrix,
    target_dims: usize,
    max_rows: usize,
    seed: u64,
) -> Option<Array2<f64>> {
    let (n, d) = (embeddings.rows(), embeddings.cols());
    let fit_rows = n.min(max_rows);
    if target_dims >= d || fit_rows <= target_dims {
        return None;
    }
    let sample = sample_indices(n, fit_rows, seed, PCA_STREAM);
    let mut x = Array2::<f64>::zeros((sample.len(), d));
    for (mut row, &i) in x.axis_iter_mut(Axis(0)).zip(&sample) {
        for (dst, &v) in row.iter_mut().zip(embeddings.row(i)) {
            *dst = v as f64;
        }
    }
    Some(x)
}

/// Sum of squared deviations from the column means (the trace of the scatter matrix).
fn total_squared_deviation(x: &Array2<f64>) -> f64 {
    let Some(mean) = x.mean_axis(Axis(0)) else {
        return 0.0;
    };
    x.axis_iter(Axis(0))
        .map(|row| {
            row.iter()
                .zip(mean.iter())
                .map(|(a, m)| (a - m) * (a - m))
                .sum::<f64>()
        })
        .sum()
}

/// Rows the candidate tree's PCA is estimated from: 128 directions of a few hundred dimensions
/// need a few thousand rows, and the covariance costs rows × dims².
const EIGEN_FIT_ROWS: usize = 5_000;

/// [`reduce`] for many components: the covariance of a seeded sample and its symmetric eigen
/// decomposition (nalgebra), then a blocked projection. linfa's PCA runs LOBPCG, which took
/// 8 of 10 seconds for 128 components of 22,500 × 512 embeddings; this takes a fraction of one.
/// Hand-written because linfa-reduction offers no covariance-eigen solver.
pub(crate) fn reduce_many<'a>(
    embeddings: &'a Matrix,
    target_dims: usize,
    seed: u64,
    progress: &Progress,
) -> Result<Reduced<'a>> {
    let mut reduced = pca_project(embeddings, target_dims, seed, progress)?;
    if let Cow::Owned(out) = &mut reduced.data {
        out.normalize_rows();
    }
    Ok(reduced)
}

/// The first two principal components of every row, not renormalized (on a 2-D map,
/// renormalizing would put every prompt on the unit circle): the HTML report's map. Rows whose
/// embeddings have no variance (or at most two columns) keep their first two coordinates.
pub(crate) fn map_2d(embeddings: &Matrix, seed: u64, progress: &Progress) -> Result<Vec<[f32; 2]>> {
    let reduced = pca_project(embeddings, 2, seed, progress)?;
    let m = &reduced.data;
    Ok((0..m.rows())
        .map(|i| {
            let row = m.row(i);
            [
                row.first().copied().unwrap_or(0.0),
                row.get(1).copied().unwrap_or(0.0),
            ]
        })
        .collect())
}

/// [`reduce_many`]'s projection before the rows are renormalized.
fn pca_project<'a>(
    embeddings: &'a Matrix,
    target_dims: usize,
    seed: u64,
    progress: &Progress,
) -> Result<Reduced<'a>> {
    use ndarray::linalg::general_mat_mul;
    let (n, d) = (embeddings.rows(), embeddings.cols());
    let Some(mut x) = fit_sample(embeddings, target_dims, EIGEN_FIT_ROWS, seed) else {
        return Ok(unreduced(embeddings));
    };
    let spinner = progress.spinner("reducing (PCA)");
    let mean = x
        .mean_axis(Axis(0))
        .unwrap_or_else(|| ndarray::Array1::zeros(d));
    x -= &mean;
    let mut cov = Array2::<f64>::zeros((d, d));
    general_mat_mul(1.0, &x.t(), &x, 0.0, &mut cov);
    let total: f64 = (0..d).map(|i| cov[[i, i]]).sum();
    if total <= f64::EPSILON * x.nrows() as f64 {
        spinner.finish_and_clear();
        return Ok(unreduced(embeddings));
    }
    let eig = nalgebra::SymmetricEigen::new(nalgebra::DMatrix::from_fn(d, d, |i, j| cov[[i, j]]));
    // Largest eigenvalues first; ties by index so the order is fixed.
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| {
        eig.eigenvalues[b]
            .total_cmp(&eig.eigenvalues[a])
            .then(a.cmp(&b))
    });
    let kept: f64 = order[..target_dims]
        .iter()
        .map(|&c| eig.eigenvalues[c].max(0.0))
        .sum();
    // Components as a d × k matrix of f32, each with its largest coordinate positive (the sign
    // of an eigenvector is arbitrary; fixing it keeps projections reproducible).
    let mut w = Array2::<f32>::zeros((d, target_dims));
    for (k, &c) in order[..target_dims].iter().enumerate() {
        let v = eig.eigenvectors.column(c);
        let pivot = (0..d).fold(
            0,
            |best, i| if v[i].abs() > v[best].abs() { i } else { best },
        );
        let sign = if v[pivot] < 0.0 { -1.0 } else { 1.0 };
        for i in 0..d {
            w[[i, k]] = (sign * v[i]) as f32;
        }
    }
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let mut out = Matrix::zeros(n, target_dims);
    out.as_mut_slice()
        .par_chunks_mut(PROJECT_CHUNK * target_dims)
        .enumerate()
        .for_each(|(c, dst)| {
            let start = c * PROJECT_CHUNK;
            let rows = dst.len() / target_dims;
            let mut chunk = Array2::<f32>::zeros((rows, d));
            for (r, mut row) in chunk.axis_iter_mut(Axis(0)).enumerate() {
                for ((o, &v), &m) in row.iter_mut().zip(embeddings.row(start + r)).zip(&mean32) {
                    *o = v - m;
                }
            }
            let mut projected =
                ndarray::ArrayViewMut2::from_shape((rows, target_dims), dst).expect("chunk shape");
            general_mat_mul(1.0, &chunk, &w, 0.0, &mut projected);
        });
    spinner.finish_and_clear();
    Ok(Reduced {
        data: Cow::Owned(out),
        explained_variance: Some((kept / total).clamp(0.0, 1.0)),
    })
}
