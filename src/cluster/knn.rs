//! Exact k-nearest-neighbour search of many query rows against a fixed reference set of at
//! most a few tens of thousands of low-dimensional points (the HDBSCAN fit sample).
//!
//! Hand-written, because it measured fastest here: for 15k reference points in 16 dimensions
//! and k = 20, linfa-nn's `KdTree`/`BallTree` and the `kdtree` crate took 3-20x longer per
//! query than a plain vectorized scan, and `kiddo` 5 about 10x longer (16 dimensions are too
//! many for a k-d tree's per-node pruning). This index is a one-level "ball list":
//!
//! * the reference points are ordered by recursive median splits (k-d order) into leaves of 32,
//!   each with a bounding ball (centroid, radius), and stored in blocks of 8 lanes (structure of
//!   arrays) so the distance loop vectorizes; it is compiled with AVX2+FMA when the CPU has them;
//! * a query first scans the leaf with the nearest centroid, then every other leaf whose lower
//!   bound `max(0, |q - c| - r)` does not exceed its current k-th distance, so clustered data
//!   skips most leaves and uniform data degrades to a plain scan.
//!
//! Squared distances are computed as `|q|² + |s|² - 2 q·s` (one fused multiply-add per
//! coordinate); the distances of the k chosen are then recomputed exactly.

use crate::matrix::{squared_distance, Matrix};
use rayon::prelude::*;

/// Lanes per block of reference points: one 256-bit vector of f32.
const LANES: usize = 8;
/// Blocks per leaf, so four independent accumulator chains hide FMA latency.
const GROUP: usize = 4;
/// Reference points per leaf.
const LEAF: usize = LANES * GROUP;
/// Query rows per rayon task.
const QUERY_BLOCK: usize = 64;
/// Slack on the pruning test, relative to the squared norms involved, so float rounding in a
/// bound or a distance never drops a neighbour.
const PRUNE_SLACK: f32 = 1e-5;

/// One neighbour: squared Euclidean distance and index into the reference set.
pub(crate) type Neighbour = (f32, u32);

/// The reference set, in leaf order and laid out for the scan.
pub(crate) struct Knn {
    /// The reference points in their original order (for exact distances).
    points: Matrix,
    /// `dims` rounded up to 8, 16, 32 or 64 (zero padding changes no distance), or `dims`
    /// itself above 64.
    width: usize,
    /// Original index of the point at each storage position (`u32::MAX` for padding).
    order: Vec<u32>,
    /// Leaves of `GROUP` blocks; a block is `width` rows of `LANES` coordinates.
    soa: Vec<[f32; LANES]>,
    /// Squared norm of every stored point, one entry per block.
    norms: Vec<[f32; LANES]>,
    /// Leaf centroids, laid out like the points (padded to whole groups).
    center_soa: Vec<[f32; LANES]>,
    /// Squared norm of every centroid, one entry per block.
    center_norms: Vec<[f32; LANES]>,
    /// Largest distance from a leaf's centroid to one of its points (-inf for padding, so its
    /// bound is infinite).
    radii: Vec<f32>,
    /// Largest squared norm of a reference point.
    max_norm: f32,
}

impl Knn {
    pub(crate) fn new(points: &Matrix) -> Knn {
        let (len, dims) = (points.rows(), points.cols());
        let width = padded_width(dims);
        let mut ids: Vec<u32> = (0..len as u32).collect();
        kd_order(points, &mut ids);
        let leaves = len.div_ceil(LEAF);
        let mut order = vec![u32::MAX; leaves * LEAF];
        order[..len].copy_from_slice(&ids);
        let mut centers = Matrix::zeros(leaves, dims);
        let padded_leaves = leaves.div_ceil(LEAF) * LEAF;
        let mut radii = vec![f32::NEG_INFINITY; padded_leaves];
        for (leaf, members) in ids.chunks(LEAF).enumerate() {
            let center = centers.row_mut(leaf);
            for &id in members {
                for (c, &v) in center.iter_mut().zip(points.row(id as usize)) {
                    *c += v;
                }
            }
            for c in center.iter_mut() {
                *c /= members.len() as f32;
            }
            let center = centers.row(leaf);
            radii[leaf] = members
                .iter()
                .map(|&id| squared_distance(center, points.row(id as usize)).sqrt())
                .fold(0.0f32, f32::max);
        }
        let (center_soa, center_norms) =
            blocks(&centers, &(0..leaves as u32).collect::<Vec<_>>(), width);
        let (soa, norms) = blocks(points, &ids, width);
        let max_norm = norms.iter().flatten().copied().fold(0.0f32, f32::max);
        Knn {
            points: points.clone(),
            width,
            order,
            soa,
            norms,
            center_soa,
            center_norms,
            radii,
            max_norm,
        }
    }

