//! Exact nearest-neighbour search between two sets of L2-normalized embeddings, as blocked
//! matrix products.
//!
//! Every search here is "for each query row, fold over its similarities to all reference
//! rows". Rows are taken in chunks of [`QUERY_ROWS`] queries (the unit of rayon parallelism)
//! against tiles of [`REF_ROWS`] references; each chunk × tile block of cosine similarities is
//! one `sgemm` (ndarray's `general_mat_mul`, i.e. the `matrixmultiply` crate, which packs the
//! operands and runs a vectorized micro-kernel), then the block is folded in vectorizable passes.
//! At 10k × 10k this is about 9× faster than a per-pair loop with a vectorizable dot product
//! and 28× faster than one calling `matrix::dot` (docs/benchmarks.md, `faultmap-bench
//! --nearest`).
//!
//! Determinism: chunk and tile boundaries depend only on the row counts, never on the thread
//! count; a block's values do not depend on which thread computes it; and every fold is a max
//! or a count with ties broken by the lower index, so the results are the same bits whatever
//! the scheduling.

use crate::matrix::Matrix;
use crate::progress::Progress;
use ndarray::{linalg::general_mat_mul, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;
use xxhash_rust::xxh3::xxh3_64;

/// Query rows per parallel work item.
const QUERY_ROWS: usize = 512;
/// Reference rows per product. A 512 × 1024 block of `f32` is 2 MiB: at 100k × 10k, 512 query
/// rows instead of 256 halve how often each reference tile is packed, and the whole command
/// took 7-10% less time (docs/benchmarks.md), with the same bits.
const REF_ROWS: usize = 1024;

/// The query rows of a search: all rows of a matrix, or the listed ones. A subset is gathered
/// one chunk at a time, so searching part of a large matrix never copies the whole part.
#[derive(Clone, Copy)]
pub struct Queries<'a> {
    matrix: &'a Matrix,
    subset: Option<&'a [usize]>,
}

impl<'a> Queries<'a> {
    pub fn all(matrix: &'a Matrix) -> Self {
        Queries {
            matrix,
            subset: None,
        }
    }

    /// The listed rows of `matrix`, in the order given.
    pub fn rows(matrix: &'a Matrix, rows: &'a [usize]) -> Self {
        Queries {
            matrix,
            subset: Some(rows),
        }
    }

    fn len(&self) -> usize {
        self.subset.map_or(self.matrix.rows(), <[usize]>::len)
    }
}

/// Cosine distance `1 - similarity`, clamped to [0, 2] (rounding can leave a similarity a hair
/// above 1; no similarity at all, `-inf`, is the farthest, 2).
pub fn cosine_distance(similarity: f32) -> f64 {
    (1.0 - similarity as f64).clamp(0.0, 2.0)
}

/// The most similar reference row of a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    /// Index into the reference rows; `None` when there was no eligible reference.
    pub index: Option<usize>,
    /// Cosine similarity to it (`-inf` when `index` is `None`).
    pub similarity: f32,
}

impl Nearest {
    const NONE: Nearest = Nearest {
        index: None,
        similarity: f32::NEG_INFINITY,
    };

    /// [`cosine_distance`] of its similarity; `None` when there was no reference.
    pub fn distance(&self) -> Option<f64> {
        self.index.map(|_| cosine_distance(self.similarity))
    }

    /// Keeps the better of `self` and (`index`, `similarity`): higher similarity, then lower
    /// index, so the result does not depend on the order candidates arrive in.
    fn offer(&mut self, index: usize, similarity: f32) {
        let better = match self.index {
            None => true,
            Some(current) => {
                similarity > self.similarity || (similarity == self.similarity && index < current)
            }
        };
        if better {
            *self = Nearest {
                index: Some(index),
                similarity,
            };
        }
    }
}

