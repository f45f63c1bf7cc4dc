//! Inner loops of the randomized SVD and the projection, tiled for cache and dispatched to an
//! AVX2 build when the CPU has it.
//!
//! Every kernel computes each output element as one sequential sum in a fixed order, using
//! separate multiplies and adds (no FMA, no reassociation): vectorization only runs independent
//! elements side by side, so the AVX2 and baseline builds give identical bits (checked by a
//! test) and results do not depend on the machine's vector width.

/// Output columns accumulated at once (kept in registers across a row's non-zeros).
pub(crate) const PANEL: usize = 32;
/// Inner-index range handled at once by the sparse kernel: `INNER_CHUNK` rows of a
/// `PANEL`-wide slice of the dense factor (256 KiB as `f32`) stay in a core's L2 cache while
/// every row of the block reads them.
const INNER_CHUNK: usize = 2048;
/// Tile edge of the Gram kernel (an `f64` tile is 8 KiB, L1-resident).
pub(crate) const TILE: usize = 32;
/// Output rows updated per pass of the scatter kernel (a panel slice of 256 KiB, half a
/// typical L2).
const SCATTER_ROWS: usize = 2048;

/// A block of CSR rows: `indptr` has one more entry than rows and indexes `indices`/`values`
/// (absolute offsets, so a block may start anywhere). Column indices sorted within rows.
#[derive(Clone, Copy)]
pub(crate) struct SparseRows<'a> {
    pub indptr: &'a [usize],
    pub indices: &'a [u32],
    pub values: &'a [f32],
}

impl SparseRows<'_> {
    pub fn rows(&self) -> usize {
        self.indptr.len() - 1
    }
}

dispatch!(gather, gather_avx2, (a: SparseRows, panel: &[f32], inner: usize, out: &mut [f32]));
dispatch!(scatter, scatter_avx2, (at: SparseRows, panel: &[f32], out: &mut [f32]));
dispatch!(dense_f32, dense_f32_avx2, (x: &[f32], width: usize, panels: &[f32], cols: usize, out: &mut [f32]));
dispatch!(dense_f64, dense_f64_avx2, (x: &[f32], width: usize, panels: &[f64], cols: usize, upper: bool, out: &mut [f32]));
dispatch!(cross_tile, cross_tile_avx2, (x: &[f32], y: &[f32], width: usize, a0: usize, b0: usize, tile: &mut [f64]));

/// A dense `f32` matrix stored as column panels: panel `p` holds columns
/// `p * PANEL..(p + 1) * PANEL` (zero-padded past `width`) of every row, row after row, so a
/// run of rows of one panel is one contiguous block of memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Panels {
    rows: usize,
    width: usize,
    data: Vec<f32>,
}

impl Panels {
    pub fn zeros(rows: usize, width: usize) -> Self {
        Panels {
            rows,
            width,
            data: vec![0f32; width.div_ceil(PANEL) * rows * PANEL],
        }
    }

    pub fn from_row_major(x: &[f32], width: usize) -> Self {
        use rayon::prelude::*;
        let rows = x.len().checked_div(width).unwrap_or(0);
        let mut out = Panels::zeros(rows, width);
        if rows == 0 {
            return out;
        }
        out.data
            .par_chunks_mut(rows * PANEL)
            .enumerate()
            .for_each(|(p, panel)| {
                let p0 = p * PANEL;
                let pw = PANEL.min(width - p0);
                for (r, dst) in panel.chunks_mut(PANEL).enumerate() {
                    dst[..pw].copy_from_slice(&x[r * width + p0..r * width + p0 + pw]);
                }
            });
        out
    }

    pub fn to_row_major(&self) -> Vec<f32> {
        use rayon::prelude::*;
        let mut out = vec![0f32; self.rows * self.width];
        if self.width == 0 {
            return out;
        }
        out.par_chunks_mut(self.width)
            .enumerate()
            .for_each(|(r, row)| self.row_into(r, row));
        out
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of panels.
    pub fn count(&self) -> usize {
        self.width.div_ceil(PANEL)
    }

    /// Panel `p`: `rows × PANEL`.
    pub fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.rows * PANEL..(p + 1) * self.rows * PANEL]
    }

    /// All panels, mutable, in order (`rows × PANEL` each).
    #[cfg(test)]
    pub fn panels_mut(&mut self) -> std::slice::ChunksMut<'_, f32> {
        let len = (self.rows * PANEL).max(1);
        self.data.chunks_mut(len)
    }

    /// The whole buffer (panel after panel), for parallel iteration by panel.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Copies row `r` (`width` values) into `out`.
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        for p in 0..self.count() {
            let p0 = p * PANEL;
            let pw = PANEL.min(self.width - p0);
            let start = p * self.rows * PANEL + r * PANEL;
            out[p0..p0 + pw].copy_from_slice(&self.data[start..start + pw]);
        }
    }
}