    /// For every row of `queries` (selected by `rows`, or all rows when `None`), finds its `k`
    /// nearest reference points, sorted by (squared distance, index), and maps them with `f`.
    /// Each query is searched on its own in a fixed order, so results do not depend on
    /// threading. `on_block` is called with the number of rows finished, for progress bars.
    pub(crate) fn map_nearest<R, F>(
        &self,
        queries: &Matrix,
        rows: Option<&[usize]>,
        k: usize,
        f: F,
        on_block: &(dyn Fn(usize) + Sync),
    ) -> Vec<R>
    where
        R: Send,
        F: Fn(usize, &[Neighbour]) -> R + Sync,
    {
        let dims = self.points.cols();
        assert_eq!(queries.cols(), dims, "query dimension mismatch");
        let k = k.min(self.points.rows());
        let all: Vec<usize>;
        let rows = match rows {
            Some(rows) => rows,
            None => {
                all = (0..queries.rows()).collect();
                &all
            }
        };
        if k == 0 {
            return rows.iter().map(|&r| f(r, &[])).collect();
        }
        rows.par_chunks(QUERY_BLOCK)
            .flat_map_iter(|block| {
                let mut padded = vec![0.0f32; self.width];
                let mut bounds: Vec<f32> = Vec::with_capacity(self.radii.len());
                let out: Vec<R> = block
                    .iter()
                    .map(|&r| {
                        let q = queries.row(r);
                        padded[..dims].copy_from_slice(q);
                        let top = self.search(&padded, k, &mut bounds);
                        let mut exact: Vec<Neighbour> = top
                            .finish()
                            .into_iter()
                            .map(|(_, pos)| {
                                let id = self.order[pos as usize];
                                (squared_distance(q, self.points.row(id as usize)), id)
                            })
                            .collect();
                        exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                        f(r, &exact)
                    })
                    .collect();
                on_block(block.len());
                out.into_iter()
            })
            .collect()
    }

    /// Search of one query over the leaves: the leaf with the nearest centroid first, then the
    /// others in storage order, skipping those whose bound exceeds the current k-th distance.
    /// Entries of the result are storage positions.
    fn search(&self, padded: &[f32], k: usize, bounds: &mut Vec<f32>) -> Top {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { self.search_avx2(padded, k, bounds) };
            }
        }
        self.search_width::<false>(padded, k, bounds)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn search_avx2(&self, padded: &[f32], k: usize, bounds: &mut Vec<f32>) -> Top {
        self.search_width::<true>(padded, k, bounds)
    }

    #[inline(always)]
    fn search_width<const FMA: bool>(&self, q: &[f32], k: usize, bounds: &mut Vec<f32>) -> Top {
        match self.width {
            8 => self.search_in::<8, FMA>(q, k, bounds),
            16 => self.search_in::<16, FMA>(q, k, bounds),
            32 => self.search_in::<32, FMA>(q, k, bounds),
            64 => self.search_in::<64, FMA>(q, k, bounds),
            _ => self.search_in::<0, FMA>(q, k, bounds),
        }
    }

    /// `D` is the padded width, or 0 for a run-time width above 64.
    #[inline(always)]
    fn search_in<const D: usize, const FMA: bool>(
        &self,
        q: &[f32],
        k: usize,
        bounds: &mut Vec<f32>,
    ) -> Top {
        let d = if D == 0 { self.width } else { D };
        let q_norm: f32 = q.iter().map(|v| v * v).sum();
        // Squared lower bounds max(0, |q - c| - r)² of every leaf; the search starts in the
        // leaf with the nearest centroid, which gives a tight k-th distance early.
        bounds.clear();
        let mut first = (f32::INFINITY, 0usize);
        let center_groups = self.center_soa.chunks_exact(GROUP * d);
        let norm_groups = self.center_norms.chunks_exact(GROUP);
        let radius_groups = self.radii.chunks_exact(LEAF);
        for ((group, norms), radii) in center_groups.zip(norm_groups).zip(radius_groups) {
            let dist = squared(&dot_group::<D, FMA>(group, q), norms, q_norm);
            for (&d2, &r) in dist.iter().flatten().zip(radii) {
                if d2 < first.0 && r >= 0.0 {
                    first = (d2, bounds.len());
                }
                let gap = (d2.max(0.0).sqrt() - r).max(0.0);
                bounds.push(gap * gap);
            }
        }
        let first = first.1;
        let leaves = self.norms.len() / GROUP;
        let mut top = Top::new(k, PRUNE_SLACK * (q_norm + self.max_norm));
        for leaf in std::iter::once(first).chain((0..leaves).filter(|&l| l != first)) {
            if bounds[leaf] > top.worst + top.slack {
                continue;
            }
            let data = &self.soa[leaf * GROUP * d..(leaf + 1) * GROUP * d];
            let norms = &self.norms[leaf * GROUP..(leaf + 1) * GROUP];
            let dist = squared(&dot_group::<D, FMA>(data, q), norms, q_norm);
            top.offer_leaf(&dist, leaf * LEAF, &self.order);
        }
        top
    }
}