/// Calls `visit(first_query, first_ref, block)` for every block of similarities, where
/// `block[r * width + c]` is the similarity of query `first_query + r` to reference
/// `first_ref + c`, and `width` is the tile's row count. Chunks of queries run in parallel;
/// `init` makes each chunk's state and `visit` gets it mutably. Returns the states in query
/// chunk order.
fn fold_blocks<S, I, V>(
    queries: Queries,
    references: &Matrix,
    progress: &Progress,
    message: &str,
    init: I,
    visit: V,
) -> Vec<S>
where
    S: Send,
    I: Fn(usize, usize) -> S + Sync,
    V: Fn(&mut S, usize, usize, &[f32], usize) + Sync,
{
    assert_eq!(
        queries.matrix.cols(),
        references.cols(),
        "embeddings of different dimensions"
    );
    let dims = references.cols();
    let total = queries.len();
    let chunks = total.div_ceil(QUERY_ROWS);
    let bar = progress.bar(total as u64, message);
    let states = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let start = chunk * QUERY_ROWS;
            let rows = QUERY_ROWS.min(total - start);
            let mut state = init(start, rows);
            let gathered;
            let q_data = match queries.subset {
                None => &queries.matrix.as_slice()[start * dims..(start + rows) * dims],
                Some(subset) => {
                    gathered = subset[start..start + rows]
                        .iter()
                        .flat_map(|&i| queries.matrix.row(i))
                        .copied()
                        .collect::<Vec<f32>>();
                    &gathered
                }
            };
            let q = ArrayView2::from_shape((rows, dims), q_data).expect("query block shape");
            let mut block = vec![0.0f32; rows * REF_ROWS];
            for first_ref in (0..references.rows()).step_by(REF_ROWS) {
                let width = REF_ROWS.min(references.rows() - first_ref);
                let r = ArrayView2::from_shape(
                    (width, dims),
                    &references.as_slice()[first_ref * dims..(first_ref + width) * dims],
                )
                .expect("reference block shape");
                let out = &mut block[..rows * width];
                let mut c = ArrayViewMut2::from_shape((rows, width), &mut *out)
                    .expect("product block shape");
                general_mat_mul(1.0, &q, &r.t(), 0.0, &mut c);
                visit(&mut state, start, first_ref, out, width);
            }
            bar.inc(rows as u64);
            state
        })
        .collect();
    bar.finish_and_clear();
    states
}

/// For each row of `a`, its nearest row of `b`; and for each row of `b`, its nearest row of
/// `a`. One pass of products serves both directions.
pub fn nearest_both_ways(
    a: &Matrix,
    b: &Matrix,
    progress: &Progress,
) -> (Vec<Nearest>, Vec<Nearest>) {
    let found = nearest_both_ways_of(Queries::all(a), b, progress);
    (found.a_to_b, found.b_to_a)
}

/// The answer of a both-ways search.
pub struct BothWaysNearest {
    /// Each row of `a`'s nearest row of `b`.
    pub a_to_b: Vec<Nearest>,
    /// Each row of `b`'s nearest row of `a`.
    pub b_to_a: Vec<Nearest>,
    /// Each row of `a`'s second-highest similarity to a row of `b` (`-inf` when `b` has fewer
    /// than two rows): its nearest once the nearest is left out.
    pub runner_up: Vec<f32>,
}

/// [`nearest_both_ways`] for the given query rows; indices into `a` are positions among them.
fn nearest_both_ways_of(a: Queries, b: &Matrix, progress: &Progress) -> BothWaysNearest {
    // Each chunk merges its column bests here after its last tile, so that thousands of chunk
    // states do not each keep one per reference row until the end. The merge is a max with
    // ties to the lower index: its result does not depend on the order chunks finish in.
    let b_to_a = Mutex::new(vec![Nearest::NONE; b.rows()]);
    let states = fold_blocks(
        a,
        b,
        progress,
        "nearest",
        |_, rows| BothWays {
            row_best: vec![Nearest::NONE; rows],
            row_second: vec![f32::NEG_INFINITY; rows],
            col_best: vec![Nearest::NONE; b.rows()],
            col_sim: vec![f32::NEG_INFINITY; REF_ROWS],
            col_row: vec![0; REF_ROWS],
        },
        |state, first_a, first_b, block, width| {
            state.fold(first_a, first_b, block, width);
            if first_b + width == b.rows() {
                let col_best = std::mem::take(&mut state.col_best);
                let mut merged = b_to_a.lock().unwrap_or_else(|e| e.into_inner());
                for (best, candidate) in merged.iter_mut().zip(col_best) {
                    if let Some(i) = candidate.index {
                        best.offer(i, candidate.similarity);
                    }
                }
            }
        },
    );
    let mut a_to_b = Vec::with_capacity(a.len());
    let mut runner_up = Vec::with_capacity(a.len());
    for state in states {
        a_to_b.extend(state.row_best);
        runner_up.extend(state.row_second);
    }
    BothWaysNearest {
        a_to_b,
        b_to_a: b_to_a.into_inner().unwrap_or_else(|e| e.into_inner()),
        runner_up,
    }
}

