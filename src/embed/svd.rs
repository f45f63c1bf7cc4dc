//! Randomized truncated SVD of a sparse CSR matrix (Halko, Martinsson & Tropp 2011: a randomized
//! range finder with power iterations, then an exact SVD of the small projected matrix).
//! Hand-written because no maintained Rust crate computes a truncated SVD of sparse input.
//!
//! Layout and speed: the tall dense factors are `f32`; the ones with a row per feature (the
//! test matrix Ω, `Z = Aᵀ Q`, the components) are stored as column panels so the sparse
//! products read them in cache-sized, contiguous pieces ([`super::kernels`]). `A B` streams the
//! rows of `B` in feature order and scatters into the small sample-side output; `Aᵀ Q` gathers
//! from the small sample-side `Q`. Gram matrices, Cholesky factors and the small eigenproblem
//! are `f64`.
//!
//! Determinism: every output element is one sequential sum in a fixed order (by feature, by
//! row), parallelism only splits independent outputs (panels, row blocks, Gram tiles), and the
//! random test matrix comes from one ChaCha8 stream per panel; so the same input and seed give
//! identical bits whatever the number of threads or the CPU's vector width. No libm calls are
//! involved.

use super::kernels::{self, to_panels, Panels, PANEL, TILE};
pub use super::sparse::CsrMatrix;
use nalgebra::{DMatrix, SymmetricEigen};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Rows per block when a reduction over rows is split for parallelism. Fixed (not derived from
/// the thread count) so the summation order never changes.
const REDUCE_BLOCK: usize = 1024;

/// Singular values below this fraction of the largest are treated as zero (rank deficiency;
/// the tall factors are `f32`, so smaller ones are rounding noise).
const RANK_TOL: f64 = 1e-4;

/// In the rank-revealing orthonormalization, eigenvalues of `YᵀY` below this fraction of the
/// largest are dropped as null directions.
const ORTH_TOL: f64 = 1e-10;

/// Settings of [`randomized_svd`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvdOptions {
    /// Number of singular triplets wanted.
    pub rank: usize,
    /// Extra random directions beyond `rank` (Halko et al. suggest 5–10).
    pub oversample: usize,
    /// Power (subspace) iterations; each multiplies by `A Aᵀ` and re-orthonormalizes.
    pub power_iters: usize,
    /// Subtract the column means first (PCA instead of plain LSA). Done implicitly: the sparse
    /// matrix is never densified.
    pub center: bool,
    pub seed: u64,
}

/// A truncated SVD `A ≈ U Σ Vᵀ` (of the centered matrix when `center` was set).
#[derive(Debug, Clone)]
pub struct TruncatedSvd {
    rows: usize,
    cols: usize,
    /// Width of the range basis.
    width: usize,
    rank: usize,
    singular_values: Vec<f64>,
    /// Orthonormal range basis, `rows × width`, row-major.
    q: Vec<f32>,
    /// `Aᵀ Q`, `cols × width` (the transpose of the small matrix `B = Qᵀ A`).
    z: Panels,
    /// Left singular vectors of `B`, `width × rank`.
    ub: Vec<f64>,
    mean: Option<Vec<f64>>,
}

impl TruncatedSvd {
    /// Singular values found, in descending order. There may be fewer than requested when the
    /// matrix has lower numerical rank (values below 1e-4 of the largest are dropped).
    pub fn singular_values(&self) -> &[f64] {
        &self.singular_values
    }

    /// Number of components found (`singular_values().len()`).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The column means that were subtracted, when centering.
    pub fn mean(&self) -> Option<&[f64]> {
        self.mean.as_deref()
    }

    /// `U Σ`: the coordinates of the fitted rows, `rows × rank` row-major.
    pub fn row_coordinates(&self) -> Vec<f32> {
        let m = self.scaled_ub(|s| s);
        let out = dense_product(&self.q, self.width, &m, self.rank);
        debug_assert_eq!(out.len(), self.rows * self.rank);
        out
    }