/// Dot products of `q` with the `GROUP * LANES` points of a leaf stored as `GROUP` blocks of
/// `d` rows of `LANES` coordinates. `D` is the width, or 0 to take it from `q`.
#[inline(always)]
fn dot_group<const D: usize, const FMA: bool>(
    data: &[[f32; LANES]],
    q: &[f32],
) -> [[f32; LANES]; GROUP] {
    let d = if D == 0 { q.len() } else { D };
    let data = &data[..GROUP * d];
    let q = &q[..d];
    let mut acc = [[0.0f32; LANES]; GROUP];
    for j in 0..d {
        let qj = q[j];
        for b in 0..GROUP {
            let x = &data[b * d + j];
            for l in 0..LANES {
                acc[b][l] = if FMA {
                    x[l].mul_add(qj, acc[b][l])
                } else {
                    acc[b][l] + x[l] * qj
                };
            }
        }
    }
    acc
}

/// Lays out `rows` of `m` (in that order) as blocks of `LANES` points, `width` rows each,
/// padded with zeros to whole leaves; also returns each point's squared norm by block.
fn blocks(m: &Matrix, rows: &[u32], width: usize) -> (Vec<[f32; LANES]>, Vec<[f32; LANES]>) {
    let n_blocks = rows.len().div_ceil(LEAF) * GROUP;
    let mut soa = vec![[0.0f32; LANES]; n_blocks * width];
    let mut norms = vec![[0.0f32; LANES]; n_blocks];
    for (pos, &id) in rows.iter().enumerate() {
        let (block, lane) = (pos / LANES, pos % LANES);
        let row = m.row(id as usize);
        for (j, &v) in row.iter().enumerate() {
            soa[block * width + j][lane] = v;
        }
        norms[block][lane] = row.iter().map(|v| v * v).sum();
    }
    (soa, norms)
}

/// Squared distances `|q|² + |s|² - 2 q·s` of a leaf's points from their dot products.
#[inline(always)]
fn squared(
    dots: &[[f32; LANES]; GROUP],
    norms: &[[f32; LANES]],
    q_norm: f32,
) -> [[f32; LANES]; GROUP] {
    let mut out = [[0.0f32; LANES]; GROUP];
    for ((o, d), n) in out.iter_mut().zip(dots).zip(norms) {
        for l in 0..LANES {
            o[l] = q_norm + n[l] - 2.0 * d[l];
        }
    }
    out
}