/// For each row of `a`, its nearest row of `b` (ties to the lower index). Only the distinct
/// rows of `a` are searched (a prompt repeated in a log is searched once): a copy's
/// similarities are the same bits as its first occurrence's, so the answer is the same.
pub fn nearest(a: &Matrix, b: &Matrix, progress: &Progress, message: &str) -> Vec<Nearest> {
    let (first, distinct_of) = distinct_rows(a);
    if first.len() == a.rows() {
        return nearest_of(Queries::all(a), b, progress, message);
    }
    let found = nearest_of(Queries::rows(a, &first), b, progress, message);
    distinct_of.iter().map(|&d| found[d]).collect()
}

/// [`nearest`] for the query rows `queries`, in their order.
fn nearest_of(queries: Queries, b: &Matrix, progress: &Progress, message: &str) -> Vec<Nearest> {
    fold_blocks(
        queries,
        b,
        progress,
        message,
        |_, rows| vec![Nearest::NONE; rows],
        |best, _, first_ref, block, width| {
            for (r, sims) in block.chunks_exact(width).enumerate() {
                for (c, &s) in sims.iter().enumerate() {
                    if s > best[r].similarity {
                        best[r].offer(first_ref + c, s);
                    }
                }
            }
        },
    )
    .into_iter()
    .flatten()
    .collect()
}

/// For each row of `a`, its `k` most similar *other* rows of `a` (index, similarity), most
/// similar first, ties to the lower index. Each row keeps a sorted buffer of `k`; the blocks
/// arrive in reference order, so the result does not depend on threading.
pub fn k_nearest_other(a: &Matrix, k: usize, progress: &Progress) -> Vec<Vec<(usize, f32)>> {
    let k = k.min(a.rows().saturating_sub(1));
    k_nearest_where(Queries::all(a), a, k, true, progress)
}

/// For each query row, its `k` most similar rows of `b`, as [`k_nearest_other`] orders them.
pub fn k_nearest(
    queries: Queries,
    b: &Matrix,
    k: usize,
    progress: &Progress,
) -> Vec<Vec<(usize, f32)>> {
    k_nearest_where(queries, b, k.min(b.rows()), false, progress)
}

/// Similarities screened at once against a full list's last entry in [`offer_row`].
const SCREEN: usize = 32;

/// The search of [`k_nearest`]; `skip_self` leaves out the reference with the query's own
/// index (queries and references are the same rows).
fn k_nearest_where(
    queries: Queries,
    b: &Matrix,
    k: usize,
    skip_self: bool,
    progress: &Progress,
) -> Vec<Vec<(usize, f32)>> {
    if k == 0 {
        return vec![Vec::new(); queries.len()];
    }
    fold_blocks(
        queries,
        b,
        progress,
        "nearest neighbours",
        |_, rows| vec![Vec::<(usize, f32)>::with_capacity(k + 1); rows],
        |lists, first, first_ref, block, width| {
            for (r, sims) in block.chunks_exact(width).enumerate() {
                let own = skip_self.then_some(first + r);
                offer_row(&mut lists[r], k, sims, first_ref, own);
            }
        },
    )
    .into_iter()
    .flatten()
    .collect()
}

/// Offers one block row of similarities (references `first_ref..`) to a sorted list of at most
/// `k` (index, similarity), most similar first, ties to the lower index; reference `skip` is
/// left out.
fn offer_row(
    list: &mut Vec<(usize, f32)>,
    k: usize,
    sims: &[f32],
    first_ref: usize,
    skip: Option<usize>,
) {
    for (q, chunk) in sims.chunks(SCREEN).enumerate() {
        // Once the list is full, most chunks hold nothing above its last entry: one
        // branch-free (vectorized) pass rules them out.
        if list.len() == k {
            let floor = list[k - 1].1;
            if !chunk
                .iter()
                .fold(false, |any, &s| any | (s > floor) | s.is_nan())
            {
                continue;
            }
        }
        for (c, &s) in chunk.iter().enumerate() {
            let j = first_ref + q * SCREEN + c;
            if skip == Some(j) || (list.len() == k && s <= list[k - 1].1) {
                continue;
            }
            // Insert after every entry at least as similar (earlier indices win ties).
            let at = list.partition_point(|&(_, t)| t >= s);
            list.insert(at, (j, s));
            list.truncate(k);
        }
    }
}

