//! K-means (linfa-clustering) with a fixed k, fitted on at most `max_fit_rows` sampled rows;
//! every row is then given its nearest centroid by the fitted model.

use super::{sample_indices, FitOutcome};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::progress::Progress;
use linfa::traits::{Fit, Predict};
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use ndarray::{Array1, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Restarts from different k-means++ seeds; the run with the lowest inertia wins.
const N_RUNS: usize = 10;
/// Rows predicted per call, so a progress bar can move.
const PREDICT_CHUNK: usize = 65_536;
/// Streams of the seeded RNGs used for the fit sample and for k-means itself.
const FIT_STREAM: u64 = 4;
const KMEANS_STREAM: u64 = 5;

pub(crate) fn run(
    data: &Matrix,
    k: usize,
    max_fit_rows: usize,
    seed: u64,
    progress: &Progress,
) -> Result<FitOutcome> {
    let n = data.rows();
    if k > n {
        return Err(Error::Usage(format!(
            "--k {k} is more than the {n} rows to cluster"
        )));
    }
    let sample = sample_indices(n, n.min(max_fit_rows), seed, FIT_STREAM);
    if k > sample.len() {
        return Err(Error::Usage(format!(
            "--k {k} is more than the {} rows k-means is fitted on",
            sample.len()
        )));
    }
    let sampled = sample.len() < n;
    let fit_data = if sampled {
        std::borrow::Cow::Owned(data.select_rows(&sample))
    } else {
        std::borrow::Cow::Borrowed(data)
    };
    let view = ArrayView2::from_shape((fit_data.rows(), fit_data.cols()), fit_data.as_slice())
        .map_err(|e| Error::Analysis(format!("k-means input: {e}")))?;

    let spinner = progress.spinner(&format!("clustering (k-means, k = {k})"));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(KMEANS_STREAM);
    let model = KMeans::params_with_rng(k, rng)
        .n_runs(N_RUNS)
        .fit(&DatasetBase::from(view))
        .map_err(|e| Error::Analysis(format!("k-means failed: {e}")))?;
    spinner.finish_and_clear();

    let bar = progress.bar(n as u64, "assigning");
    let mut labels = Vec::with_capacity(n);
    for chunk in data.as_slice().chunks(PREDICT_CHUNK * data.cols().max(1)) {
        let rows = chunk.len() / data.cols().max(1);
        let view = ArrayView2::from_shape((rows, data.cols()), chunk)
            .map_err(|e| Error::Analysis(format!("k-means input: {e}")))?;
        let predicted: Array1<usize> = model.predict(&view);
        labels.extend(predicted.iter().map(|&c| Some(c)));
        bar.inc(rows as u64);
    }
    bar.finish_and_clear();
    Ok(FitOutcome {
        labels,
        fit_sample_size: sampled.then_some(sample.len()),
    })
}
