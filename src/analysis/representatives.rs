//! Picking the rows that stand for a group (a slice, a gap): those nearest its centroid.

use crate::matrix::{dot, Matrix};

/// The group's rows ordered by cosine similarity to the group's centroid, nearest first
/// (ties by row order, for determinism). `embeddings` rows are L2-normalized.
pub fn nearest_to_centroid(embeddings: &Matrix, rows: &[usize]) -> Vec<usize> {
    let dims = embeddings.cols();
    let mut centroid = vec![0.0f32; dims];
    for &i in rows {
        for (c, x) in centroid.iter_mut().zip(embeddings.row(i)) {
            *c += x;
        }
    }
    let mut scored: Vec<(f32, usize)> = rows
        .iter()
        .map(|&i| (dot(&centroid, embeddings.row(i)), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// The first `n` rows of `order` with distinct prompts (a prompt repeated in the traffic is
/// shown once).
pub fn distinct_prompts(prompts: &[&str], order: &[usize], n: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(n);
    for &i in order {
        if out.len() == n {
            break;
        }
        if !out.iter().any(|&j| prompts[j] == prompts[i]) {
            out.push(i);
        }
    }
    out
}