/// Orders `ids` so that every run of `LEAF` consecutive ids is a compact leaf: recursive median
/// splits along the coordinate of widest spread, with split points on leaf boundaries.
fn kd_order(points: &Matrix, ids: &mut [u32]) {
    if ids.len() <= LEAF {
        return;
    }
    let dims = points.cols();
    let mut widest = (0usize, -1.0f32);
    for j in 0..dims {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &id in ids.iter() {
            let v = points.row(id as usize)[j];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi - lo > widest.1 {
            widest = (j, hi - lo);
        }
    }
    let j = widest.0;
    let mid = ids.len().div_ceil(LEAF) / 2 * LEAF;
    ids.select_nth_unstable_by(mid, |&a, &b| {
        let (x, y) = (points.row(a as usize)[j], points.row(b as usize)[j]);
        x.total_cmp(&y).then(a.cmp(&b))
    });
    let (left, right) = ids.split_at_mut(mid);
    kd_order(points, left);
    kd_order(points, right);
}

fn padded_width(dims: usize) -> usize {
    match dims {
        0..=8 => 8,
        9..=16 => 16,
        17..=32 => 32,
        33..=64 => 64,
        _ => dims,
    }
}

/// Candidates for the k best neighbours: an unsorted buffer of up to `4k` entries below a
/// threshold, cut back to the k best whenever it fills, which is cheaper than keeping a sorted
/// list.
struct Top {
    k: usize,
    /// (squared distance, storage position)
    items: Vec<Neighbour>,
    /// Entries with a distance at or above this cannot be among the k best.
    worst: f32,
    /// Absolute slack of the pruning test for this query.
    slack: f32,
}

impl Top {
    fn new(k: usize, slack: f32) -> Top {
        Top {
            k,
            items: Vec::with_capacity(4 * k),
            worst: f32::INFINITY,
            slack,
        }
    }

    #[inline(always)]
    fn offer_leaf(&mut self, dist: &[[f32; LANES]; GROUP], base: usize, order: &[u32]) {
        // Vertical minimum over the leaf, then a halving tree over the lanes: a chain of 31
        // scalar minimums here measured slower than the arithmetic itself.
        let mut v = dist[0];
        for lanes in &dist[1..] {
            for (m, &d) in v.iter_mut().zip(lanes) {
                *m = if d < *m { d } else { *m };
            }
        }
        let mut width = LANES / 2;
        while width > 0 {
            for l in 0..width {
                v[l] = if v[l + width] < v[l] {
                    v[l + width]
                } else {
                    v[l]
                };
            }
            width /= 2;
        }
        if v[0] < self.worst {
            for (b, lanes) in dist.iter().enumerate() {
                for (l, &d) in lanes.iter().enumerate() {
                    let pos = base + b * LANES + l;
                    if d < self.worst && order[pos] != u32::MAX {
                        self.items.push((d, pos as u32));
                        if self.items.len() == self.items.capacity() {
                            self.cut();
                        }
                    }
                }
            }
        }
    }

    /// Keeps the k best entries and lowers the threshold to the worst of them.
    fn cut(&mut self) {
        if self.items.len() > self.k {
            self.items
                .select_nth_unstable_by(self.k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            self.items.truncate(self.k);
        }
        if self.items.len() == self.k {
            self.worst = self
                .items
                .iter()
                .map(|e| e.0)
                .fold(f32::NEG_INFINITY, f32::max);
        }
    }

    /// The k best (unsorted).
    fn finish(mut self) -> Vec<Neighbour> {
        self.cut();
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn brute(points: &Matrix, q: &[f32], k: usize) -> Vec<Neighbour> {
        let mut all: Vec<Neighbour> = (0..points.rows())
            .map(|i| (squared_distance(points.row(i), q), i as u32))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all
    }

    fn random(rng: &mut ChaCha8Rng, n: usize, dims: usize, clustered: bool) -> Matrix {
        let centers: Vec<f32> = (0..10 * dims).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let data = (0..n)
            .flat_map(|_| {
                let c = rng.gen_range(0..10);
                (0..dims)
                    .map(|j| {
                        let noise = rng.gen_range(-1.0f32..1.0);
                        if clustered {
                            centers[c * dims + j] + 0.05 * noise
                        } else {
                            noise
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Matrix::from_vec(n, dims, data)
    }

    #[test]
    fn matches_a_sorted_scan_for_several_widths() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for dims in [3, 16, 20, 70] {
            for clustered in [false, true] {
                let n = 1000 + dims; // not a multiple of the leaf size
                let points = random(&mut rng, n, dims, clustered);
                let queries = random(&mut rng, 50, dims, clustered);
                let knn = Knn::new(&points);
                let got = knn.map_nearest(&queries, None, 7, |_, nb| nb.to_vec(), &|_| {});
                for (i, nb) in got.iter().enumerate() {
                    let want = brute(&points, queries.row(i), 7);
                    let got_idx: Vec<u32> = nb.iter().map(|x| x.1).collect();
                    let want_idx: Vec<u32> = want.iter().map(|x| x.1).collect();
                    assert_eq!(got_idx, want_idx, "dims {dims} query {i}");
                    for (a, b) in nb.iter().zip(&want) {
                        assert_eq!(a.0, b.0);
                    }
                }
            }
        }
    }

    #[test]
    fn fewer_points_than_k_and_duplicates() {
        let points = Matrix::from_vec(3, 2, vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
        let knn = Knn::new(&points);
        let q = Matrix::from_vec(1, 2, vec![0.0, 0.0]);
        let got = knn.map_nearest(&q, None, 10, |_, nb| nb.to_vec(), &|_| {});
        assert_eq!(got[0], vec![(0.0, 0), (0.0, 1), (2.0, 2)]);
    }

    /// `cargo test --release --lib knn::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for clustered in [false, true] {
            let points = random(&mut rng, 15_000, 16, clustered);
            let queries = random(&mut rng, 100_000, 16, clustered);
            let knn = Knn::new(&points);
            let t = std::time::Instant::now();
            let out = knn.map_nearest(&queries, None, 20, |_, nb| nb[0].1, &|_| {});
            println!(
                "clustered {clustered}: 100k queries, k = 20, against 15k points in 16 dims: \
                 {:?} ({})",
                t.elapsed(),
                out[0]
            );
        }
    }
}
