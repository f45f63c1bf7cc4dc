//! Embeddings given in the input (`embedding` field).
