//! Two embedders side by side (`--embedder hash+static`): the word-level embedder fitted on
//! the corpus knows its topical vocabulary, the static model knows paraphrases.
//!
//! Each row is the concatenation of both rows (each L2-normalized), scaled by `sqrt(w)` and
//! `sqrt(1 - w)`. The result is unit length, and its cosine similarity is exactly the weighted
//! mean `w·cos_a + (1 - w)·cos_b` of the two embedders' similarities.

use super::Embedder;
use crate::error::Result;
use crate::matrix::Matrix;
use crate::progress::Progress;

pub struct CombinedEmbedder {
    pub first: Box<dyn Embedder>,
    pub second: Box<dyn Embedder>,
    /// Weight of the first embedder's similarity, in [0, 1].
    pub weight: f32,
}

impl Embedder for CombinedEmbedder {
    fn name(&self) -> String {
        format!("{}+{}", self.first.name(), self.second.name())
    }

    fn embed(&self, texts: &[&str], progress: &Progress) -> Result<Matrix> {
        let (wa, wb) = (self.weight.sqrt(), (1.0 - self.weight).sqrt());
        // Both widths known up front (the built-in embedders): each part is written in place
        // into one wide matrix, so at a million rows the peak holds the output alone.
        if let (Some(a_cols), Some(b_cols)) = (self.first.dims(), self.second.dims()) {
            let mut out = Matrix::zeros(texts.len(), a_cols + b_cols);
            self.first.embed_into(texts, &mut out, 0, wa, progress)?;
            self.second
                .embed_into(texts, &mut out, a_cols, wb, progress)?;
            return Ok(out);
        }
        let a = self.first.embed(texts, progress)?;
        let b = self.second.embed(texts, progress)?;
        Ok(concatenate(&a, wa, &b, wb))
    }

    fn dims(&self) -> Option<usize> {
        Some(self.first.dims()? + self.second.dims()?)
    }
}

/// Rows of `a` scaled by `wa` followed by rows of `b` scaled by `wb`.
fn concatenate(a: &Matrix, wa: f32, b: &Matrix, wb: f32) -> Matrix {
    let cols = a.cols() + b.cols();
    let mut data = Vec::with_capacity(a.rows() * cols);
    for i in 0..a.rows() {
        data.extend(a.row(i).iter().map(|x| x * wa));
        data.extend(b.row(i).iter().map(|x| x * wb));
    }
    Matrix::from_vec(a.rows(), cols, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::{HashingConfig, HashingEmbedder};
    use crate::embed::static_model::StaticEmbedder;
    use crate::matrix::dot;

    #[test]
    fn similarity_is_the_weighted_mean_of_both() {
        let texts = [
            "reset my password",
            "I forgot my login credentials",
            "book a flight to Paris",
            "refund for a cancelled order",
        ];
        let hash = || Box::new(HashingEmbedder::new(HashingConfig::default()));
        let combined = CombinedEmbedder {
            first: hash(),
            second: Box::new(StaticEmbedder::builtin().unwrap()),
            weight: 0.3,
        };
        let p = Progress::hidden();
        let m = combined.embed(&texts, &p).unwrap();
        let a = hash().embed(&texts, &p).unwrap();
        let b = StaticEmbedder::builtin()
            .unwrap()
            .embed(&texts, &p)
            .unwrap();
        // Written in place, the parts are the same bits as the scaled parts side by side.
        let (wa, wb) = (combined.weight.sqrt(), (1.0 - combined.weight).sqrt());
        let side_by_side = concatenate(&a, wa, &b, wb);
        let bits = |m: &Matrix| m.as_slice().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&m), bits(&side_by_side));
        for i in 0..texts.len() {
            assert!((dot(m.row(i), m.row(i)) - 1.0).abs() < 1e-5);
            for j in 0..texts.len() {
                let want = 0.3 * dot(a.row(i), a.row(j)) + 0.7 * dot(b.row(i), b.row(j));
                assert!((dot(m.row(i), m.row(j)) - want).abs() < 1e-5);
            }
        }
        assert_eq!(
            combined.name(),
            format!(
                "{}+{}",
                hash().name(),
                StaticEmbedder::builtin().unwrap().name()
            )
        );
    }
}