    /// `V`: the right singular vectors, `cols × rank` row-major (row `j` holds feature `j`'s
    /// loadings). A new row `x` projects to `(x - mean) V`.
    pub fn components(&self) -> Vec<f32> {
        let m = self.scaled_ub(|s| 1.0 / s);
        let panels = to_panels(&m, self.rank);
        let (width, rank) = (self.width, self.rank);
        let mut out = vec![0f32; self.cols * rank];
        if rank == 0 {
            return out;
        }
        out.par_chunks_mut(rank * TASK_ROWS)
            .enumerate()
            .for_each(|(t, block)| {
                let first = t * TASK_ROWS;
                let rows = block.len() / rank;
                let mut x = vec![0f32; rows * width];
                for (r, row) in x.chunks_mut(width).enumerate() {
                    self.z.row_into(first + r, row);
                }
                kernels::dense_f32(&x, width, &panels, rank, block);
            });
        out
    }

    /// A [`Projector`] for about `rows` new rows. It forms `V` when that is cheaper than
    /// going through the `cols × width` basis for every row (that is, when `rows` exceeds
    /// the number of features that occurred in the fitted matrix); the results agree up to
    /// `f32` rounding either way.
    pub fn into_projector(self, rows: usize) -> Projector {
        let (rank, width, cols) = (self.rank, self.width, self.cols);
        if rank == 0 {
            return Projector {
                cols,
                rank: 0,
                basis: Panels::default(),
                post: None,
                offset: Vec::new(),
            };
        }
        let mut row = vec![0f32; width];
        let mut live = 0;
        for j in 0..cols {
            self.z.row_into(j, &mut row);
            if row.iter().any(|&x| x != 0.0) {
                live += 1;
            }
        }
        // meanᵀ X for a cols-row matrix X given row by row, summed in order.
        let mean_times = |w: usize, get: &dyn Fn(usize, &mut [f32])| -> Vec<f64> {
            let mut acc = vec![0f64; w];
            let mut buf = vec![0f32; w];
            if let Some(mean) = &self.mean {
                for (j, &mu) in mean.iter().enumerate() {
                    if mu != 0.0 {
                        get(j, &mut buf);
                        for (a, &v) in acc.iter_mut().zip(&buf) {
                            *a += mu * v as f64;
                        }
                    }
                }
            }
            acc
        };
        if rows > live {
            let v = self.components();
            let offset = mean_times(rank, &|j, buf| {
                buf.copy_from_slice(&v[j * rank..(j + 1) * rank])
            });
            Projector {
                cols,
                rank,
                basis: Panels::from_row_major(&v, rank),
                post: None,
                offset: offset.into_iter().map(|x| x as f32).collect(),
            }
        } else {
            let m = self.scaled_ub(|s| 1.0 / s);
            let mz = mean_times(width, &|j, buf| self.z.row_into(j, buf));
            let mut offset = vec![0f64; rank];
            for (a, &x) in mz.iter().enumerate() {
                for (o, &y) in offset.iter_mut().zip(&m[a * rank..(a + 1) * rank]) {
                    *o += x * y as f64;
                }
            }
            Projector {
                cols,
                rank,
                basis: self.z,
                post: Some(to_panels(&m, rank)),
                offset: offset.into_iter().map(|x| x as f32).collect(),
            }
        }
    }

    /// `U_B` with column `c` scaled by `f(σ_c)`, as `f32` (`width × rank`).
    fn scaled_ub(&self, f: impl Fn(f64) -> f64) -> Vec<f32> {
        let mut m = vec![0f32; self.width * self.rank];
        for r in 0..self.width {
            for c in 0..self.rank {
                m[r * self.rank + c] =
                    (self.ub[r * self.rank + c] * f(self.singular_values[c])) as f32;
            }
        }
        m
    }
}

/// Projects sparse rows onto fitted components: `(x - mean) V` in `f32`. Built by
/// [`TruncatedSvd::into_projector`].
#[derive(Debug, Clone)]
pub struct Projector {
    cols: usize,
    rank: usize,
    /// `V` (`cols × rank`) or `Z` (`cols × width`).
    basis: Panels,
    /// With `Z`: the `width × rank` matrix applied afterwards, in panel form.
    post: Option<Vec<f32>>,
    /// `meanᵀ V`.
    offset: Vec<f32>,
}