/// [`nearest_both_ways`] with the runner-up, searching only the distinct rows of `a` and of `b`
/// (bitwise-equal vectors, such as the embeddings of a prompt repeated in a log or a test
/// written twice) and sharing each answer among copies. The nearest rows are the same as
/// searching every row: a copy's similarities are the same bits as its first occurrence's (a
/// block's values do not depend on a row's position), and ties go to the lowest index, which
/// is the first occurrence's. The runner-up is the nearest *distinct* vector of `b` after the
/// nearest, so a test written twice does not count as its own runner-up.
pub fn nearest_both_ways_distinct(a: &Matrix, b: &Matrix, progress: &Progress) -> BothWaysNearest {
    let (first_a, distinct_a) = distinct_rows(a);
    let (first_b, distinct_b) = distinct_rows(b);
    let b_rows = (first_b.len() < b.rows()).then(|| b.select_rows(&first_b));
    let found = nearest_both_ways_of(
        Queries::rows(a, &first_a),
        b_rows.as_ref().unwrap_or(b),
        progress,
    );
    BothWaysNearest {
        a_to_b: expand(&found.a_to_b, &distinct_a, &first_b),
        b_to_a: expand(&found.b_to_a, &distinct_b, &first_a),
        runner_up: distinct_a.iter().map(|&d| found.runner_up[d]).collect(),
    }
}

/// The answers for distinct rows given to every row (`distinct_of`), their indices (positions
/// among the distinct rows of the other side) turned back into rows by `first`.
fn expand(found: &[Nearest], distinct_of: &[usize], first: &[usize]) -> Vec<Nearest> {
    distinct_of
        .iter()
        .map(|&d| Nearest {
            index: found[d].index.map(|j| first[j]),
            ..found[d]
        })
        .collect()
}

/// Bitwise-distinct rows: the first row of each distinct vector, in row order, and for every
/// row the position of its vector in that list.
fn distinct_rows(m: &Matrix) -> (Vec<usize>, Vec<usize>) {
    let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut first: Vec<usize> = Vec::new();
    let mut distinct_of = Vec::with_capacity(m.rows());
    let mut bytes: Vec<u8> = Vec::with_capacity(4 * m.cols());
    for i in 0..m.rows() {
        let row = m.row(i);
        bytes.clear();
        bytes.extend(row.iter().flat_map(|x| x.to_bits().to_le_bytes()));
        let candidates = by_hash.entry(xxh3_64(&bytes)).or_default();
        let d = match candidates.iter().find(|&&d| same(m.row(first[d]), row)) {
            Some(&d) => d,
            None => {
                first.push(i);
                candidates.push(first.len() - 1);
                first.len() - 1
            }
        };
        distinct_of.push(d);
    }
    (first, distinct_of)
}

/// Lanes of the folds below: independent running maxima the compiler keeps in vector registers.
const LANES: usize = 8;

/// A chunk's state in [`nearest_both_ways`].
struct BothWays {
    /// Each query row's best reference so far.
    row_best: Vec<Nearest>,
    /// Each query row's second-highest similarity so far.
    row_second: Vec<f32>,
    /// Each reference's best query row in this chunk so far.
    col_best: Vec<Nearest>,
    /// Scratch for one block: each column's highest similarity and the first row holding it.
    col_sim: Vec<f32>,
    col_row: Vec<u32>,
}