/// `out = A B` (row-major, `a.rows() × b.width()`) for sparse rows `a` and `B` as panels,
/// gathering panel by panel (the reference for [`spmm_rows_scatter`] in tests).
#[cfg(test)]
pub(crate) fn spmm_rows(a: SparseRows, b: &Panels, out: &mut [f32]) {
    let rows = a.rows();
    let width = b.width();
    debug_assert_eq!(out.len(), rows * width);
    let mut tmp = vec![0f32; rows * PANEL];
    for p in 0..b.count() {
        gather(a, b.panel(p), b.rows(), &mut tmp);
        let p0 = p * PANEL;
        let pw = PANEL.min(width - p0);
        for (o, t) in out.chunks_mut(width).zip(tmp.chunks(PANEL)) {
            o[p0..p0 + pw].copy_from_slice(&t[..pw]);
        }
    }
}

/// `out = A B` (row-major, `rows × b.width()`) given `at = Aᵀ` (one row per column of `A`)
/// and `B` as panels, scattering panel by panel: `B`'s rows are read in order, once per
/// panel, and the output panel (`rows × PANEL`) stays in cache. Same bits as [`spmm_rows`].
pub(crate) fn spmm_rows_scatter(at: SparseRows, rows: usize, b: &Panels, out: &mut [f32]) {
    let width = b.width();
    debug_assert_eq!(out.len(), rows * width);
    let mut tmp = vec![0f32; rows * PANEL];
    for p in 0..b.count() {
        scatter(at, b.panel(p), &mut tmp);
        let p0 = p * PANEL;
        let pw = PANEL.min(width - p0);
        for (o, t) in out.chunks_mut(width).zip(tmp.chunks(PANEL)) {
            o[p0..p0 + pw].copy_from_slice(&t[..pw]);
        }
    }
}

/// A small row-major matrix (`? × cols`) as contiguous column panels (zero-padded), for the
/// dense kernels.
pub(crate) fn to_panels<T: Copy + Default>(m: &[T], cols: usize) -> Vec<T> {
    if cols == 0 {
        return Vec::new();
    }
    let inner = m.len() / cols;
    let panels = cols.div_ceil(PANEL);
    let mut out = vec![T::default(); panels * inner * PANEL];
    for p in 0..panels {
        let p0 = p * PANEL;
        let pw = PANEL.min(cols - p0);
        for j in 0..inner {
            let dst = p * inner * PANEL + j * PANEL;
            out[dst..dst + pw].copy_from_slice(&m[j * cols + p0..j * cols + p0 + pw]);
        }
    }
    out
}

mod imp {
    use super::{SparseRows, INNER_CHUNK, PANEL, SCATTER_ROWS, TILE};

    /// Lanes per accumulator group: one AVX register of `f32`.
    const LANES: usize = 8;
    const GROUPS: usize = PANEL / LANES;
    type Acc = [[f32; LANES]; GROUPS];

    /// `acc += v * src`, written as independent 8-lane groups so the vectorizer maps each
    /// group onto one register.
    #[inline(always)]
    fn axpy_panel(acc: &mut Acc, v: f32, src: &[f32]) {
        for g in 0..GROUPS {
            let s: &[f32; LANES] = src[g * LANES..(g + 1) * LANES]
                .try_into()
                .expect("lane group");
            for l in 0..LANES {
                acc[g][l] += v * s[l];
            }
        }
    }

    #[inline(always)]
    fn load_acc(acc: &mut Acc, from: &[f32]) {
        for (i, &x) in from.iter().enumerate() {
            acc[i / LANES][i % LANES] = x;
        }
    }

    #[inline(always)]
    fn store_acc(acc: &Acc, to: &mut [f32]) {
        for (i, x) in to.iter_mut().enumerate() {
            *x = acc[i / LANES][i % LANES];
        }
    }