impl Projector {
    /// Output columns per row.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Writes `(x - mean) V` for every row `x` of `a` (which must have the fitted number of
    /// columns) into `out` (`a.rows() × rank`, row-major). Runs on the calling thread:
    /// callers parallelize over blocks of rows. Each output row depends only on its input row.
    pub fn project(&self, a: &CsrMatrix, out: &mut [f32]) {
        assert_eq!(a.cols(), self.cols, "projected rows have the wrong width");
        assert_eq!(
            out.len(),
            a.rows() * self.rank,
            "output has the wrong length"
        );
        if self.rank == 0 || a.rows() == 0 {
            return;
        }
        // Scatter form: the basis is read row by row in feature order, the block's output
        // stays in cache (the gather form would read the basis at random).
        let at = a.transpose();
        let block = at.block(0, at.rows());
        match &self.post {
            None => kernels::spmm_rows_scatter(block, a.rows(), &self.basis, out),
            Some(post) => {
                let width = self.basis.width();
                let mut tmp = vec![0f32; a.rows() * width];
                kernels::spmm_rows_scatter(block, a.rows(), &self.basis, &mut tmp);
                kernels::dense_f32(&tmp, width, post, self.rank, out);
            }
        }
        for row in out.chunks_mut(self.rank) {
            for (x, o) in row.iter_mut().zip(&self.offset) {
                *x -= o;
            }
        }
    }
}

/// Randomized truncated SVD of `a` (Halko et al., Algorithm 4.4 with one orthonormalization per
/// power iteration, then Algorithm 5.1), with `width = rank + oversample` random directions
/// (capped by the matrix shape: at the cap the decomposition is exact). Orthonormalization is
/// Cholesky-QR on the `rows × width` basis, falling back to an eigen-decomposition that drops
/// null directions when the basis is (nearly) rank deficient. The small `width × width`
/// problem is solved with nalgebra's symmetric eigen-decomposition of `B Bᵀ`.
pub fn randomized_svd(a: &CsrMatrix, opts: &SvdOptions) -> TruncatedSvd {
    let (m, n) = (a.rows(), a.cols());
    let mean = opts.center.then(|| a.column_means());
    let width = (opts.rank + opts.oversample).min(m).min(n);
    let empty = TruncatedSvd {
        rows: m,
        cols: n,
        width: 0,
        rank: 0,
        singular_values: Vec::new(),
        q: Vec::new(),
        z: Panels::default(),
        ub: Vec::new(),
        mean: mean.clone(),
    };
    if opts.rank == 0 || width == 0 {
        return empty;
    }
    // Every product runs off the transpose: A B by scattering rows of B, Aᵀ Q by gathering.
    let at = a.transpose();
    let mean_ref = mean.as_deref();

    let omega = random_panels(n, width, opts.seed);
    let mut q = mul_centered(&at, &omega, mean_ref);
    drop(omega);
    let mut width = width;
    // The sketch A Ω is only orthonormalized after the first power iteration: with the Gram
    // matrix in f64, one extra multiplication by A Aᵀ loses nothing that matters (Halko et al.
    // §4.5: accuracy is lost below ε^(1/(2q+1)) of σ₁), and Cholesky-QR falls back to the
    // rank-revealing path if the basis is too ill-conditioned.
    if opts.power_iters == 0 {
        (q, width) = orthonormalize(&q, width);
    }
    for _ in 0..opts.power_iters {
        if width == 0 {
            break;
        }
        let z = mul_transpose_centered(&at, &q, width, mean_ref);
        let y = mul_centered(&at, &z, mean_ref);
        drop(z);
        (q, width) = orthonormalize(&y, width);
    }
    if width == 0 {
        return empty;
    }
    // B = Qᵀ A, stored transposed as Z = Aᵀ Q (n × width). B Bᵀ = Zᵀ Z = Qᵀ (A Z), computed
    // on the sample side: one more sparse product is cheaper than a Gram over n rows.
    let z = mul_transpose_centered(&at, &q, width, mean_ref);
    let az = mul_centered(&at, &z, mean_ref);
    let mut bbt = cross(&q, &az, width, false);
    drop(az);
    for i in 0..width {
        for j in 0..i {
            let v = 0.5 * (bbt[i * width + j] + bbt[j * width + i]);
            bbt[i * width + j] = v;
            bbt[j * width + i] = v;
        }
    }
    let (eigenvalues, eigenvectors) = sorted_eigen(&bbt, width);
    let top = eigenvalues.first().copied().unwrap_or(0.0).max(0.0);
    let rank = eigenvalues
        .iter()
        .take(opts.rank)
        .take_while(|&&l| top > 0.0 && l > 0.0 && l.sqrt() > RANK_TOL * top.sqrt())
        .count();
    let singular_values: Vec<f64> = eigenvalues[..rank].iter().map(|l| l.sqrt()).collect();
    // U_B = the leading eigenvectors, width × rank.
    let mut ub = vec![0f64; width * rank];
    for r in 0..width {
        for c in 0..rank {
            ub[r * rank + c] = eigenvectors[r * width + c];
        }
    }
    TruncatedSvd {
        rows: m,
        cols: n,
        width,
        rank,
        singular_values,
        q,
        z,
        ub,
        mean,
    }
}

