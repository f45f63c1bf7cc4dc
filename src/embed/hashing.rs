//! The built-in offline embedder: hashed word and character n-grams, TF-IDF, truncated SVD.
