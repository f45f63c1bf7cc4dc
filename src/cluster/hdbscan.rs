//! HDBSCAN (the `hdbscan` crate) fitted on at most `max_fit_rows` rows, and the rule that
//! assigns the remaining rows to the fitted clusters or to noise.
//!
//! # Assignment rule
//!
//! Notation: `S` is the fit sample, `m = min_samples`, `K = 2m` (the neighbour count Python
//! `hdbscan`'s `approximate_predict` uses), `d` Euclidean distance in the reduced space.
//!
//! * Core distance of a fit point `s`: the distance to its `m`-th nearest point of `S`, counting
//!   itself (the crate's own definition). Core distance of a new point `x`: the distance to its
//!   `(m-1)`-th nearest point of `S`, i.e. the core distance `x` would have if it were added to
//!   `S`.
//! * Mutual reachability, as in the fit: `mr(x, s) = max(core(x), core(s), d(x, s))`.
//! * `x` attaches to `a(x)`, the point with the smallest `mr(x, s)` among its `K` nearest points
//!   of `S` (ties: the nearer point).
//! * Scale of a cluster `C`: the largest, over fit members `i` of `C`, of the smallest
//!   `mr(i, s)` over the other members `s` of `C` among `i`'s `K` nearest fit points. It is the
//!   loosest mutual-reachability link by which a fit member holds on to the rest of its cluster.
//!   (Taken over all of `C` instead of the neighbour lists, it would be at most the longest edge
//!   of `C`'s minimum spanning tree, which is below the level at which HDBSCAN's tree split `C`
//!   off: the rule is more conservative than a refit, never looser.)
//! * `x` joins `C` when `a(x)` is a member of `C` and `mr(x, a(x)) <= scale(C)`. Otherwise (its
//!   attachment point is noise, or it attaches more loosely than any fit member of `C` does) `x`
//!   is noise.
//!
//! So new points join a cluster only as tightly as the cluster's own fit members hold together,
//! and points whose density neighbourhood is noise stay noise, as they would in a full fit.

use super::knn::{Knn, Neighbour};
use super::{sample_indices, FitOutcome};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::progress::Progress;
use hdbscan::{Hdbscan, HdbscanHyperParams};

/// Stream of the seeded RNG used for the HDBSCAN fit sample.
pub(crate) const FIT_STREAM: u64 = 2;

pub(crate) fn run(
    data: &Matrix,
    min_cluster_size: usize,
    min_samples: usize,
    max_cluster_size: Option<usize>,
    max_fit_rows: usize,
    seed: u64,
    progress: &Progress,
) -> Result<FitOutcome> {
    let n = data.rows();
    let sample = sample_indices(n, max_fit_rows.min(n), seed, FIT_STREAM);
    let sampled = sample.len() < n;
    let fit_data = if sampled {
        data.select_rows(&sample)
    } else {
        data.clone()
    };
    let m = fit_data.rows();
    // The crate indexes the `min_samples`-th neighbour, so it must not exceed the row count.
    let min_samples = min_samples.clamp(1, m);

    let spinner = progress.spinner(&format!("clustering (HDBSCAN on {m} rows)"));
    let fit_labels = fit_refined(&fit_data, min_cluster_size, min_samples, max_cluster_size)?;
    spinner.finish_and_clear();

    let mut labels = vec![None; n];
    if !sampled {
        for (label, fit) in labels.iter_mut().zip(&fit_labels) {
            *label = *fit;
        }
        return Ok(FitOutcome {
            labels,
            fit_sample_size: None,
        });
    }

    let model = Model::new(&fit_data, fit_labels, min_samples);
    let mut in_sample = vec![false; n];
    for (&i, &fit) in sample.iter().zip(&model.labels) {
        labels[i] = fit;
        in_sample[i] = true;
    }
    let rest: Vec<usize> = (0..n).filter(|&i| !in_sample[i]).collect();
    let bar = progress.bar(rest.len() as u64, "assigning");
    let assigned = model.knn.map_nearest(
        data,
        Some(&rest),
        model.k,
        |_, neighbours| model.assign(neighbours),
        &|done| bar.inc(done as u64),
    );
    bar.finish_and_clear();
    for (&i, label) in rest.iter().zip(assigned) {
        labels[i] = label;
    }
    Ok(FitOutcome {
        labels,
        fit_sample_size: Some(m),
    })
}