// One random u32 gives the signs of a panel row.
const _: () = assert!(PANEL <= 32);

/// Rows per parallel task in the row-blocked dense products.
const TASK_ROWS: usize = 1024;

/// The random test matrix (`rows × width`, random signs: Rademacher entries work as well as
/// Gaussian ones for the range finder and cost one random bit each), panel by panel in
/// parallel; panel `p` comes from ChaCha8 stream `p` of the seed, so the thread count does not
/// matter.
fn random_panels(rows: usize, width: usize, seed: u64) -> Panels {
    let mut omega = Panels::zeros(rows, width);
    let len = (rows * PANEL).max(1);
    omega
        .data_mut()
        .par_chunks_mut(len)
        .enumerate()
        .for_each(|(p, panel)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(p as u64);
            let pw = PANEL.min(width - p * PANEL);
            for row in panel.chunks_mut(PANEL) {
                let bits: u32 = rng.gen();
                for (t, x) in row[..pw].iter_mut().enumerate() {
                    *x = if bits >> t & 1 == 1 { 1.0 } else { -1.0 };
                }
            }
        });
    omega
}

/// `(A - 1 meanᵀ) B` (row-major, `A.rows() × width`) for `B` given as panels with `A.cols()`
/// rows; `at = Aᵀ`. Panels in parallel.
fn mul_centered(at: &CsrMatrix, b: &Panels, mean: Option<&[f64]>) -> Vec<f32> {
    let rows = at.cols();
    let mut y = Panels::zeros(rows, b.width());
    let whole = at.block(0, at.rows());
    let len = (rows * PANEL).max(1);
    y.data_mut()
        .par_chunks_mut(len)
        .enumerate()
        .for_each(|(p, out)| kernels::scatter(whole, b.panel(p), out));
    let mut out = y.to_row_major();
    if let Some(mean) = mean {
        // meanᵀ B, summed over features in order.
        let width = b.width();
        let mut shift = vec![0f64; width];
        let mut row = vec![0f32; width];
        for (j, &mu) in mean.iter().enumerate() {
            if mu != 0.0 {
                b.row_into(j, &mut row);
                for (s, &x) in shift.iter_mut().zip(&row) {
                    *s += mu * x as f64;
                }
            }
        }
        let shift: Vec<f32> = shift.iter().map(|&s| s as f32).collect();
        out.par_chunks_mut(width.max(1)).for_each(|row| {
            for (x, s) in row.iter_mut().zip(&shift) {
                *x -= s;
            }
        });
    }
    out
}

