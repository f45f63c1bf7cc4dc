//! Embeddings given in the input (`embedding` field).
//!
//! [`PrecomputedEmbedder`] holds the rows' vectors and hands them out as an [`super::Embedder`],
//! so analyses need not know where embeddings came from.

use crate::error::{Error, Result};
use crate::matrix::Matrix;

/// The rows' own vectors as an [`Embedder`], so analyses treat them like any backend.
#[derive(Debug, Clone, Default)]
pub struct PrecomputedEmbedder {
    vectors: Vec<Vec<f32>>,
}

impl PrecomputedEmbedder {
    /// Checks the vectors now (see [`from_vectors`]) so a bad input fails before any work.
    pub fn new(vectors: Vec<Vec<f32>>) -> Result<Self> {
        from_vectors(&vectors[..vectors.len().min(1)])?;
        Ok(PrecomputedEmbedder { vectors })
    }
}

impl super::Embedder for PrecomputedEmbedder {
    fn name(&self) -> String {
        "precomputed".to_string()
    }

    fn embed(&self, texts: &[&str], _progress: &crate::progress::Progress) -> Result<Matrix> {
        if texts.len() != self.vectors.len() {
            return Err(Error::Analysis(format!(
                "{} texts but {} precomputed embeddings",
                texts.len(),
                self.vectors.len()
            )));
        }
        from_vectors(&self.vectors)
    }
}

/// One L2-normalized row per given vector. Every vector must have the same, non-zero length
/// and only finite values; an all-zero vector is an error too (it has no direction). Errors
/// name the first offending row (0-based index into `vectors`); callers that know the file
/// and line should map it.
pub fn from_vectors(vectors: &[Vec<f32>]) -> Result<Matrix> {
    let Some(first) = vectors.first() else {
        return Ok(Matrix::zeros(0, 0));
    };
    let dims = first.len();
    if dims == 0 {
        return Err(Error::Analysis("embedding of row 0 is empty".into()));
    }
    let mut data = Vec::with_capacity(vectors.len() * dims);
    for (i, v) in vectors.iter().enumerate() {
        if v.len() != dims {
            return Err(Error::Analysis(format!(
                "embedding of row {i} has {} dimensions, expected {dims} like row 0",
                v.len()
            )));
        }
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(Error::Analysis(format!(
                "embedding of row {i} has a non-finite value ({x})"
            )));
        }
        // The norm in f64: squares of tiny or huge f32 values would under- or overflow.
        let norm = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(Error::Analysis(format!(
                "embedding of row {i} is all zeros"
            )));
        }
        data.extend(v.iter().map(|&x| (x as f64 / norm) as f32));
    }
    Ok(Matrix::from_vec(vectors.len(), dims, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_rows() {
        let m = from_vectors(&[vec![3.0, 4.0], vec![0.0, -2.0]]).unwrap();
        assert_eq!(m.row(0), &[0.6, 0.8]);
        assert_eq!(m.row(1), &[0.0, -1.0]);
    }

    #[test]
    fn rejects_bad_vectors() {
        let err = from_vectors(&[vec![1.0, 0.0], vec![1.0]]).unwrap_err();
        assert!(
            err.to_string()
                .contains("row 1 has 1 dimensions, expected 2"),
            "{err}"
        );
        assert!(from_vectors(&[vec![]]).is_err());
        assert!(from_vectors(&[vec![1.0, f32::NAN]]).is_err());
        assert!(from_vectors(&[vec![0.0, 0.0]]).is_err());
        assert_eq!(from_vectors(&[]).unwrap().rows(), 0);
    }

    #[test]
    fn tiny_and_huge_values_still_normalize() {
        for x in [1e-30f32, 3e30] {
            let m = from_vectors(&[vec![x, x]]).unwrap();
            let norm: f32 = m.row(0).iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-6, "{x}: {norm}");
        }
    }
}
