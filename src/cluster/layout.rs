//! A 2-D map of the prompts that keeps neighbours together: UMAP's layout (McInnes, Healy and
//! Melville 2018) of the k-nearest-neighbour graph of a seeded sample, with every other row
//! placed among its nearest sample rows.
//!
//! Hand-written (about 200 lines) because the Rust UMAP crate (umap-rs 0.4) draws its negative
//! samples from an unseeded thread-local RNG on several threads, so its maps differ from run to
//! run, and a report must be byte-identical under `--seed`. Here the optimisation runs on one
//! thread with a seeded ChaCha stream; the neighbour searches are the exact, thread-count
//! independent blocked products of [`crate::neighbours`].
//!
//! Why not PCA-2 (the floor): on CLINC150 the share of each prompt's 10 nearest map neighbours
//! that have its intent is several times higher here (docs/report-format.md, "The map").

use super::reduce::reduce_many;
use crate::matrix::Matrix;
use crate::neighbours::{k_nearest, k_nearest_other, Queries};
use crate::progress::Progress;
use crate::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Dimensions the neighbours are found in (PCA of the embeddings, rows renormalized). With 32
/// the CLINC150 intent agreement of the map falls from 0.64 to 0.53 (MMLU-Pro categories 0.59
/// to 0.58); 64 keeps the whole map of 100k rows within about 2 s.
const LAYOUT_DIMS: usize = 64;
/// Rows laid out by the optimisation; the others are placed among them.
pub(crate) const LAYOUT_SAMPLE: usize = 5_000;
/// Neighbours per row in the graph (UMAP's default).
const NEIGHBOURS: usize = 15;
/// Sample rows each other row is placed among.
const PLACE_AMONG: usize = 5;
/// Passes of the optimisation. UMAP uses 500 below 10,000 rows; on CLINC150 the intent
/// agreement of the map is 0.633 after 100, 0.637 after 150, 0.638 after 200 and 0.637 after
/// 300 (examples/map_quality.rs), and the time grows with every pass.
const EPOCHS: usize = 200;
/// Negative samples per positive one (UMAP's default).
const NEGATIVE_RATE: usize = 5;
/// The similarity curve 1 / (1 + a d^(2b)) of the map. UMAP's defaults (min_dist 0.1) are
/// a = 1.577, b = 0.895; a = b = 1 (t-SNE's Cauchy kernel) needs no `powf` in the inner loop,
/// which makes the optimisation a quarter faster, and the map is as good (CLINC150 intent
/// agreement 0.639 against 0.638).
const A: f32 = 1.0;
const B: f32 = 1.0;
/// Stream of the layout's sample and of its optimisation (other samples use other streams).
const SAMPLE_STREAM: u64 = 23;
const OPTIMISE_STREAM: u64 = 24;

/// Every row's place on the map; `None` when there are too few rows for a graph (the caller
/// falls back to PCA).
pub(crate) fn umap_2d(
    embeddings: &Matrix,
    seed: u64,
    progress: &Progress,
) -> Result<Option<Vec<[f32; 2]>>> {
    let n = embeddings.rows();
    if n <= NEIGHBOURS + 1 {
        return Ok(None);
    }
    let reduced = reduce_many(embeddings, LAYOUT_DIMS, seed, progress)?;
    let space = reduced.data.as_ref();
    let sample = super::sample_indices(n, LAYOUT_SAMPLE, seed, SAMPLE_STREAM);
    let points = space.select_rows(&sample);
    let graph = k_nearest_other(&points, NEIGHBOURS, progress);
    let edges = fuzzy_edges(&graph);
    let spinner = progress.spinner("laying out the map");
    let mut at = initial(&points);
    optimise(&mut at, &edges, EPOCHS, seed);
    spinner.finish_and_clear();

    let mut out = vec![[0.0f32; 2]; n];
    let mut in_sample = vec![false; n];
    for (&row, &p) in sample.iter().zip(&at) {
        out[row] = p;
        in_sample[row] = true;
    }
    let others: Vec<usize> = (0..n).filter(|&i| !in_sample[i]).collect();
    if !others.is_empty() {
        let near = k_nearest(
            Queries::rows(space, &others),
            &points,
            PLACE_AMONG,
            progress,
        );
        for (&row, list) in others.iter().zip(&near) {
            out[row] = place(list, &at);
        }
    }
    Ok(Some(out))
}