impl BothWays {
    /// Folds one block into the row and column bests. Same result as offering every
    /// similarity of the block to both (highest similarity, lowest index on ties), but in
    /// branch-free passes the compiler vectorizes: each column's maximum runs down the rows,
    /// each row's maximum runs in [`LANES`] lanes and is located only when it beats the
    /// row's best so far; only the block's winners are offered. Similarities are finite
    /// (the embeddings are finite and normalized).
    fn fold(&mut self, first_a: usize, first_b: usize, block: &[f32], width: usize) {
        let col_sim = &mut self.col_sim[..width];
        let col_row = &mut self.col_row[..width];
        col_sim.fill(f32::NEG_INFINITY);
        for (r, sims) in block.chunks_exact(width).enumerate() {
            let row = r as u32;
            for ((best, at), &s) in col_sim.iter_mut().zip(col_row.iter_mut()).zip(sims) {
                let b = *best;
                *at = if s > b { row } else { *at };
                *best = b.max(s);
            }
            // The runner-up is the second highest of the best so far, the runner-up so far, and
            // this block's two highest.
            let (max, second) = row_top_two(sims);
            let best = self.row_best[r].similarity;
            self.row_second[r] = self.row_second[r].max(second).max(best.min(max));
            // Earlier tiles hold lower indices, so only a strictly higher maximum wins.
            if self.row_best[r].index.is_none() || max > best {
                let c = sims
                    .iter()
                    .position(|&s| s == max)
                    .expect("a row has its maximum");
                self.row_best[r].offer(first_b + c, max);
            }
        }
        for (c, (&s, &r)) in col_sim.iter().zip(col_row.iter()).enumerate() {
            self.col_best[first_b + c].offer(first_a + r as usize, s);
        }
    }
}

/// The largest and second largest of `values` (non-empty, finite; the second is `-inf` for a
/// single value), as [`LANES`] running pairs: the two largest values are each the largest or
/// the second largest of their lane.
fn row_top_two(values: &[f32]) -> (f32, f32) {
    let mut first = [f32::NEG_INFINITY; LANES];
    let mut second = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for ((m, n), &v) in first.iter_mut().zip(second.iter_mut()).zip(chunk) {
            let low = if v > *m { *m } else { v };
            *n = if low > *n { low } else { *n };
            *m = if v > *m { v } else { *m };
        }
    }
    tail.iter().chain(&first).chain(&second).fold(
        (f32::NEG_INFINITY, f32::NEG_INFINITY),
        |(m, n), &v| {
            if v > m {
                (v, m)
            } else if v > n {
                (m, v)
            } else {
                (m, n)
            }
        },
    )
}

/// For each row of `a`, its nearest *other* row of `a` whose similarity is below
/// `duplicate_similarity` (rows at least that similar count as copies of it and are skipped,
/// so duplicated test prompts do not make the suite look denser than it is). Bitwise-equal rows
/// always count as copies: only distinct rows are searched, and copies share the answer.
pub fn nearest_other(a: &Matrix, duplicate_similarity: f32, progress: &Progress) -> Vec<Nearest> {
    let (first, distinct_of) = distinct_rows(a);
    if first.len() == a.rows() {
        return nearest_other_distinct(a, duplicate_similarity, progress);
    }
    let found = nearest_other_distinct(&a.select_rows(&first), duplicate_similarity, progress);
    expand(&found, &distinct_of, &first)
}

/// [`nearest_other`] over rows that are all distinct.
fn nearest_other_distinct(
    a: &Matrix,
    duplicate_similarity: f32,
    progress: &Progress,
) -> Vec<Nearest> {
    fold_blocks(
        Queries::all(a),
        a,
        progress,
        "test spread",
        |_, rows| vec![Nearest::NONE; rows],
        |best, first, first_ref, block, width| {
            for (r, sims) in block.chunks_exact(width).enumerate() {
                for (c, &s) in sims.iter().enumerate() {
                    if first + r != first_ref + c && s < duplicate_similarity {
                        best[r].offer(first_ref + c, s);
                    }
                }
            }
        },
    )
    .into_iter()
    .flatten()
    .collect()
}