/// The largest selectable cluster for a fit on `fit_rows` rows: `share` of them, but never
/// below twice the minimum size; `None` when the cap would not bind.
pub(crate) fn cluster_size_cap(
    share: f64,
    fit_rows: usize,
    min_cluster_size: usize,
) -> Option<usize> {
    (share < 1.0)
        .then(|| ((share * fit_rows as f64).ceil() as usize).max(2 * min_cluster_size.max(2)))
        .filter(|&cap| cap < fit_rows)
}

/// How many times an oversized cluster may be split again.
const MAX_REFINE_DEPTH: usize = 3;

/// HDBSCAN, then each cluster larger than `max_cluster_size` is clustered again on its own rows
/// and replaced by its sub-clusters when HDBSCAN finds at least two there (their noise becomes
/// noise); otherwise it stays whole. Excess-of-mass selection alone returned two giant clusters
/// on MMLU-Pro; the crate's own `max_cluster_size` would instead turn a large cluster with no
/// sub-structure into noise. Labels are numbered in order of creation.
fn fit_refined(
    data: &Matrix,
    min_cluster_size: usize,
    min_samples: usize,
    max_cluster_size: Option<usize>,
) -> Result<Vec<Option<usize>>> {
    let mut labels = fit(data, min_cluster_size, min_samples)?;
    let Some(cap) = max_cluster_size else {
        return Ok(labels);
    };
    for _ in 0..MAX_REFINE_DEPTH {
        let num = labels.iter().flatten().max().map_or(0, |&c| c + 1);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); num];
        for (i, label) in labels.iter().enumerate() {
            if let Some(c) = label {
                members[*c].push(i);
            }
        }
        let mut next = num;
        let mut split_any = false;
        for rows in members.iter().filter(|rows| rows.len() > cap) {
            let sub = fit(&data.select_rows(rows), min_cluster_size, min_samples)?;
            let parts = sub.iter().flatten().max().map_or(0, |&c| c + 1);
            if parts < 2 {
                continue;
            }
            split_any = true;
            for (&row, part) in rows.iter().zip(&sub) {
                labels[row] = part.map(|p| next + p);
            }
            next += parts;
        }
        if !split_any {
            break;
        }
    }
    Ok(labels)
}

/// Runs the crate on all rows of `data`; `None` marks noise.
fn fit(data: &Matrix, min_cluster_size: usize, min_samples: usize) -> Result<Vec<Option<usize>>> {
    let rows: Vec<Vec<f32>> = (0..data.rows()).map(|i| data.row(i).to_vec()).collect();
    // Values below the crate's minimums would make it print a warning on stdout.
    let hyper = HdbscanHyperParams::builder()
        .min_cluster_size(min_cluster_size.max(2))
        .min_samples(min_samples.max(1).min(data.rows().max(1)))
        .build();
    // The crate has `expect`s on paths we believe unreachable for finite, non-degenerate input;
    // a panic there becomes an analysis error instead of aborting the whole run.
    let result = std::panic::catch_unwind(|| Hdbscan::new(&rows, hyper).cluster_par())
        .map_err(|_| Error::Analysis("HDBSCAN failed internally on this data".to_string()))?;
    let raw = result.map_err(|e| Error::Analysis(format!("HDBSCAN failed: {e}")))?;
    Ok(raw.into_iter().map(|l| usize::try_from(l).ok()).collect())
}

/// What the assignment rule needs from the fit.
struct Model {
    knn: Knn,
    labels: Vec<Option<usize>>,
    core: Vec<f32>,
    scale: Vec<f32>,
    min_samples: usize,
    k: usize,
}