/// A weighted, directed edge of the symmetric fuzzy graph.
struct Edge {
    i: u32,
    j: u32,
    weight: f32,
}

/// UMAP's fuzzy simplicial set: each row's membership strengths `exp(-(d - rho) / sigma)`,
/// with `rho` its nearest distance and `sigma` set so that the strengths sum to log2(k),
/// symmetrized by the fuzzy union `a + b - ab`. Distances are Euclidean between unit vectors.
fn fuzzy_edges(graph: &[Vec<(usize, f32)>]) -> Vec<Edge> {
    use std::collections::BTreeMap;
    let mut strength: BTreeMap<(u32, u32), (f32, f32)> = BTreeMap::new();
    for (i, list) in graph.iter().enumerate() {
        let d: Vec<f32> = list
            .iter()
            .map(|&(_, s)| (2.0 - 2.0 * s).max(0.0).sqrt())
            .collect();
        let rho = d.iter().copied().find(|&x| x > 0.0).unwrap_or(0.0);
        let sigma = smooth_sigma(&d, rho);
        for (&(j, _), &dist) in list.iter().zip(&d) {
            let w = (-((dist - rho).max(0.0)) / sigma).exp();
            let (a, b) = (i.min(j) as u32, i.max(j) as u32);
            let entry = strength.entry((a, b)).or_insert((0.0, 0.0));
            // Which direction this strength is (from the lower or the higher index).
            if i < j {
                entry.0 = w;
            } else {
                entry.1 = w;
            }
        }
    }
    // Both directions, as UMAP's symmetric matrix has them: each end gets its own negative
    // samples.
    strength
        .into_iter()
        .map(|((i, j), (a, b))| (i, j, a + b - a * b))
        .filter(|&(_, _, weight)| weight > 0.0)
        .flat_map(|(i, j, weight)| [Edge { i, j, weight }, Edge { i: j, j: i, weight }])
        .collect()
}

/// The `sigma` at which `sum exp(-(d - rho) / sigma)` is log2(k), by bisection (UMAP's
/// smooth_knn_dist, 64 steps).
fn smooth_sigma(d: &[f32], rho: f32) -> f32 {
    let target = (d.len() as f32).log2();
    let (mut lo, mut hi, mut mid) = (0.0f32, f32::INFINITY, 1.0f32);
    for _ in 0..64 {
        let sum: f32 = d.iter().map(|&x| (-((x - rho).max(0.0)) / mid).exp()).sum();
        if (sum - target).abs() < 1e-5 {
            break;
        }
        if sum > target {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = if hi.is_finite() {
                (lo + hi) / 2.0
            } else {
                mid * 2.0
            };
        }
    }
    // UMAP's floor: a tenth of a thousandth of the mean distance.
    let mean = d.iter().sum::<f32>() / d.len().max(1) as f32;
    mid.max(1e-3 * mean).max(1e-6)
}

/// The start: the sample's first two reduced coordinates (its principal directions), scaled
/// to a span of 20 as UMAP's initialisations are. Deterministic, and it keeps the global
/// arrangement PCA finds.
fn initial(points: &Matrix) -> Vec<[f32; 2]> {
    let mut at: Vec<[f32; 2]> = (0..points.rows())
        .map(|i| {
            let r = points.row(i);
            [
                r.first().copied().unwrap_or(0.0),
                r.get(1).copied().unwrap_or(0.0),
            ]
        })
        .collect();
    for d in 0..2 {
        let (lo, hi) = at
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), p| (l.min(p[d]), h.max(p[d])));
        let span = (hi - lo).max(1e-6);
        for p in &mut at {
            p[d] = 20.0 * (p[d] - lo) / span - 10.0;
        }
    }
    at
}