    /// `out = A B` for one panel: `B`'s panel is `inner × PANEL`, `out` is `rows × PANEL`.
    /// Tiled by inner-index chunk so the part of the panel being read stays in cache while
    /// all rows use it. Each output element is one sequential `f32` sum over the row's
    /// non-zeros in column order, whether the running sum sits in a register or in `out`.
    #[inline(always)]
    pub(super) fn gather(a: SparseRows, panel: &[f32], inner: usize, out: &mut [f32]) {
        let rows = a.rows();
        debug_assert_eq!(out.len(), rows * PANEL);
        out.iter_mut().for_each(|x| *x = 0.0);
        let mut cursor: Vec<usize> = a.indptr[..rows].to_vec();
        let mut chunk_end = 0;
        while chunk_end < inner {
            chunk_end = (chunk_end + INNER_CHUNK).min(inner);
            let limit = chunk_end as u32;
            for r in 0..rows {
                let end = a.indptr[r + 1];
                let mut k = cursor[r];
                if k == end || a.indices[k] >= limit {
                    continue;
                }
                let o = &mut out[r * PANEL..(r + 1) * PANEL];
                let mut acc: Acc = [[0f32; LANES]; GROUPS];
                load_acc(&mut acc, o);
                while k < end && a.indices[k] < limit {
                    let (j, v) = (a.indices[k] as usize, a.values[k]);
                    axpy_panel(&mut acc, v, &panel[j * PANEL..(j + 1) * PANEL]);
                    k += 1;
                }
                store_acc(&acc, o);
                cursor[r] = k;
            }
        }
    }

    /// `out = A B` for one panel, driven by `Aᵀ` (`at`, one row per column of `A`, entries
    /// sorted by row of `A`): each row of `B`'s panel is read in order and added into the
    /// output rows that use it. Output rows are done in ranges of `SCATTER_ROWS` (one pass over
    /// `at` each, with a cursor per column) so the part of `out` being updated stays in L2.
    /// Output element `(i, t)` receives its terms in increasing column order of `A`, exactly
    /// the order of [`gather`], so both give the same bits.
    #[inline(always)]
    pub(super) fn scatter(at: SparseRows, panel: &[f32], out: &mut [f32]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        let rows = out.len() / PANEL;
        let cols = at.rows();
        let mut cursor: Vec<usize> = at.indptr[..cols].to_vec();
        let mut range_end = 0;
        while range_end < rows {
            range_end = (range_end + SCATTER_ROWS).min(rows);
            let limit = range_end as u32;
            for j in 0..cols {
                let end = at.indptr[j + 1];
                let mut k = cursor[j];
                if k == end || at.indices[k] >= limit {
                    continue;
                }
                let b = &panel[j * PANEL..(j + 1) * PANEL];
                while k < end && at.indices[k] < limit {
                    let (i, v) = (at.indices[k] as usize, at.values[k]);
                    let o = &mut out[i * PANEL..(i + 1) * PANEL];
                    for g in 0..GROUPS {
                        let src: &[f32; LANES] = b[g * LANES..(g + 1) * LANES]
                            .try_into()
                            .expect("lane group");
                        let dst: &mut [f32; LANES] = (&mut o[g * LANES..(g + 1) * LANES])
                            .try_into()
                            .expect("lane group");
                        for l in 0..LANES {
                            dst[l] += v * src[l];
                        }
                    }
                    k += 1;
                }
                cursor[j] = k;
            }
        }
    }

    /// `out = X M` (`f32` sums) for row-major `X` (`? × width`) and `M` (`width × cols`) given
    /// as panels; each element sums over `a` in order, skipping zeros of `X`.
    #[inline(always)]
    pub(super) fn dense_f32(x: &[f32], width: usize, panels: &[f32], cols: usize, out: &mut [f32]) {
        for (p, panel) in panels.chunks(width * PANEL).enumerate() {
            let p0 = p * PANEL;
            let pw = PANEL.min(cols - p0);
            for (xr, o) in x.chunks(width).zip(out.chunks_mut(cols)) {
                let mut acc: Acc = [[0f32; LANES]; GROUPS];
                for (a, &v) in xr.iter().enumerate() {
                    if v != 0.0 {
                        axpy_panel(&mut acc, v, &panel[a * PANEL..(a + 1) * PANEL]);
                    }
                }
                store_acc(&acc, &mut o[p0..p0 + pw]);
            }
        }
    }