/// Two answers from one pass of products, for each query `i`: how many reference rows are
/// strictly more similar to it than `bounds[i]` (counting at most `cap`), and its `k` most
/// similar reference rows, ordered as [`k_nearest`] orders them. Reference `exclude[i]` (the
/// query itself, when the references contain it) is in neither.
pub fn closer_and_nearest(
    queries: Queries,
    references: &Matrix,
    bounds: &[f32],
    exclude: &[Option<usize>],
    cap: usize,
    k: usize,
    progress: &Progress,
) -> Vec<(usize, Vec<(usize, f32)>)> {
    assert_eq!(bounds.len(), queries.len());
    assert_eq!(exclude.len(), queries.len());
    let k = k.min(references.rows());
    fold_blocks(
        queries,
        references,
        progress,
        "neighbours",
        |_, rows| vec![(0usize, Vec::<(usize, f32)>::with_capacity(k + 1)); rows],
        |found, first, first_ref, block, width| {
            for (r, sims) in block.chunks_exact(width).enumerate() {
                let q = first + r;
                let (count, list) = &mut found[r];
                if k > 0 {
                    offer_row(list, k, sims, first_ref, exclude[q]);
                }
                if *count >= cap {
                    continue;
                }
                // A branch-free count (vectorized), less the excluded reference if counted.
                let bound = bounds[q];
                let mut closer = sims.iter().map(|&s| u32::from(s > bound)).sum::<u32>() as usize;
                if let Some(c) = exclude[q].and_then(|x| x.checked_sub(first_ref)) {
                    if c < width && sims[c] > bound {
                        closer -= 1;
                    }
                }
                *count = (*count + closer).min(cap);
            }
        },
    )
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::dot;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_unit_rows(n: usize, dims: usize, seed: u64) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data: Vec<f32> = (0..n * dims).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut m = Matrix::from_vec(n, dims, data);
        m.normalize_rows();
        m
    }

    /// The plain pair-by-pair answer the blocked search must match.
    fn brute_nearest(q: &[f32], refs: &Matrix, skip: impl Fn(usize, f32) -> bool) -> Nearest {
        let mut best = Nearest::NONE;
        for j in 0..refs.rows() {
            let s = dot(q, refs.row(j));
            if !skip(j, s) {
                best.offer(j, s);
            }
        }
        best
    }

    #[test]
    fn blocked_search_matches_pairwise_search_across_block_edges() {
        // Sizes straddle QUERY_ROWS and REF_ROWS so partial chunks and tiles are exercised.
        let a = random_unit_rows(QUERY_ROWS + 37, 24, 1);
        let b = random_unit_rows(REF_ROWS + 91, 24, 2);
        let (a_to_b, b_to_a) = nearest_both_ways(&a, &b, &Progress::hidden());
        for (i, got) in a_to_b.iter().enumerate() {
            let want = brute_nearest(a.row(i), &b, |_, _| false);
            assert_eq!(got.index, want.index, "row {i}");
            assert!((got.similarity - want.similarity).abs() < 1e-5);
        }
        for (j, got) in b_to_a.iter().enumerate() {
            let want = brute_nearest(b.row(j), &a, |_, _| false);
            assert_eq!(got.index, want.index, "column {j}");
        }
    }

    #[test]
    fn ties_go_to_the_lowest_index_both_ways() {
        // Copies of one reference and of one query, spread over different tiles and chunks.
        let base_a = random_unit_rows(QUERY_ROWS + 10, 16, 8);
        let base_b = random_unit_rows(REF_ROWS + 10, 16, 9);
        let mut a_rows: Vec<usize> = (0..base_a.rows()).collect();
        a_rows[QUERY_ROWS + 5] = 3;
        a_rows[7] = 3;
        let mut b_rows: Vec<usize> = (0..base_b.rows()).collect();
        b_rows[REF_ROWS + 2] = 11;
        b_rows[900] = 11;
        let (mut a, mut b) = (base_a.select_rows(&a_rows), base_b.select_rows(&b_rows));
        // So that the copies are someone's nearest: query 100 is reference 11, reference 500
        // is query 3.
        a.row_mut(100).copy_from_slice(base_b.row(11));
        b.row_mut(500).copy_from_slice(base_a.row(3));
        let (a_to_b, b_to_a) = nearest_both_ways(&a, &b, &Progress::hidden());
        for (i, got) in a_to_b.iter().enumerate() {
            assert_eq!(
                got.index,
                brute_nearest(a.row(i), &b, |_, _| false).index,
                "row {i}"
            );
            assert_ne!(got.index, Some(900));
            assert_ne!(got.index, Some(REF_ROWS + 2));
        }
        for (j, got) in b_to_a.iter().enumerate() {
            assert_eq!(
                got.index,
                brute_nearest(b.row(j), &a, |_, _| false).index,
                "column {j}"
            );
            assert_ne!(got.index, Some(7));
            assert_ne!(got.index, Some(QUERY_ROWS + 5));
        }
        assert_eq!(a_to_b[100].index, Some(11));
        assert_eq!(b_to_a[500].index, Some(3));
    }

    #[test]
    fn searching_distinct_rows_gives_the_same_bits() {
        // Many copies, first occurrences late and early, across chunk edges.
        let base = random_unit_rows(300, 24, 10);
        let rows: Vec<usize> = (0..QUERY_ROWS * 3 + 17)
            .map(|i| (i * 7919 + i / 5) % 300)
            .collect();
        let a = base.select_rows(&rows);
        let b = random_unit_rows(REF_ROWS + 50, 24, 11);
        let (first, of) = distinct_rows(&a);
        assert_eq!(first.len(), 300);
        assert!(of
            .iter()
            .enumerate()
            .all(|(i, &d)| rows[first[d]] == rows[i]));
        let plain = nearest_both_ways(&a, &b, &Progress::hidden());
        let distinct = nearest_both_ways_distinct(&a, &b, &Progress::hidden());
        let bits = |v: &[Nearest]| -> Vec<(Option<usize>, u32)> {
            v.iter()
                .map(|n| (n.index, n.similarity.to_bits()))
                .collect()
        };
        assert_eq!(bits(&plain.0), bits(&distinct.a_to_b));
        assert_eq!(bits(&plain.1), bits(&distinct.b_to_a));
        // The one-way search searches the distinct rows too, with the same answer.
        assert_eq!(
            bits(&nearest(&a, &b, &Progress::hidden(), "")),
            bits(&plain.0)
        );
        // All rows distinct: the plain search.
        let c = random_unit_rows(40, 24, 12);
        assert_eq!(
            bits(&nearest_both_ways_distinct(&c, &b, &Progress::hidden()).a_to_b),
            bits(&nearest_both_ways(&c, &b, &Progress::hidden()).0)
        );
    }

    /// The `k` most similar other rows by sorting every pair: similarity descending, then
    /// index ascending.
    fn brute_k_nearest_other(a: &Matrix, i: usize, k: usize) -> Vec<(usize, f32)> {
        let mut all: Vec<(usize, f32)> = (0..a.rows())
            .filter(|&j| j != i)
            .map(|j| (j, dot(a.row(i), a.row(j))))
            .collect();
        all.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        all.truncate(k);
        all
    }

    #[test]
    fn k_nearest_lists_match_a_full_sort() {
        // More rows than one reference tile and not a multiple of the screening chunk, with
        // copies of a row so that ties must go to the lower index.
        let mut a = random_unit_rows(REF_ROWS + 45, 8, 11);
        let copy = a.row(3).to_vec();
        for j in [40, 700, REF_ROWS + 2] {
            a.row_mut(j).copy_from_slice(&copy);
        }
        let k = 15;
        let found = k_nearest_other(&a, k, &Progress::hidden());
        for i in [0, 3, 40, 500, REF_ROWS + 2, REF_ROWS + 44] {
            let got: Vec<usize> = found[i].iter().map(|&(j, _)| j).collect();
            let want: Vec<usize> = brute_k_nearest_other(&a, i, k)
                .iter()
                .map(|&(j, _)| j)
                .collect();
            assert_eq!(got, want, "row {i}");
        }
        assert_eq!(
            &found[3][..3].iter().map(|&(j, _)| j).collect::<Vec<_>>(),
            &[40, 700, REF_ROWS + 2]
        );
    }

    #[test]
    fn nearest_other_skips_itself_and_duplicates() {
        let mut a = random_unit_rows(300, 16, 3);
        let copy = a.row(5).to_vec();
        a.row_mut(6).copy_from_slice(&copy);
        let found = nearest_other(&a, 0.9999, &Progress::hidden());
        for (i, got) in found.iter().enumerate() {
            let want = brute_nearest(a.row(i), &a, |j, s| j == i || s >= 0.9999);
            assert_eq!(got.index, want.index, "row {i}");
        }
        assert_ne!(found[5].index, Some(6));
        // Copies share the answer of their first occurrence, which is the lowest index.
        assert_eq!(found[5], found[6]);
        // A single row has no other row.
        let one = random_unit_rows(1, 16, 4);
        assert_eq!(
            nearest_other(&one, 0.9999, &Progress::hidden())[0].index,
            None
        );
        assert_eq!(Nearest::NONE.distance(), None);
    }

    #[test]
    fn closer_and_nearest_counts_up_to_the_cap_and_lists_the_nearest() {
        let q = random_unit_rows(40, 8, 5);
        let mut refs = random_unit_rows(REF_ROWS + 500, 8, 6);
        // A copy of an excluded reference must still be listed.
        let copy = refs.row(3).to_vec();
        refs.row_mut(REF_ROWS + 7).copy_from_slice(&copy);
        let bounds: Vec<f32> = (0..q.rows()).map(|i| 0.2 + 0.01 * i as f32).collect();
        let exclude: Vec<Option<usize>> = (0..q.rows()).map(|i| Some(i * 3)).collect();
        for (cap, k) in [(5, 9), (usize::MAX, 0), (3, 1)] {
            let got = closer_and_nearest(
                Queries::all(&q),
                &refs,
                &bounds,
                &exclude,
                cap,
                k,
                &Progress::hidden(),
            );
            for i in 0..q.rows() {
                let want = (0..refs.rows())
                    .filter(|&j| j != i * 3 && dot(q.row(i), refs.row(j)) > bounds[i])
                    .count()
                    .min(cap);
                assert_eq!(got[i].0, want, "row {i}, cap {cap}");
                let mut all: Vec<(usize, f32)> = (0..refs.rows())
                    .filter(|&j| j != i * 3)
                    .map(|j| (j, dot(q.row(i), refs.row(j))))
                    .collect();
                all.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
                let listed: Vec<usize> = got[i].1.iter().map(|&(j, _)| j).collect();
                let sorted: Vec<usize> = all[..k].iter().map(|&(j, _)| j).collect();
                assert_eq!(listed, sorted, "row {i}, k {k}");
            }
        }
    }

    #[test]
    fn runner_up_is_the_second_distinct_reference() {
        // References across tiles, some written twice; queries with copies.
        let base = random_unit_rows(REF_ROWS + 60, 16, 13);
        let mut b_rows: Vec<usize> = (0..base.rows()).collect();
        b_rows[REF_ROWS + 30] = 5;
        b_rows[200] = 900;
        let b = base.select_rows(&b_rows);
        let mut a = random_unit_rows(QUERY_ROWS + 20, 16, 14);
        // Query 0 sits on reference 5 (written twice), query 1 on reference 900's copy.
        a.row_mut(0).copy_from_slice(base.row(5));
        a.row_mut(1).copy_from_slice(base.row(900));
        let copy = a.row(2).to_vec();
        a.row_mut(QUERY_ROWS + 3).copy_from_slice(&copy);
        let found = nearest_both_ways_distinct(&a, &b, &Progress::hidden());
        let distinct: Vec<usize> = (0..b.rows())
            .filter(|&j| j != REF_ROWS + 30 && j != 900)
            .collect();
        for i in 0..a.rows() {
            let mut sims: Vec<f32> = distinct.iter().map(|&j| dot(a.row(i), b.row(j))).collect();
            sims.sort_by(|x, y| y.total_cmp(x));
            assert!((found.runner_up[i] - sims[1]).abs() < 1e-5, "row {i}");
            assert!(
                (found.a_to_b[i].similarity - sims[0]).abs() < 1e-5,
                "row {i}"
            );
        }
        assert_eq!(found.a_to_b[0].index, Some(5));
        assert_eq!(found.a_to_b[1].index, Some(200));
        // Copies of a reference share its nearest query.
        assert_eq!(found.b_to_a[REF_ROWS + 30], found.b_to_a[5]);
        assert_eq!(found.b_to_a[900], found.b_to_a[200]);
        assert_eq!(
            found.runner_up[2].to_bits(),
            found.runner_up[QUERY_ROWS + 3].to_bits()
        );
        // One reference: no runner-up.
        let one = random_unit_rows(1, 16, 15);
        let alone = nearest_both_ways_distinct(&a, &one, &Progress::hidden());
        assert!(alone.runner_up.iter().all(|&s| s == f32::NEG_INFINITY));
    }

    #[test]
    fn empty_sets_give_no_neighbour() {
        let a = random_unit_rows(3, 4, 7);
        let empty = Matrix::zeros(0, 4);
        let (a_to_b, b_to_a) = nearest_both_ways(&a, &empty, &Progress::hidden());
        assert!(a_to_b.iter().all(|n| n.index.is_none()));
        assert!(b_to_a.is_empty());
    }
}