/// `(A - 1 meanᵀ)ᵀ Q` as panels (`A.cols() × width`) for row-major `Q` (`A.rows() × width`);
/// `at = Aᵀ`. Panels in parallel.
fn mul_transpose_centered(at: &CsrMatrix, q: &[f32], width: usize, mean: Option<&[f64]>) -> Panels {
    let qp = Panels::from_row_major(q, width);
    let rows = at.rows();
    let mut z = Panels::zeros(rows, width);
    let whole = at.block(0, rows);
    let sums = mean.map(|_| column_sums(q, width));
    let len = (rows * PANEL).max(1);
    z.data_mut()
        .par_chunks_mut(len)
        .enumerate()
        .for_each(|(p, out)| {
            kernels::gather(whole, qp.panel(p), qp.rows(), out);
            if let (Some(mean), Some(sums)) = (mean, &sums) {
                let p0 = p * PANEL;
                let pw = PANEL.min(width - p0);
                for (j, row) in out.chunks_mut(PANEL).enumerate() {
                    let mu = mean[j];
                    if mu != 0.0 {
                        for (x, &s) in row[..pw].iter_mut().zip(&sums[p0..p0 + pw]) {
                            *x = (*x as f64 - mu * s) as f32;
                        }
                    }
                }
            }
        });
    z
}

/// Sums of the columns of a row-major matrix, over fixed row blocks merged in order.
fn column_sums(x: &[f32], width: usize) -> Vec<f64> {
    let partial: Vec<Vec<f64>> = x
        .par_chunks(width * REDUCE_BLOCK)
        .map(|block| {
            let mut s = vec![0f64; width];
            for row in block.chunks(width) {
                for (s, &v) in s.iter_mut().zip(row) {
                    *s += v as f64;
                }
            }
            s
        })
        .collect();
    let mut sums = vec![0f64; width];
    for p in &partial {
        for (s, &v) in sums.iter_mut().zip(p) {
            *s += v;
        }
    }
    sums
}

/// `Xᵀ Y` (`width × width`, `f64`) of two row-major matrices with the same shape, tile by tile
/// in parallel; each tile sums over all rows in order. With `symmetric` (`X = Y`) only the
/// upper tiles are computed and mirrored.
fn cross(x: &[f32], y: &[f32], width: usize, symmetric: bool) -> Vec<f64> {
    let tiles = width.div_ceil(TILE);
    let pairs: Vec<(usize, usize)> = (0..tiles)
        .flat_map(|i| (if symmetric { i } else { 0 }..tiles).map(move |j| (i, j)))
        .collect();
    let computed: Vec<Vec<f64>> = pairs
        .par_iter()
        .map(|&(i, j)| {
            let mut tile = vec![0f64; TILE * TILE];
            kernels::cross_tile(x, y, width, i * TILE, j * TILE, &mut tile);
            tile
        })
        .collect();
    let mut out = vec![0f64; width * width];
    for (&(i, j), tile) in pairs.iter().zip(&computed) {
        for a in 0..TILE.min(width - i * TILE) {
            for b in 0..TILE.min(width - j * TILE) {
                let v = tile[a * TILE + b];
                out[(i * TILE + a) * width + j * TILE + b] = v;
                if symmetric {
                    out[(j * TILE + b) * width + i * TILE + a] = v;
                }
            }
        }
    }
    out
}

/// `Xᵀ X`.
fn gram(x: &[f32], width: usize) -> Vec<f64> {
    cross(x, x, width, true)
}

/// `X M` for a row-major `X` (`? × width`, `f32`) and a small row-major `M` (`width × cols`,
/// `f64`), summed in `f64` (for orthonormalization, where rounding matters) and rounded to
/// `f32`. With `upper`, `M` is upper triangular.
fn small_product(x: &[f32], width: usize, m: &[f64], cols: usize, upper: bool) -> Vec<f32> {
    let panels = to_panels(m, cols);
    rows_times(x, width, cols, |xb, o| {
        kernels::dense_f64(xb, width, &panels, cols, upper, o)
    })
}

/// `X M` (`f32`) for row-major `X` (`? × width`) and `M` (`width × cols`), rows in parallel.
fn dense_product(x: &[f32], width: usize, m: &[f32], cols: usize) -> Vec<f32> {
    let panels = to_panels(m, cols);
    rows_times(x, width, cols, |xb, o| {
        kernels::dense_f32(xb, width, &panels, cols, o)
    })
}