    /// Like [`dense_f32`] with an `f64` matrix and `f64` sums (rounded to `f32` at the end).
    /// With `upper`, `M` is upper triangular and rows of `M` below a panel are skipped.
    #[inline(always)]
    pub(super) fn dense_f64(
        x: &[f32],
        width: usize,
        panels: &[f64],
        cols: usize,
        upper: bool,
        out: &mut [f32],
    ) {
        for (p, panel) in panels.chunks(width * PANEL).enumerate() {
            let p0 = p * PANEL;
            let pw = PANEL.min(cols - p0);
            let last = if upper { (p0 + pw).min(width) } else { width };
            for (xr, o) in x.chunks(width).zip(out.chunks_mut(cols)) {
                let mut acc = [0f64; PANEL];
                for (a, &v) in xr[..last].iter().enumerate() {
                    if v != 0.0 {
                        let v = v as f64;
                        let src: &[f64; PANEL] = panel[a * PANEL..(a + 1) * PANEL]
                            .try_into()
                            .expect("panel row");
                        for t in 0..PANEL {
                            acc[t] += v * src[t];
                        }
                    }
                }
                for (o, &s) in o[p0..p0 + pw].iter_mut().zip(&acc) {
                    *o = s as f32;
                }
            }
        }
    }

    /// One `TILE × TILE` tile of `Xᵀ Y` (rows `a0..`, columns `b0..`, clipped at `width`;
    /// entries past the clip are left as junk zeros) over all rows of the row-major `X` and
    /// `Y`, summed in `f64` row by row in order. Rows go in blocks converted to `f64` once; a
    /// 2 × 16 block of the tile is accumulated in registers across the rows of a block.
    #[inline(always)]
    pub(super) fn cross_tile(
        x: &[f32],
        y: &[f32],
        width: usize,
        a0: usize,
        b0: usize,
        tile: &mut [f64],
    ) {
        const ROWS: usize = 64;
        const MB: usize = 16;
        debug_assert_eq!(tile.len(), TILE * TILE);
        let aw = TILE.min(width - a0);
        let bw = TILE.min(width - b0);
        tile.iter_mut().for_each(|t| *t = 0.0);
        let rows = x.len() / width;
        let mut xb = [[0f64; TILE]; ROWS];
        let mut yb = [[0f64; TILE]; ROWS];
        let mut r0 = 0;
        while r0 < rows {
            let rn = ROWS.min(rows - r0);
            for r in 0..rn {
                let (xr, yr) = ((r0 + r) * width, (r0 + r) * width);
                for (d, &s) in xb[r].iter_mut().zip(&x[xr + a0..xr + a0 + aw]) {
                    *d = s as f64;
                }
                for (d, &s) in yb[r].iter_mut().zip(&y[yr + b0..yr + b0 + bw]) {
                    *d = s as f64;
                }
            }
            for a in (0..TILE).step_by(2) {
                for j0 in (0..TILE).step_by(MB) {
                    let mut acc0: [f64; MB] = tile[a * TILE + j0..a * TILE + j0 + MB]
                        .try_into()
                        .expect("tile row");
                    let mut acc1: [f64; MB] = tile[(a + 1) * TILE + j0..(a + 1) * TILE + j0 + MB]
                        .try_into()
                        .expect("tile row");
                    for r in 0..rn {
                        let (x0, x1) = (xb[r][a], xb[r][a + 1]);
                        let yv: &[f64; MB] = yb[r][j0..j0 + MB].try_into().expect("tile row");
                        for t in 0..MB {
                            acc0[t] += x0 * yv[t];
                            acc1[t] += x1 * yv[t];
                        }
                    }
                    tile[a * TILE + j0..a * TILE + j0 + MB].copy_from_slice(&acc0);
                    tile[(a + 1) * TILE + j0..(a + 1) * TILE + j0 + MB].copy_from_slice(&acc1);
                }
            }
            r0 += rn;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen::<f32>() * 2.0 - 1.0).collect()
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    fn sparse(
        rows: usize,
        cols: usize,
        per_row: usize,
        seed: u64,
    ) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for _ in 0..rows {
            let mut c: Vec<u32> = (0..per_row)
                .map(|_| rng.gen_range(0..cols as u32))
                .collect();
            c.sort_unstable();
            c.dedup();
            for j in c {
                indices.push(j);
                values.push(rng.gen::<f32>());
            }
            indptr.push(indices.len());
        }
        (indptr, indices, values)
    }

