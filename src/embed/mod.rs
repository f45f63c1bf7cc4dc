//! Text → vectors. Every backend implements [`Embedder`]; analyses only see a [`Matrix`] of
//! L2-normalized rows.

use crate::error::Result;
use crate::matrix::Matrix;
use crate::progress::Progress;

pub mod api;
pub mod combined;
pub mod hashing;
mod kernels;
pub mod precomputed;
pub mod sparse;
pub mod static_model;
pub mod svd;
mod wordpiece;

/// Embeds a corpus. Backends that learn from the corpus (IDF weights, SVD) fit on `texts`
/// themselves, so texts that must share one space (tests and production) go in one call.
pub trait Embedder: Send + Sync {
    /// A short name for reports (`hash-tfidf-svd256`, `precomputed`, ...).
    fn name(&self) -> String;
    /// One L2-normalized row per text, in order. Same input and seed give the same bits.
    fn embed(&self, texts: &[&str], progress: &Progress) -> Result<Matrix>;
    /// The output dimension when it is known before embedding (a fixed model), so callers
    /// can allocate once.
    fn dims(&self) -> Option<usize> {
        None
    }
    /// Writes each text's row, times `scale`, into columns `offset..` of `out` (one row per
    /// text). The default embeds and copies; an embedder that can write in place overrides it,
    /// so that a caller filling a wider matrix never holds a second one of the whole corpus.
    fn embed_into(
        &self,
        texts: &[&str],
        out: &mut Matrix,
        offset: usize,
        scale: f32,
        progress: &Progress,
    ) -> Result<()> {
        let rows = self.embed(texts, progress)?;
        assert_eq!(rows.rows(), out.rows(), "one output row per text");
        for i in 0..rows.rows() {
            let part = &mut out.row_mut(i)[offset..offset + rows.cols()];
            for (o, &x) in part.iter_mut().zip(rows.row(i)) {
                *o = x * scale;
            }
        }
        Ok(())
    }
}