/// Applies `kernel` to blocks of `TASK_ROWS` rows of `X` in parallel, each filling its block of
/// the `? × cols` output.
fn rows_times(
    x: &[f32],
    width: usize,
    cols: usize,
    kernel: impl Fn(&[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    if width == 0 || cols == 0 {
        return vec![0f32; x.len().checked_div(width).unwrap_or(0) * cols];
    }
    let mut out = vec![0f32; x.len() / width * cols];
    out.par_chunks_mut(cols * TASK_ROWS)
        .zip(x.par_chunks(width * TASK_ROWS))
        .for_each(|(o, xb)| kernel(xb, o));
    out
}

/// Eigenvalues in descending order with their eigenvectors as columns of a row-major
/// `width × width` matrix.
fn sorted_eigen(sym: &[f64], width: usize) -> (Vec<f64>, Vec<f64>) {
    let eig = SymmetricEigen::new(DMatrix::from_row_slice(width, width, sym));
    let mut order: Vec<usize> = (0..width).collect();
    order.sort_by(|&i, &j| {
        eig.eigenvalues[j]
            .partial_cmp(&eig.eigenvalues[i])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(i.cmp(&j))
    });
    let values = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    let mut vectors = vec![0f64; width * width];
    for (c, &src) in order.iter().enumerate() {
        for r in 0..width {
            vectors[r * width + c] = eig.eigenvectors[(r, src)];
        }
    }
    (values, vectors)
}

/// Upper-triangular `R` with `Rᵀ R = G`, or `None` when `G` is not safely positive definite
/// (a pivot below `1e-10` of the largest diagonal entry, i.e. condition number above ~1e5 in
/// the basis, where Cholesky-QR would lose orthogonality).
fn cholesky_upper(g: &[f64], width: usize) -> Option<Vec<f64>> {
    let max_diag = (0..width).map(|i| g[i * width + i]).fold(0.0, f64::max);
    if max_diag <= 0.0 || !max_diag.is_finite() {
        return None;
    }
    let mut r = vec![0f64; width * width];
    for i in 0..width {
        let mut d = g[i * width + i];
        for k in 0..i {
            d -= r[k * width + i] * r[k * width + i];
        }
        if d.is_nan() || d <= 1e-10 * max_diag {
            return None;
        }
        let d = d.sqrt();
        r[i * width + i] = d;
        for j in i + 1..width {
            let mut s = g[i * width + j];
            for k in 0..i {
                s -= r[k * width + i] * r[k * width + j];
            }
            r[i * width + j] = s / d;
        }
    }
    Some(r)
}

/// Inverse of an upper-triangular matrix (also upper triangular).
fn invert_upper(r: &[f64], width: usize) -> Vec<f64> {
    let mut inv = vec![0f64; width * width];
    // Column by column: R x = e_c, back substitution.
    for c in 0..width {
        for i in (0..=c).rev() {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in i + 1..=c {
                s -= r[i * width + k] * inv[k * width + c];
            }
            inv[i * width + c] = s / r[i * width + i];
        }
    }
    inv
}

/// An orthonormal basis of the column space of `y` (`rows × width`); returns it with its
/// width, which shrinks when `y` is numerically rank deficient.
fn orthonormalize(y: &[f32], width: usize) -> (Vec<f32>, usize) {
    if width == 0 {
        return (Vec::new(), 0);
    }
    let g = gram(y, width);
    if let Some(r) = cholesky_upper(&g, width) {
        let rinv = invert_upper(&r, width);
        return ((small_product(y, width, &rinv, width, true)), width);
    }
    // Rank-revealing fallback: Y W Λ^{-1/2} over the eigenvalues that are not negligible,
    // then one Cholesky-QR pass to restore orthogonality lost to rounding.
    let (values, vectors) = sorted_eigen(&g, width);
    let top = values.first().copied().unwrap_or(0.0);
    let keep = values
        .iter()
        .take_while(|&&l| top > 0.0 && l > ORTH_TOL * top)
        .count();
    if keep == 0 {
        return (Vec::new(), 0);
    }
    let mut m = vec![0f64; width * keep];
    for r in 0..width {
        for c in 0..keep {
            m[r * keep + c] = vectors[r * width + c] / values[c].sqrt();
        }
    }
    let q = small_product(y, width, &m, keep, false);
    let g = gram(&q, keep);
    match cholesky_upper(&g, keep) {
        Some(r) => {
            let rinv = invert_upper(&r, keep);
            ((small_product(&q, keep, &rinv, keep, true)), keep)
        }
        None => (q, keep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_dense(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..rows * cols)
            .map(|_| rng.gen::<f32>() * 2.0 - 1.0)
            .collect()
    }

    /// A dense matrix with a decaying spectrum: U diag(s) Vᵀ with s_i = 0.9^i, plus sparsity.
    fn low_rank_sparse(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let a = random_dense(rows, 40, seed);
        let b = random_dense(40, cols, seed + 1);
        let mut out = vec![0f32; rows * cols];
        for i in 0..rows {
            for k in 0..40 {
                let w = a[i * 40 + k] * 0.85f32.powi(k as i32);
                for j in 0..cols {
                    out[i * cols + j] += w * b[k * cols + j];
                }
            }
        }
        // Knock out about half the entries to make it genuinely sparse.
        let mask = random_dense(rows, cols, seed + 2);
        for (x, m) in out.iter_mut().zip(mask) {
            if m < 0.0 {
                *x = 0.0;
            }
        }
        out
    }

    fn full_singular_values(rows: usize, cols: usize, data: &[f32], center: bool) -> Vec<f64> {
        let mut m = DMatrix::from_fn(rows, cols, |i, j| data[i * cols + j] as f64);
        if center {
            for j in 0..cols {
                let mu = m.column(j).mean();
                m.column_mut(j).add_scalar_mut(-mu);
            }
        }
        let mut s: Vec<f64> = m
            .svd(false, false)
            .singular_values
            .iter()
            .copied()
            .collect();
        s.sort_by(|a, b| b.partial_cmp(a).unwrap());
        s
    }

    fn opts(rank: usize, center: bool) -> SvdOptions {
        SvdOptions {
            rank,
            oversample: 10,
            power_iters: 4,
            center,
            seed: 7,
        }
    }

    #[test]
    fn matches_full_svd_on_random_matrix() {
        for center in [false, true] {
            let (rows, cols) = (300, 120);
            let data = low_rank_sparse(rows, cols, 1);
            let a = CsrMatrix::from_dense(rows, cols, &data);
            let svd = randomized_svd(&a, &opts(10, center));
            let exact = full_singular_values(rows, cols, &data, center);
            assert_eq!(svd.rank(), 10);
            // The sparsity mask leaves a flat noise tail from σ₁₁ on, so the last requested
            // values converge slowly; the top ones must be right to 1e-3.
            for (k, (got, want)) in svd.singular_values().iter().zip(&exact).take(8).enumerate() {
                let rel = (got - want).abs() / want;
                assert!(
                    rel < 1e-3,
                    "center={center} σ{k}: {got} vs {want} (rel {rel})"
                );
            }
        }
    }

    #[test]
    fn full_rank_request_is_exact() {
        // Width reaches min(rows, cols): the range finder captures everything.
        let (rows, cols) = (30, 12);
        let data = random_dense(rows, cols, 3);
        let a = CsrMatrix::from_dense(rows, cols, &data);
        let svd = randomized_svd(&a, &opts(12, false));
        let exact = full_singular_values(rows, cols, &data, false);
        assert_eq!(svd.rank(), 12);
        for (got, want) in svd.singular_values().iter().zip(&exact) {
            // f32 tall factors: exact up to f32 rounding.
            assert!((got - want).abs() / want < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn components_are_orthonormal_and_reproduce_coordinates() {
        let (rows, cols) = (200, 80);
        let data = low_rank_sparse(rows, cols, 5);
        let a = CsrMatrix::from_dense(rows, cols, &data);
        let svd = randomized_svd(&a, &opts(8, true));
        let k = svd.rank();
        let v = svd.components();
        for c1 in 0..k {
            for c2 in 0..k {
                let d: f64 = (0..cols)
                    .map(|j| v[j * k + c1] as f64 * v[j * k + c2] as f64)
                    .sum();
                let want = if c1 == c2 { 1.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-5, "VᵀV[{c1},{c2}] = {d}");
            }
        }
        // Projecting the (centered) rows onto V gives U Σ up to the approximation error.
        let coords = svd.row_coordinates();
        let mean = svd.mean().unwrap().to_vec();
        let mut err = 0.0;
        let mut norm = 0.0;
        for i in 0..rows {
            for c in 0..k {
                let p: f64 = (0..cols)
                    .map(|j| (data[i * cols + j] as f64 - mean[j]) * v[j * k + c] as f64)
                    .sum();
                err += (p - coords[i * k + c] as f64).powi(2);
                norm += p * p;
            }
        }
        assert!(err / norm < 1e-3, "relative error {}", err / norm);
        // Both projector routes (through V, through Aᵀ Q) give (x - mean) V.
        let mut direct = vec![0f32; rows * k];
        let mut via_z = vec![0f32; rows * k];
        svd.clone()
            .into_projector(usize::MAX)
            .project(&a, &mut direct);
        svd.into_projector(0).project(&a, &mut via_z);
        for i in 0..rows * k {
            let want = (0..cols)
                .map(|j| (data[(i / k) * cols + j] as f64 - mean[j]) * v[j * k + i % k] as f64)
                .sum::<f64>();
            assert!(
                (direct[i] as f64 - want).abs() < 1e-4,
                "{} vs {want}",
                direct[i]
            );
            assert!(
                (via_z[i] as f64 - want).abs() < 1e-4,
                "{} vs {want}",
                via_z[i]
            );
        }
    }

    #[test]
    fn deterministic_and_seed_dependent_basis() {
        let (rows, cols) = (150, 60);
        let data = low_rank_sparse(rows, cols, 9);
        let a = CsrMatrix::from_dense(rows, cols, &data);
        let mut o = opts(5, true);
        o.power_iters = 0;
        let first = randomized_svd(&a, &o);
        let again = randomized_svd(&a, &o);
        assert_eq!(
            first
                .row_coordinates()
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>(),
            again
                .row_coordinates()
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        );
        o.seed = 8;
        let other = randomized_svd(&a, &o);
        assert_ne!(first.singular_values(), other.singular_values());
    }

    #[test]
    fn rank_deficient_and_degenerate_inputs() {
        // Five identical rows: rank 1 uncentered, rank 0 centered.
        let row = [1.0f32, 0.0, 2.0, 0.0, 3.0];
        let data: Vec<f32> = row.iter().copied().cycle().take(25).collect();
        let a = CsrMatrix::from_dense(5, 5, &data);
        let svd = randomized_svd(&a, &opts(4, false));
        assert_eq!(svd.rank(), 1);
        assert!((svd.singular_values()[0] - (5.0f64 * 14.0).sqrt()).abs() < 1e-5);
        let centered = randomized_svd(&a, &opts(4, true));
        assert_eq!(centered.rank(), 0);
        assert!(centered.row_coordinates().is_empty());
        // Empty matrices.
        let empty = CsrMatrix::new(0, 10, vec![0], vec![], vec![]);
        assert_eq!(randomized_svd(&empty, &opts(3, true)).rank(), 0);
        let zero = CsrMatrix::new(3, 4, vec![0, 0, 0, 0], vec![], vec![]);
        assert_eq!(randomized_svd(&zero, &opts(3, false)).rank(), 0);
    }

    #[test]
    fn transpose_round_trips() {
        let data = low_rank_sparse(7, 5, 11);
        let a = CsrMatrix::from_dense(7, 5, &data);
        let t = a.transpose();
        assert_eq!((t.rows(), t.cols(), t.nnz()), (5, 7, a.nnz()));
        assert_eq!(t.transpose(), a);
    }
}