    /// The transpose of a CSR matrix (entries sorted by row within each column).
    fn transpose(
        rows: usize,
        cols: usize,
        (indptr, indices, values): &(Vec<usize>, Vec<u32>, Vec<f32>),
    ) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
        let mut per_col: Vec<Vec<(u32, f32)>> = vec![Vec::new(); cols];
        for r in 0..rows {
            for k in indptr[r]..indptr[r + 1] {
                per_col[indices[k] as usize].push((r as u32, values[k]));
            }
        }
        let mut tp = vec![0];
        let (mut ti, mut tv) = (Vec::new(), Vec::new());
        for c in per_col {
            for (r, v) in c {
                ti.push(r);
                tv.push(v);
            }
            tp.push(ti.len());
        }
        (tp, ti, tv)
    }

    /// Gather and scatter agree bit for bit with a plain loop summing in column order, and the
    /// AVX2 build of every kernel gives the same bits as the baseline build.
    #[test]
    fn kernels_agree_bit_for_bit() {
        // Few long rows over many columns (chunked gather), and more rows than one scatter
        // pass covers.
        for (rows, inner, per_row) in [(37, 5000, 60), (SCATTER_ROWS * 2 + 100, 300, 6)] {
            check_kernels(rows, inner, per_row);
        }
    }

    fn check_kernels(rows: usize, inner: usize, per_row: usize) {
        let width = 70;
        let csr = sparse(rows, inner, per_row, 3);
        let csc = transpose(rows, inner, &csr);
        let a = SparseRows {
            indptr: &csr.0,
            indices: &csr.1,
            values: &csr.2,
        };
        let at = SparseRows {
            indptr: &csc.0,
            indices: &csc.1,
            values: &csc.2,
        };
        let b = random(inner * width, 4);
        let bp = Panels::from_row_major(&b, width);
        assert_eq!(bp.to_row_major(), b);
        let mut gathered = vec![0f32; rows * width];
        spmm_rows(a, &bp, &mut gathered);
        let mut scattered = Panels::zeros(rows, width);
        for (p, out) in scattered.panels_mut().enumerate() {
            imp::scatter(at, bp.panel(p), out);
        }
        assert_eq!(bits(&scattered.to_row_major()), bits(&gathered));
        for r in 0..rows {
            for c in 0..width {
                let mut s = 0f32;
                for k in csr.0[r]..csr.0[r + 1] {
                    s += csr.2[k] * b[csr.1[k] as usize * width + c];
                }
                assert_eq!(s.to_bits(), gathered[r * width + c].to_bits());
            }
        }
        let x = random(rows * width, 5);
        let m = random(width * 50, 6);
        let mp = to_panels(&m, 50);
        let mut d32 = vec![0f32; rows * 50];
        imp::dense_f32(&x, width, &mp, 50, &mut d32);
        let m64: Vec<f64> = m.iter().map(|&v| v as f64).collect();
        let mp64 = to_panels(&m64, 50);
        let mut d64 = vec![0f32; rows * 50];
        imp::dense_f64(&x, width, &mp64, 50, false, &mut d64);
        for (r, row) in d64.chunks(50).enumerate() {
            for (c, &got) in row.iter().enumerate() {
                let want: f64 = (0..width)
                    .map(|a| x[r * width + a] as f64 * m64[a * 50 + c])
                    .sum();
                assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
            }
        }
        let y = random(rows * width, 7);
        let mut tile = vec![0f64; TILE * TILE];
        imp::cross_tile(&x, &y, width, 32, 64, &mut tile);
        // A clipped tile (columns 64..70) against a plain sum over rows in order.
        for a in 0..TILE {
            for b in 0..width - 64 {
                let mut s = 0f64;
                for r in 0..rows {
                    s += x[r * width + 32 + a] as f64 * y[r * width + 64 + b] as f64;
                }
                assert_eq!(s.to_bits(), tile[a * TILE + b].to_bits());
            }
        }

        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            for p in 0..bp.count() {
                let mut base = vec![0f32; rows * PANEL];
                imp::gather(a, bp.panel(p), inner, &mut base);
                let mut v = vec![0f32; rows * PANEL];
                unsafe { gather_avx2(a, bp.panel(p), inner, &mut v) };
                assert_eq!(bits(&v), bits(&base));
                unsafe { scatter_avx2(at, bp.panel(p), &mut v) };
                assert_eq!(bits(&v), bits(&base));
            }
            let mut v = vec![0f32; rows * 50];
            unsafe { dense_f32_avx2(&x, width, &mp, 50, &mut v) };
            assert_eq!(bits(&v), bits(&d32));
            let mut v = vec![0f32; rows * 50];
            unsafe { dense_f64_avx2(&x, width, &mp64, 50, false, &mut v) };
            assert_eq!(bits(&v), bits(&d64));
            let mut t = vec![0f64; TILE * TILE];
            unsafe { cross_tile_avx2(&x, &y, width, 32, 64, &mut t) };
            assert_eq!(
                t.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                tile.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