impl Model {
    fn new(fit_data: &Matrix, labels: Vec<Option<usize>>, min_samples: usize) -> Model {
        let m = fit_data.rows();
        let knn = Knn::new(fit_data);
        let k = (2 * min_samples).min(m.saturating_sub(1)).max(1);
        // Each fit point's neighbours among the others (self is dropped from a list of k + 1).
        let others: Vec<Vec<Neighbour>> = knn.map_nearest(
            fit_data,
            None,
            k + 1,
            |i, neighbours| {
                let mut list = neighbours.to_vec();
                match list.iter().position(|&(_, j)| j as usize == i) {
                    Some(pos) => {
                        list.remove(pos);
                    }
                    None => {
                        list.pop();
                    }
                }
                list
            },
            &|_| {},
        );
        let core: Vec<f32> = others
            .iter()
            .map(|list| core_distance(list, min_samples))
            .collect();
        let clusters = labels.iter().flatten().max().map_or(0, |&c| c + 1);
        let mut scale = vec![0.0f32; clusters];
        for (i, list) in others.iter().enumerate() {
            let Some(c) = labels[i] else { continue };
            let tightest = list
                .iter()
                .filter(|&&(_, j)| labels[j as usize] == Some(c))
                .map(|&(d2, j)| core[i].max(core[j as usize]).max(d2.sqrt()))
                .min_by(f32::total_cmp);
            if let Some(t) = tightest {
                scale[c] = scale[c].max(t);
            }
        }
        Model {
            knn,
            labels,
            core,
            scale,
            min_samples,
            k,
        }
    }

    /// The assignment rule (see the module docs) for a point with these fit-sample neighbours.
    fn assign(&self, neighbours: &[Neighbour]) -> Option<usize> {
        // A new point counts itself as its first neighbour, so its core distance is the
        // (min_samples - 1)-th nearest fit point.
        let own_core = if self.min_samples <= 1 {
            0.0
        } else {
            neighbours
                .get(self.min_samples - 2)
                .or(neighbours.last())
                .map_or(0.0, |&(d2, _)| d2.sqrt())
        };
        let (mr, s) = neighbours
            .iter()
            .map(|&(d2, j)| {
                let j = j as usize;
                (own_core.max(self.core[j]).max(d2.sqrt()), j)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))?;
        let c = self.labels[s]?;
        (mr <= self.scale[c]).then_some(c)
    }
}

/// Core distance of a fit point from its neighbour list without itself: the `min_samples`-th
/// neighbour counting itself, i.e. the `(min_samples - 1)`-th other point.
fn core_distance(others: &[Neighbour], min_samples: usize) -> f32 {
    if min_samples <= 1 {
        return 0.0;
    }
    others
        .get(min_samples - 2)
        .or(others.last())
        .map_or(0.0, |&(d2, _)| d2.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cluster 0: 20 points 0.1 apart on a line; cluster 1: 20 points 1.0 apart far away; a
    /// dense run of 5 noise points 0.05 apart beyond cluster 0's end; one isolated noise point.
    fn model() -> Model {
        let mut rows: Vec<f32> = Vec::new();
        let mut labels = Vec::new();
        for i in 0..20 {
            rows.extend([i as f32 * 0.1, 0.0]);
            labels.push(Some(0));
        }
        for i in 0..20 {
            rows.extend([i as f32, 100.0]);
            labels.push(Some(1));
        }
        for i in 0..5 {
            rows.extend([3.0 + i as f32 * 0.05, 0.0]);
            labels.push(None);
        }
        rows.extend([50.0, 50.0]);
        labels.push(None);
        Model::new(&Matrix::from_vec(46, 2, rows), labels, 3)
    }

    fn assign(model: &Model, x: f32, y: f32) -> Option<usize> {
        let q = Matrix::from_vec(1, 2, vec![x, y]);
        model
            .knn
            .map_nearest(&q, None, model.k, |_, nb| model.assign(nb), &|_| {})[0]
    }

    #[test]
    fn assignment_follows_each_clusters_own_scale() {
        let model = model();
        // Core distances: the 2nd nearest other point, 0.2 apart in cluster 0, 2.0 in cluster 1.
        assert!((model.scale[0] - 0.2).abs() < 1e-4, "{:?}", model.scale);
        assert!((model.scale[1] - 2.0).abs() < 1e-4, "{:?}", model.scale);
        // Inside cluster 0, and just off its end within its scale.
        assert_eq!(assign(&model, 0.95, 0.0), Some(0));
        assert_eq!(assign(&model, 1.95, 0.0), Some(0));
        // Off cluster 0's end by more than its scale: noise, although cluster 1 would accept
        // a point that far from its own members.
        assert_eq!(assign(&model, -0.7, 0.0), None);
        assert_eq!(assign(&model, 10.5, 100.3), Some(1));
        // Attached to a noise point: noise, even where that link is tighter than cluster 0's
        // scale.
        assert_eq!(assign(&model, 3.1, 0.01), None);
        assert_eq!(assign(&model, 50.0, 50.1), None);
        // Far from everything: noise.
        assert_eq!(assign(&model, -40.0, -40.0), None);
    }
}
