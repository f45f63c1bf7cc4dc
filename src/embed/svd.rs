//! Randomized truncated SVD of a sparse matrix.
