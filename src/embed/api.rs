//! Embeddings from an OpenAI-compatible server (`--embedder api`).

use super::Embedder;
use crate::api::{embeddings, Cache, Client};
use crate::error::Result;
use crate::matrix::Matrix;
use crate::progress::Progress;

pub struct ApiEmbedder {
    client: Client,
    cache: Option<Cache>,
    model: String,
}

impl ApiEmbedder {
    pub fn new(config: crate::api::ApiConfig, model: impl Into<String>) -> Self {
        let cache = config.cache_dir.clone().map(Cache::new);
        ApiEmbedder {
            client: Client::new(config),
            cache,
            model: model.into(),
        }
    }
}

impl Embedder for ApiEmbedder {
    fn name(&self) -> String {
        format!("api:{}", self.model)
    }

    /// L2-normalized server embeddings. A text that is empty (not sent) or comes back as a
    /// zero vector gets the last basis vector, as the built-in embedders give an empty text.
    fn embed(&self, texts: &[&str], progress: &Progress) -> Result<Matrix> {
        let vectors = embeddings::embed(
            &self.client,
            self.cache.as_ref(),
            &self.model,
            texts,
            progress,
        )?;
        let dims = vectors.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut data = Vec::with_capacity(texts.len() * dims);
        for v in &vectors {
            if v.len() == dims && v.iter().any(|&x| x != 0.0) {
                data.extend_from_slice(v);
            } else {
                let start = data.len();
                data.resize(start + dims, 0.0);
                data[start + dims - 1] = 1.0;
            }
        }
        let mut m = Matrix::from_vec(texts.len(), dims, data);
        m.normalize_rows();
        Ok(m)
    }
}
