//! The sparse matrix the embedder builds and the SVD consumes.

use super::kernels::SparseRows;

/// A sparse matrix in compressed sparse row form with `f32` values.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    rows: usize,
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl CsrMatrix {
    /// Panics when the arrays are inconsistent (a programming error): `indptr` must have
    /// `rows + 1` non-decreasing entries ending at `indices.len()`, and every index must be
    /// below `cols`. Column indices within a row need not be sorted (they are sorted here);
    /// duplicates add up.
    pub fn new(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
    ) -> Self {
        assert_eq!(indptr.len(), rows + 1, "indptr must have rows + 1 entries");
        assert_eq!(indptr[0], 0, "indptr must start at 0");
        assert!(
            indptr.windows(2).all(|w| w[0] <= w[1]),
            "indptr must not decrease"
        );
        assert_eq!(indptr[rows], indices.len(), "indptr must end at nnz");
        assert_eq!(
            indices.len(),
            values.len(),
            "indices and values differ in length"
        );
        assert!(
            indices.iter().all(|&j| (j as usize) < cols),
            "column index out of range"
        );
        let mut m = CsrMatrix {
            rows,
            cols,
            indptr,
            indices,
            values,
        };
        m.sort_rows();
        m
    }

    /// Sorts each row's entries by column (stable, so duplicates keep their order).
    fn sort_rows(&mut self) {
        let mut pairs: Vec<(u32, f32)> = Vec::new();
        for i in 0..self.rows {
            let range = self.indptr[i]..self.indptr[i + 1];
            if self.indices[range.clone()].windows(2).all(|w| w[0] <= w[1]) {
                continue;
            }
            pairs.clear();
            pairs.extend(
                self.indices[range.clone()]
                    .iter()
                    .copied()
                    .zip(self.values[range.clone()].iter().copied()),
            );
            pairs.sort_by_key(|p| p.0);
            for (k, (j, v)) in range.zip(&pairs) {
                self.indices[k] = *j;
                self.values[k] = *v;
            }
        }
    }

    /// A sparse copy of a dense row-major matrix (zeros dropped); mainly for tests.
    pub fn from_dense(rows: usize, cols: usize, data: &[f32]) -> Self {
        assert_eq!(data.len(), rows * cols, "dense data has the wrong length");
        let mut indptr = Vec::with_capacity(rows + 1);
        let mut indices = Vec::new();
        let mut values = Vec::new();
        indptr.push(0);
        for row in data.chunks(cols.max(1)).take(rows) {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    indices.push(j as u32);
                    values.push(v);
                }
            }
            indptr.push(indices.len());
        }
        CsrMatrix::new(rows, cols, indptr, indices, values)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices and values of row `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[range.clone()], &self.values[range])
    }

    /// Rows `first..first + rows` as a kernel block.
    pub(crate) fn block(&self, first: usize, rows: usize) -> SparseRows<'_> {
        SparseRows {
            indptr: &self.indptr[first..=first + rows],
            indices: &self.indices,
            values: &self.values,
        }
    }

    /// The transpose, also in CSR form (a counting sort; row order is kept within columns).
    pub fn transpose(&self) -> CsrMatrix {
        let mut counts = vec![0usize; self.cols + 1];
        for &j in &self.indices {
            counts[j as usize + 1] += 1;
        }
        for j in 0..self.cols {
            counts[j + 1] += counts[j];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for i in 0..self.rows {
            let (cols, vals) = self.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                let slot = &mut next[j as usize];
                indices[*slot] = i as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        CsrMatrix {
            rows: self.cols,
            cols: self.rows,
            indptr,
            indices,
            values,
        }
    }

    /// Column means (as `f64`, summed row by row in order).
    pub fn column_means(&self) -> Vec<f64> {
        let mut sums = vec![0f64; self.cols];
        for (&j, &v) in self.indices.iter().zip(&self.values) {
            sums[j as usize] += v as f64;
        }
        if self.rows > 0 {
            let n = self.rows as f64;
            sums.iter_mut().for_each(|s| *s /= n);
        }
        sums
    }
}