/// UMAP's stochastic gradient descent: each edge pulls its ends together as often as its
/// weight allows, and each pull comes with [`NEGATIVE_RATE`] pushes away from random rows.
fn optimise(at: &mut [[f32; 2]], edges: &[Edge], epochs: usize, seed: u64) {
    let n = at.len();
    let Some(max_w) = edges.iter().map(|e| e.weight).reduce(f32::max) else {
        return;
    };
    let every: Vec<f32> = edges.iter().map(|e| max_w / e.weight).collect();
    let mut next = every.clone();
    let mut next_negative: Vec<f32> = every.iter().map(|&e| e / NEGATIVE_RATE as f32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(OPTIMISE_STREAM);
    let clip = |g: f32| g.clamp(-4.0, 4.0);
    for epoch in 1..=epochs {
        let rate = 1.0 - (epoch - 1) as f32 / epochs as f32;
        let now = epoch as f32;
        for (e, edge) in edges.iter().enumerate() {
            if next[e] > now {
                continue;
            }
            let (i, j) = (edge.i as usize, edge.j as usize);
            let (dx, dy) = (at[i][0] - at[j][0], at[i][1] - at[j][1]);
            let d2 = dx * dx + dy * dy;
            if d2 > 0.0 {
                // With b = 1, d^(2(b-1)) is 1.
                let coeff = -2.0 * A * B / (1.0 + A * d2);
                let (gx, gy) = (clip(coeff * dx) * rate, clip(coeff * dy) * rate);
                at[i][0] += gx;
                at[i][1] += gy;
                at[j][0] -= gx;
                at[j][1] -= gy;
            }
            next[e] += every[e];
            let negatives = ((now - next_negative[e]) * NEGATIVE_RATE as f32 / every[e]) as usize;
            for _ in 0..negatives {
                let k = rng.gen_range(0..n);
                if k == i {
                    continue;
                }
                let (dx, dy) = (at[i][0] - at[k][0], at[i][1] - at[k][1]);
                let d2 = dx * dx + dy * dy;
                let coeff = if d2 > 0.0 {
                    2.0 * B / ((0.001 + d2) * (1.0 + A * d2))
                } else {
                    0.0
                };
                let (gx, gy) = if coeff > 0.0 {
                    (clip(coeff * dx), clip(coeff * dy))
                } else {
                    (4.0, 4.0)
                };
                at[i][0] += gx * rate;
                at[i][1] += gy * rate;
            }
            next_negative[e] += negatives as f32 * every[e] / NEGATIVE_RATE as f32;
        }
    }
}

/// A row outside the sample goes to the weighted mean of its nearest sample rows, the nearest
/// weighing most (UMAP's transform does the same with its membership strengths).
fn place(near: &[(usize, f32)], at: &[[f32; 2]]) -> [f32; 2] {
    let d: Vec<f32> = near
        .iter()
        .map(|&(_, s)| (2.0 - 2.0 * s).max(0.0).sqrt())
        .collect();
    let rho = d.first().copied().unwrap_or(0.0);
    let sigma = smooth_sigma(&d, rho);
    let (mut x, mut y, mut total) = (0.0f32, 0.0f32, 0.0f32);
    for (&(j, _), &dist) in near.iter().zip(&d) {
        let w = (-((dist - rho).max(0.0)) / sigma).exp();
        x += w * at[j][0];
        y += w * at[j][1];
        total += w;
    }
    if total > 0.0 {
        [x / total, y / total]
    } else {
        [0.0, 0.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_makes_the_strengths_sum_to_log2_k() {
        let d = [0.3f32, 0.35, 0.4, 0.5, 0.55, 0.6, 0.8, 0.9];
        let sigma = smooth_sigma(&d, d[0]);
        let sum: f32 = d.iter().map(|&x| (-(x - d[0]) / sigma).exp()).sum();
        assert!((sum - 3.0).abs() < 1e-3, "{sum}");
        // Every neighbour at the nearest distance: every strength is 1, whatever sigma.
        assert!(smooth_sigma(&[0.2; 4], 0.2) > 0.0);
    }

    #[test]
    fn the_graph_is_symmetric_with_fuzzy_union_weights() {
        // 0 and 1 are each other's nearest; 2 lists 0, but 0 does not list 2.
        let graph = vec![
            vec![(1, 0.9), (3, 0.5)],
            vec![(0, 0.9), (2, 0.5)],
            vec![(0, 0.8), (1, 0.7)],
            vec![(0, 0.5), (2, 0.4)],
        ];
        let edges = fuzzy_edges(&graph);
        let w = |i: u32, j: u32| {
            edges
                .iter()
                .find(|e| e.i == i && e.j == j)
                .map(|e| e.weight)
        };
        for e in &edges {
            assert_eq!(w(e.j, e.i), Some(e.weight), "both directions");
        }
        // A row's nearest neighbour gets strength 1, and the union keeps it.
        assert_eq!(w(0, 1), Some(1.0));
        assert_eq!(w(0, 2), Some(1.0));
        // Second neighbours of each other: less than 1 from each side, and their union.
        let second = w(1, 2).unwrap();
        assert!(second > 0.0 && second < 1.0, "{second}");
    }
}
