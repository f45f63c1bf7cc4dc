//! A dense row-major `f32` matrix: the embeddings every analysis shares.
//! Hand-written because the analyses only need contiguous rows to hand to rayon and BLAS-free
//! dot products; `ndarray` views are built from it where a crate wants one.

#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Panics if `data.len() != rows * cols` (a programming error, not an input error).
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix data has the wrong length");
        Matrix { rows, cols, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Rows selected by index, in the order given.
    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Matrix::from_vec(indices.len(), self.cols, data)
    }

    /// Scales every row to unit L2 norm (all-zero rows stay zero).
    pub fn normalize_rows(&mut self) {
        use rayon::prelude::*;
        if self.cols == 0 {
            return;
        }
        self.data.par_chunks_mut(self.cols).for_each(normalize);
    }
}

/// Scales a vector to unit L2 norm in place; a zero vector stays zero.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Squared Euclidean distance summed in eight interleaved lanes, then the lanes in order. The
/// compiler may not reorder [`squared_distance`]'s left-to-right sum, so that one stays scalar;
/// this one becomes vector instructions. Same order on every CPU, so the same bits.
#[inline(always)]
pub fn squared_distance_lanes(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let mut lanes = [0f32; LANES];
    for (x, y) in a_chunks.zip(b_chunks) {
        for l in 0..LANES {
            let d = x[l] - y[l];
            lanes[l] += d * d;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_in_lanes_matches_the_plain_sum() {
        // 8-lane chunks and a tail of 3; exact small integers, so both orders give equal bits
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..19).map(|i| (i * i % 7) as f32).collect();
        assert_eq!(squared_distance_lanes(&a, &b), squared_distance(&a, &b));
        assert_eq!(
            squared_distance_lanes(&a[..5], &b[..5]),
            squared_distance(&a[..5], &b[..5])
        );
        assert_eq!(squared_distance_lanes(&[], &[]), 0.0);
    }
}
