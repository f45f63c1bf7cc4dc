//! The built-in offline embedder: hashed word and character n-grams, TF-IDF, truncated SVD.
//!
//! Pipeline (needs no network and no model files):
//! 1. **Features.** Text is split and analyzed by the shared [`Analyzer`] (lowercase, stop
//!    words and 1-character words dropped, Snowball stems); the analyzer runs once per distinct
//!    word and its result is cached. Word block: stem unigrams plus adjacent stem bigrams.
//!    Character block: 4-grams of every kept (lowercased, unstemmed) word wrapped in `<` `>`
//!    boundary markers. A text whose words are all stop words falls back to its raw words, so
//!    "what is it?" and "who are you?" stay apart. Features are hashed with xxh3 (fixed seeds,
//!    stable across platforms and Rust versions) into `2^hash_bits` buckets per block.
//! 2. **Weights.** Sublinear TF `1 + ln tf`, smoothed IDF `ln((1 + n) / (1 + df)) + 1` computed
//!    on the corpus being embedded. Each block is L2-normalized on its own, then the blocks are
//!    mixed so the character block carries `char_weight` of the squared norm (total norm 1).
//! 3. **Reduction.** A seeded sample of at most `sample_rows` rows is drawn. SVD columns are the
//!    `max_features` buckets with the highest corpus document frequency among those present in
//!    the sample (df >= 2 once the corpus has 100 rows), mapped to contiguous ids; other
//!    features still count in each row's norm but are not projected. A randomized truncated
//!    SVD ([`super::svd`]) of the centered sample (PCA) gives `dims` components; every row is
//!    projected onto them and L2-normalized.
//!
//! Defaults were chosen on MMLU-Pro (nearest-neighbour category agreement, see
//! `examples/embed_mmlu.rs`): character 4-grams match 3–5-grams at half the cost and beat no
//! character n-grams by ~3 points; fewer than 32k SVD features costs 1–2 points; dims 384,
//! more power iterations or a bigger sample are within seed noise (±0.005).
//!
//! Memory: corpora of up to 100k rows are featurized once and their counts kept. Larger ones
//! stream in two passes (document frequencies first, then TF-IDF and projection block by
//! block straight into the output matrix), so no per-row sparse vectors are held: beyond the
//! output, memory is the hash tables (~24 MB), the SVD sample and the projection matrix.
//!
//! Small corpora: when the sample has no more rows than `dims + oversample` the SVD is exact
//! and uncentered, so cosine similarities equal those of the TF-IDF vectors (centering two
//! texts would make them antipodal). The number of components is then at most the number of
//! rows (and of distinct features); the output still has `dims` columns, the missing
//! components being zero, which leaves cosines unchanged. A row that projects to zero (no
//! features at all, e.g. an empty string, or only features outside the SVD columns, in an
//! uncentered fit) becomes the last basis vector, so every row has unit norm and such rows
//! are identical to each other and orthogonal to the others when the corpus is tiny.
//!
//! Determinism: the same texts, config and seed give the same bits whatever the thread count
//! (counts are integers, every float sum runs in a fixed order; see [`super::svd`]).

use super::svd::{randomized_svd, CsrMatrix, SvdOptions};
use super::Embedder;
use crate::error::{Error, Result};
use crate::matrix::{normalize, Matrix};
use crate::progress::Progress;
use crate::text::Analyzer;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use xxhash_rust::xxh3::xxh3_64_with_seed;

// Fixed hash seeds, one per feature kind, so a word and a character n-gram that happen to be
// the same string do not share a bucket pattern. Changing them changes every embedding.
const SEED_WORD: u64 = 0x6661_756c_746d_6170; // "faultmap"
const SEED_BIGRAM: u64 = 0x0062_6967_7261_6d73;
const SEED_CHAR: u64 = 0x0063_6861_7267_7261;

/// Rows handled per parallel work item (one analyzer per item).
const CHUNK_ROWS: usize = 256;
/// Corpora with at most this many rows keep their feature counts between passes (about
/// 8 bytes per distinct feature of a row; ~180 MB for 100k exam-length prompts).
const KEEP_ROWS: usize = 100_000;
/// Rows projected per parallel work item (min, max): about 1/16 of the corpus, so small
/// corpora still spread over the cores while large ones get blocks big enough that each row of
/// the projection matrix, read once per block, serves many rows. Each output row depends only
/// on its own text, so the block size never changes a bit.
const PROJECT_ROWS: (usize, usize) = (256, 4096);

/// Settings of the built-in embedder. `Default` gives the measured defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct HashingConfig {
    /// Output dimension.
    pub dims: usize,
    /// Seeds the SVD's row sample and random test matrix.
    pub seed: u64,
    /// `2^hash_bits` buckets per feature block (words, characters).
    pub hash_bits: u32,
    /// Add adjacent stem bigrams to the word block.
    pub word_bigrams: bool,
    /// Character n-gram lengths (inclusive range) of each word with boundary markers, or `None`
    /// for no character block.
    pub char_ngrams: Option<(usize, usize)>,
    /// Share of the squared norm given to the character block (0..=1) when both blocks exist.
    pub char_weight: f32,
    /// At most this many rows (a seeded sample) are used to fit the SVD.
    pub sample_rows: usize,
    /// At most this many of the most frequent feature buckets take part in the SVD.
    pub max_features: usize,
    /// Power iterations of the randomized SVD.
    pub power_iters: usize,
    /// Extra random directions of the randomized SVD.
    pub oversample: usize,
    /// Center the TF-IDF rows before the SVD (PCA rather than plain LSA). Only applied when
    /// the SVD sample has more rows than `dims + oversample`; smaller corpora are decomposed
    /// exactly and uncentered (see the module documentation).
    pub center: bool,
}

impl Default for HashingConfig {
    fn default() -> Self {
        HashingConfig {
            dims: 256,
            seed: 0,
            hash_bits: 20,
            word_bigrams: true,
            char_ngrams: Some((4, 4)),
            char_weight: 0.5,
            sample_rows: 5_000,
            max_features: 32_768,
            power_iters: 1,
            oversample: 10,
            center: true,
        }
    }
}

/// Hashed n-grams + TF-IDF + randomized truncated SVD; see the module documentation.
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    config: HashingConfig,
}

impl HashingEmbedder {
    pub fn new(config: HashingConfig) -> Self {
        HashingEmbedder { config }
    }

    pub fn config(&self) -> &HashingConfig {
        &self.config
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let bad = |m: &str| Err(Error::Usage(format!("embedder: {m}")));
        if c.dims == 0 {
            return bad("dims must be at least 1");
        }
        // Per-bucket tables take 16 bytes per bucket and block: 32 MB at 20 bits, 512 MB at 24.
        if !(8..=24).contains(&c.hash_bits) {
            return bad("hash_bits must be between 8 and 24");
        }
        if let Some((lo, hi)) = c.char_ngrams {
            if lo == 0 || lo > hi {
                return bad("character n-gram range must be 1 <= min <= max");
            }
        }
        if !(0.0..=1.0).contains(&c.char_weight) {
            return bad("char_weight must be between 0 and 1");
        }
        if c.sample_rows == 0 || c.max_features == 0 {
            return bad("sample_rows and max_features must be at least 1");
        }
        Ok(())
    }
}

impl Embedder for HashingEmbedder {
    fn name(&self) -> String {
        format!("hash-tfidf-svd{}", self.config.dims)
    }

    fn embed(&self, texts: &[&str], progress: &Progress) -> Result<Matrix> {
        self.validate()?;
        Ok(embed_corpus(&self.config, texts, progress, KEEP_ROWS))
    }

    fn dims(&self) -> Option<usize> {
        Some(self.config.dims)
    }

    fn embed_into(
        &self,
        texts: &[&str],
        out: &mut Matrix,
        offset: usize,
        scale: f32,
        progress: &Progress,
    ) -> Result<()> {
        self.validate()?;
        embed_corpus_into(&self.config, texts, progress, KEEP_ROWS, out, offset, scale);
        Ok(())
    }
}

/// Feature counts of one text: `(bucket, tf)` sorted by bucket, word block then char block.
/// Word buckets are `< 2^hash_bits`, char buckets `>= 2^hash_bits`.
#[derive(Debug, Default, Clone)]
struct RowCounts {
    entries: Vec<(u32, u32)>,
    /// Number of leading entries that belong to the word block.
    words: usize,
}

/// Features of one distinct raw word, memoized.
struct WordFeatures {
    /// Hash of the stem; `None` when the analyzer drops the word (stop word, 1 character).
    stem: Option<u64>,
    /// Character n-gram buckets of the lowercased word (char block offset included).
    chars: Box<[u32]>,
}

/// One-shot xxh3 for the word cache's short string keys (std's SipHash is several times
/// slower here; the cache is never iterated, so its hash order does not matter).
#[derive(Default, Clone, Copy)]
pub(super) struct BuildWordHasher;

#[derive(Default)]
pub(super) struct WordHasher(u64);

impl std::hash::BuildHasher for BuildWordHasher {
    type Hasher = WordHasher;
    fn build_hasher(&self) -> WordHasher {
        WordHasher(0)
    }
}

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0 ^ i as u64).rotate_left(7);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Distinct words remembered per featurizer before the cache starts over (bounds memory on
/// corpora with huge vocabularies; results never depend on it).
const WORD_CACHE_MAX: usize = 1 << 18;

/// Turns texts into hashed feature counts. Splits text exactly like [`Analyzer::tokens`] and
/// runs the analyzer once per distinct raw word (it tokenizes word by word, so this gives the
/// same tokens), caching each word's hashed features.
struct Featurizer<'a> {
    config: &'a HashingConfig,
    analyzer: Analyzer,
    cache: HashMap<Box<str>, WordFeatures, BuildWordHasher>,
    word_ids: Vec<u32>,
    char_ids: Vec<u32>,
    scratch: NgramScratch,
}

impl<'a> Featurizer<'a> {
    fn new(config: &'a HashingConfig) -> Self {
        Featurizer {
            config,
            analyzer: Analyzer::default(),
            cache: HashMap::with_hasher(BuildWordHasher),
            word_ids: Vec::new(),
            char_ids: Vec::new(),
            scratch: NgramScratch::default(),
        }
    }

    fn featurize(&mut self, text: &str, out: &mut RowCounts) {
        let Featurizer {
            config,
            analyzer,
            cache,
            word_ids,
            char_ids,
            scratch,
        } = self;
        word_ids.clear();
        char_ids.clear();
        let mask = (1u64 << config.hash_bits) - 1;
        let mut prev: Option<u64> = None;
        let mut push_word = |h: u64, chars: &[u32], word_ids: &mut Vec<u32>| {
            word_ids.push((h & mask) as u32);
            if config.word_bigrams {
                if let Some(p) = prev {
                    word_ids.push((bigram_hash(p, h) & mask) as u32);
                }
            }
            prev = Some(h);
            char_ids.extend_from_slice(chars);
        };
        for raw in text.split(|c: char| !c.is_alphanumeric()) {
            if raw.is_empty() {
                continue;
            }
            if let Some(entry) = cache.get(raw) {
                if let Some(h) = entry.stem {
                    push_word(h, &entry.chars, word_ids);
                }
                continue;
            }
            let features = match analyzer.tokens(raw).into_iter().next() {
                Some(token) => WordFeatures {
                    stem: Some(xxh3_64_with_seed(token.stem.as_bytes(), SEED_WORD)),
                    chars: scratch.char_ngrams(config, &token.word),
                },
                None => WordFeatures {
                    stem: None,
                    chars: Box::new([]),
                },
            };
            if let Some(h) = features.stem {
                push_word(h, &features.chars, word_ids);
            }
            if cache.len() >= WORD_CACHE_MAX {
                cache.clear();
            }
            cache.insert(raw.into(), features);
        }
        if word_ids.is_empty() {
            // Only stop words / 1-letter words (or nothing): use the raw lowercased words.
            for raw in text.split(|c: char| !c.is_alphanumeric()) {
                if raw.is_empty() {
                    continue;
                }
                let word = raw.to_lowercase();
                let h = xxh3_64_with_seed(word.as_bytes(), SEED_WORD);
                let chars = scratch.char_ngrams(config, &word);
                push_word(h, &chars, word_ids);
            }
        }
        out.entries.clear();
        count_sorted(word_ids, &mut out.entries);
        out.words = out.entries.len();
        count_sorted(char_ids, &mut out.entries);
    }
}

/// Reusable buffers for character n-grams.
#[derive(Default)]
struct NgramScratch {
    marked: String,
    bounds: Vec<usize>,
}

impl NgramScratch {
    /// Buckets of the character n-grams of `<word>` (char block offset included).
    fn char_ngrams(&mut self, config: &HashingConfig, word: &str) -> Box<[u32]> {
        let Some((lo, hi)) = config.char_ngrams else {
            return Box::new([]);
        };
        let mask = (1u64 << config.hash_bits) - 1;
        let char_offset = 1u32 << config.hash_bits;
        self.marked.clear();
        self.marked.push('<');
        self.marked.push_str(word);
        self.marked.push('>');
        self.bounds.clear();
        self.bounds
            .extend(self.marked.char_indices().map(|(i, _)| i));
        self.bounds.push(self.marked.len());
        let chars = self.bounds.len() - 1;
        let mut out = Vec::new();
        for n in lo..=hi.min(chars) {
            for start in 0..=chars - n {
                let gram = &self.marked.as_bytes()[self.bounds[start]..self.bounds[start + n]];
                let h = xxh3_64_with_seed(gram, SEED_CHAR);
                out.push(char_offset | (h & mask) as u32);
            }
        }
        out.into_boxed_slice()
    }
}

/// Hash of an adjacent stem pair.
fn bigram_hash(first: u64, second: u64) -> u64 {
    let mut pair = [0u8; 16];
    pair[..8].copy_from_slice(&first.to_le_bytes());
    pair[8..].copy_from_slice(&second.to_le_bytes());
    xxh3_64_with_seed(&pair, SEED_BIGRAM)
}

/// Featurizers shared by the parallel work items of one `embed` call, so word caches survive
/// from one item to the next. Which featurizer an item gets does not affect its output.
struct FeaturizerPool<'a> {
    config: &'a HashingConfig,
    free: Mutex<Vec<Featurizer<'a>>>,
}

impl<'a> FeaturizerPool<'a> {
    fn new(config: &'a HashingConfig) -> Self {
        FeaturizerPool {
            config,
            free: Mutex::new(Vec::new()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Featurizer<'a>) -> R) -> R {
        let taken = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut featurizer = taken.unwrap_or_else(|| Featurizer::new(self.config));
        let result = f(&mut featurizer);
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(featurizer);
        result
    }
}

/// Sorts `ids` and appends `(id, count)` runs to `out`.
fn count_sorted(ids: &mut [u32], out: &mut Vec<(u32, u32)>) {
    ids.sort_unstable();
    let mut i = 0;
    while i < ids.len() {
        let id = ids[i];
        let mut j = i + 1;
        while j < ids.len() && ids[j] == id {
            j += 1;
        }
        out.push((id, (j - i) as u32));
        i = j;
    }
}

/// Per-bucket IDF and SVD column (`u32::MAX` when the bucket is not an SVD feature), side by
/// side so weighing a feature costs one cache miss.
struct Vocabulary {
    buckets: Vec<(f32, u32)>,
    columns: usize,
}

impl Vocabulary {
    /// IDF from the corpus document frequencies `df`; SVD columns are the `max_features`
    /// buckets with the highest corpus df among those that occur in the SVD sample (others
    /// would get zero loadings), with df >= 2 once the corpus has 100 rows.
    fn new(df: &[u32], n_docs: usize, sample_df: &[u32], max_features: usize) -> Self {
        let n = n_docs as f64;
        let mut buckets: Vec<(f32, u32)> = df
            .iter()
            .map(|&d| {
                let idf = if d == 0 {
                    0.0
                } else {
                    (((1.0 + n) / (1.0 + d as f64)).ln() + 1.0) as f32
                };
                (idf, u32::MAX)
            })
            .collect();
        let min_df = if n_docs >= 100 { 2 } else { 1 };
        let mut candidates: Vec<u32> = (0..df.len() as u32)
            .filter(|&b| df[b as usize] >= min_df && sample_df[b as usize] > 0)
            .collect();
        // Most frequent first, ties by bucket id so the choice is deterministic.
        candidates.sort_unstable_by(|&a, &b| df[b as usize].cmp(&df[a as usize]).then(a.cmp(&b)));
        candidates.truncate(max_features);
        // Columns in bucket order, so weighted rows come out sorted by column (word buckets
        // sort before character buckets).
        candidates.sort_unstable();
        for (c, &b) in candidates.iter().enumerate() {
            buckets[b as usize].1 = c as u32;
        }
        Vocabulary {
            buckets,
            columns: candidates.len(),
        }
    }

    /// The TF-IDF row restricted to SVD columns: `(column, weight)` pairs, appended to `out`.
    /// The weights are normalized over the full feature vector (see the module docs).
    fn weigh(&self, row: &RowCounts, char_weight: f32, out: &mut Vec<(u32, f32)>) {
        let (words, chars) = row.entries.split_at(row.words);
        // Appends the block's SVD features and returns its squared norm over all features.
        let push_block = |block: &[(u32, u32)], out: &mut Vec<(u32, f32)>| -> f32 {
            let mut sq = 0.0;
            for &(b, tf) in block {
                let (idf, c) = self.buckets[b as usize];
                let w = sublinear_tf(tf) * idf;
                sq += w * w;
                if c != u32::MAX {
                    out.push((c, w));
                }
            }
            sq
        };
        let first = out.len();
        let wn = push_block(words, out).sqrt();
        let mid = out.len();
        let cn = push_block(chars, out).sqrt();
        let (ws, cs) = match (wn > 0.0, cn > 0.0) {
            (true, true) => ((1.0 - char_weight).sqrt() / wn, char_weight.sqrt() / cn),
            (true, false) => (1.0 / wn, 0.0),
            (false, true) => (0.0, 1.0 / cn),
            (false, false) => (0.0, 0.0),
        };
        out[first..mid].iter_mut().for_each(|e| e.1 *= ws);
        out[mid..].iter_mut().for_each(|e| e.1 *= cs);
    }
}

/// Sublinear term frequency `1 + ln tf`.
fn sublinear_tf(tf: u32) -> f32 {
    if tf == 1 {
        1.0
    } else {
        1.0 + (tf as f32).ln()
    }
}

/// Counts rows per bucket (parallel; integer sums, so the result is order-independent).
fn document_frequencies(
    config: &HashingConfig,
    pool: &FeaturizerPool,
    texts: &[&str],
    keep: bool,
    progress: &Progress,
) -> (Vec<u32>, Vec<RowCounts>) {
    let buckets = 2usize << config.hash_bits;
    let df: Vec<AtomicU32> = (0..buckets).map(|_| AtomicU32::new(0)).collect();
    let bar = progress.bar(texts.len() as u64, "featurizing");
    let kept: Vec<Vec<RowCounts>> = texts
        .par_chunks(CHUNK_ROWS)
        .map(|chunk| {
            let rows = pool.with(|f| {
                let mut rows = Vec::with_capacity(if keep { chunk.len() } else { 0 });
                let mut scratch = RowCounts::default();
                for text in chunk {
                    f.featurize(text, &mut scratch);
                    for &(b, _) in &scratch.entries {
                        df[b as usize].fetch_add(1, Ordering::Relaxed);
                    }
                    if keep {
                        rows.push(scratch.clone());
                    }
                }
                rows
            });
            bar.inc(chunk.len() as u64);
            rows
        })
        .collect();
    bar.finish_and_clear();
    let df = df.into_iter().map(AtomicU32::into_inner).collect();
    (df, kept.into_iter().flatten().collect())
}

/// The pipeline; corpora of at most `keep_rows` rows keep their feature counts in memory (the
/// result is the same either way; tests use this to compare the two paths).
fn embed_corpus(
    config: &HashingConfig,
    texts: &[&str],
    progress: &Progress,
    keep_rows: usize,
) -> Matrix {
    let mut out = Matrix::zeros(texts.len(), config.dims);
    embed_corpus_into(config, texts, progress, keep_rows, &mut out, 0, 1.0);
    out
}

/// [`embed_corpus`] writing each row, times `scale`, into columns `offset..offset + dims` of
/// `out` (one row per text), so the combined embedder fills its wide matrix in place and never
/// holds a second matrix of the whole corpus.
fn embed_corpus_into(
    config: &HashingConfig,
    texts: &[&str],
    progress: &Progress,
    keep_rows: usize,
    out: &mut Matrix,
    offset: usize,
    scale: f32,
) {
    let n = texts.len();
    let dims = config.dims;
    let width = out.cols();
    assert_eq!(out.rows(), n, "one output row per text");
    assert!(offset + dims <= width, "the rows fit in the output");
    if n == 0 {
        return;
    }
    let char_weight = if config.char_ngrams.is_some() {
        config.char_weight
    } else {
        0.0
    };
    // Corpora up to `keep_rows` rows are featurized once and their counts kept; larger ones
    // stream: document frequencies now, features again for the sample and for projection.
    let keep = n <= keep_rows;
    let pool = FeaturizerPool::new(config);
    let (df, kept) = document_frequencies(config, &pool, texts, keep, progress);

    // Seeded sample of rows for the SVD fit (all rows when they fit).
    let sample: Vec<usize> = if n <= config.sample_rows {
        (0..n).collect()
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5341_4d50_4c45);
        let mut idx = rand::seq::index::sample(&mut rng, n, config.sample_rows).into_vec();
        idx.sort_unstable();
        idx
    };
    let fresh: Vec<RowCounts>;
    let sample_counts: Vec<&RowCounts> = if keep {
        sample.iter().map(|&i| &kept[i]).collect()
    } else {
        fresh = sample
            .par_chunks(CHUNK_ROWS)
            .map(|chunk| {
                pool.with(|f| {
                    chunk
                        .iter()
                        .map(|&i| {
                            let mut counts = RowCounts::default();
                            f.featurize(texts[i], &mut counts);
                            counts
                        })
                        .collect::<Vec<_>>()
                })
            })
            .flatten()
            .collect();
        fresh.iter().collect()
    };
    let mut sample_df = vec![0u32; df.len()];
    for row in &sample_counts {
        for &(b, _) in &row.entries {
            sample_df[b as usize] += 1;
        }
    }
    let vocab = Vocabulary::new(&df, n, &sample_df, config.max_features);
    drop((df, sample_df));
    let a = weighted_csr(&vocab, sample_counts.iter().copied(), char_weight);

    let spinner = progress.spinner("fitting SVD");
    let svd = randomized_svd(
        &a,
        &SvdOptions {
            rank: dims,
            oversample: config.oversample,
            power_iters: config.power_iters,
            // Tiny corpora (no more rows than the SVD's width) get the exact, uncentered
            // decomposition, which keeps their TF-IDF cosines; centering two texts would make
            // them antipodal whatever they say.
            center: config.center && sample_counts.len() > dims + config.oversample,
            seed: config.seed,
        },
    );
    drop(a);
    let projector = svd.into_projector(n);
    spinner.finish_and_clear();
    let rank = projector.rank();

    // Projection, block by block into the output (each row depends only on its own text, so
    // the block size and thread count do not change any bit).
    let bar = progress.bar(n as u64, "projecting");
    let block_rows = (n / 16).clamp(PROJECT_ROWS.0, PROJECT_ROWS.1);
    out.as_mut_slice()
        .par_chunks_mut(width * block_rows)
        .enumerate()
        .for_each(|(b, block)| {
            let start = b * block_rows;
            let rows = block.len() / width;
            let block_counts: Vec<RowCounts>;
            let counts: &[RowCounts] = if keep {
                &kept[start..start + rows]
            } else {
                block_counts = pool.with(|f| {
                    texts[start..start + rows]
                        .iter()
                        .map(|t| {
                            let mut c = RowCounts::default();
                            f.featurize(t, &mut c);
                            c
                        })
                        .collect()
                });
                &block_counts
            };
            let x = weighted_csr(&vocab, counts.iter(), char_weight);
            let mut projected = vec![0f32; rows * dims];
            if rank == dims {
                projector.project(&x, &mut projected);
            } else {
                let mut tmp = vec![0f32; rows * rank];
                projector.project(&x, &mut tmp);
                if rank > 0 {
                    for (o, t) in projected.chunks_mut(dims).zip(tmp.chunks(rank)) {
                        o[..rank].copy_from_slice(t);
                    }
                }
            }
            for (row, dst) in projected.chunks_mut(dims).zip(block.chunks_mut(width)) {
                finish_row(row);
                for (o, &v) in dst[offset..offset + dims].iter_mut().zip(row.iter()) {
                    *o = v * scale;
                }
            }
            bar.inc(rows as u64);
        });
    bar.finish_and_clear();
}

/// L2-normalizes a row; an all-zero row becomes the last basis vector (the least significant
/// component, unused by every text when the corpus is tiny).
fn finish_row(row: &mut [f32]) {
    normalize(row);
    if row.iter().all(|&x| x == 0.0) {
        if let Some(last) = row.last_mut() {
            *last = 1.0;
        }
    }
}

/// TF-IDF rows restricted to SVD columns, as a CSR matrix.
fn weighted_csr<'r>(
    vocab: &Vocabulary,
    rows: impl ExactSizeIterator<Item = &'r RowCounts>,
    char_weight: f32,
) -> CsrMatrix {
    let n = rows.len();
    let mut indptr = Vec::with_capacity(n + 1);
    let mut pairs = Vec::new();
    indptr.push(0);
    for row in rows {
        vocab.weigh(row, char_weight, &mut pairs);
        indptr.push(pairs.len());
    }
    let (indices, values) = pairs.into_iter().unzip();
    CsrMatrix::new(n, vocab.columns, indptr, indices, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::dot;

    const TOPICS: [&[&str]; 5] = [
        &[
            "refund", "charged", "invoice", "payment", "card", "billing", "money", "bank",
        ],
        &[
            "password",
            "login",
            "account",
            "locked",
            "reset",
            "email",
            "verification",
            "code",
        ],
        &[
            "delivery", "package", "shipping", "courier", "tracking", "arrived", "parcel", "late",
        ],
        &[
            "screen", "battery", "charger", "broken", "crash", "freezes", "restart", "phone",
        ],
        &[
            "recipe", "garden", "weather", "holiday", "football", "music", "painting", "coffee",
        ],
    ];

    /// A deterministic toy corpus: `n` sentences, topic `i % 5`, words drawn from the topic.
    fn corpus(n: usize) -> Vec<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        (0..n)
            .map(|i| {
                use rand::Rng;
                let words = TOPICS[i % TOPICS.len()];
                let len = rng.gen_range(5..12);
                let mut s: Vec<&str> = vec!["please", "my"];
                for _ in 0..len {
                    s.push(words[rng.gen_range(0..words.len())]);
                }
                s.join(" ")
            })
            .collect()
    }

    fn embed_with(config: HashingConfig, texts: &[&str]) -> Matrix {
        HashingEmbedder::new(config)
            .embed(texts, &Progress::hidden())
            .expect("embeds")
    }

    fn small_config() -> HashingConfig {
        HashingConfig {
            dims: 16,
            ..HashingConfig::default()
        }
    }

    fn bits(m: &Matrix) -> Vec<u32> {
        m.as_slice().iter().map(|x| x.to_bits()).collect()
    }

    fn assert_unit_rows(m: &Matrix) {
        for i in 0..m.rows() {
            let norm = dot(m.row(i), m.row(i)).sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "row {i} has norm {norm}");
        }
    }

    #[test]
    fn deterministic_for_a_seed_and_seed_dependent() {
        let texts = corpus(300);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        // Sample smaller than the corpus, so the seeded sample matters too.
        let config = HashingConfig {
            sample_rows: 120,
            ..small_config()
        };
        let a = embed_with(config.clone(), &refs);
        let b = embed_with(config.clone(), &refs);
        assert_eq!(bits(&a), bits(&b));
        let other = embed_with(HashingConfig { seed: 1, ..config }, &refs);
        assert_ne!(bits(&a), bits(&other));
        assert_eq!((a.rows(), a.cols()), (300, 16));
        assert_unit_rows(&a);
    }

    #[test]
    fn same_bits_for_any_thread_count() {
        let texts = corpus(400);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let config = HashingConfig {
            sample_rows: 150,
            ..small_config()
        };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            pool.install(|| embed_with(config.clone(), &refs))
        };
        let one = run(1);
        assert_eq!(bits(&one), bits(&run(2)));
        assert_eq!(bits(&one), bits(&run(3)));
    }

    #[test]
    fn streaming_and_in_memory_paths_agree() {
        let texts = corpus(500);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for sample_rows in [100, 1000] {
            let config = HashingConfig {
                sample_rows,
                ..small_config()
            };
            let kept = embed_corpus(&config, &refs, &Progress::hidden(), usize::MAX);
            let streamed = embed_corpus(&config, &refs, &Progress::hidden(), 0);
            assert_eq!(bits(&kept), bits(&streamed), "sample_rows {sample_rows}");
        }
    }

    #[test]
    fn shared_words_are_closer_than_unrelated_texts() {
        let mut texts = corpus(200);
        texts.push("I was charged twice for my order, please refund the payment".into());
        texts.push("please refund me, the payment for my order was charged twice".into());
        texts.push("the garden needs rain and the weather has been dry all summer".into());
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let m = embed_with(HashingConfig::default(), &refs);
        let n = m.rows();
        let close = dot(m.row(n - 3), m.row(n - 2));
        let far = dot(m.row(n - 3), m.row(n - 1));
        assert!(close > far + 0.3, "paraphrase {close} vs unrelated {far}");
        // Sentences of the same toy topic are closer on average than across topics.
        let (mut same, mut diff, mut ns, mut nd) = (0.0, 0.0, 0, 0);
        for i in 0..100 {
            for j in i + 1..100 {
                let c = dot(m.row(i), m.row(j));
                if i % 5 == j % 5 {
                    same += c;
                    ns += 1;
                } else {
                    diff += c;
                    nd += 1;
                }
            }
        }
        let (same, diff) = (same / ns as f32, diff / nd as f32);
        assert!(same > diff + 0.3, "same topic {same} vs different {diff}");
    }

    #[test]
    fn character_ngrams_link_word_variants() {
        // "unsubscribe"/"unsubscribing" share no stem but share character 4-grams.
        let mut texts = corpus(100);
        texts.push("how do I unsubscribe from the newsletter".into());
        texts.push("unsubscribing from newsletters does not work".into());
        texts.push("the parcel arrived late and damaged".into());
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let m = embed_with(HashingConfig::default(), &refs);
        let n = m.rows();
        assert!(dot(m.row(n - 3), m.row(n - 2)) > dot(m.row(n - 3), m.row(n - 1)) + 0.2);
    }

    #[test]
    fn tiny_and_degenerate_corpora() {
        let cases: Vec<Vec<&str>> = vec![
            vec![],
            vec!["just one text"],
            vec!["", ""],
            vec!["   ", "?!"],
            vec!["refund my card", "reset my password"],
            vec![
                "a",
                "",
                "the and of",
                "refund my card please",
                "refund my card please",
            ],
            vec![
                "What is it?",
                "Who are you?",
                "refund",
                "refunds",
                "parcel late",
            ],
        ];
        for texts in cases {
            for dims in [1, 3, 256] {
                let m = embed_with(
                    HashingConfig {
                        dims,
                        ..HashingConfig::default()
                    },
                    &texts,
                );
                assert_eq!((m.rows(), m.cols()), (texts.len(), dims), "{texts:?}");
                assert!(m.as_slice().iter().all(|x| x.is_finite()), "{texts:?}");
                assert_unit_rows(&m);
            }
        }
        // A two-text corpus keeps TF-IDF geometry: similar texts stay similar.
        let m = embed_with(
            HashingConfig::default(),
            &["my refund was never paid", "my refund was never paid out"],
        );
        assert!(dot(m.row(0), m.row(1)) > 0.8, "{}", dot(m.row(0), m.row(1)));
        // Identical texts get identical rows; stop-word-only texts are still told apart.
        let texts = [
            "refund my card please",
            "refund my card please",
            "What is it?",
            "Who are you?",
        ];
        let m = embed_with(HashingConfig::default(), &texts);
        assert_eq!(m.row(0), m.row(1));
        assert!(dot(m.row(2), m.row(3)) < 0.99);
    }

    #[test]
    fn rejects_bad_settings_and_names_itself() {
        let e = HashingEmbedder::new(HashingConfig {
            dims: 0,
            ..HashingConfig::default()
        });
        assert!(e.embed(&["x"], &Progress::hidden()).is_err());
        let e = HashingEmbedder::new(HashingConfig {
            char_ngrams: Some((5, 3)),
            ..HashingConfig::default()
        });
        assert!(e.embed(&["x"], &Progress::hidden()).is_err());
        assert_eq!(
            HashingEmbedder::new(HashingConfig::default()).name(),
            "hash-tfidf-svd256"
        );
    }

    #[test]
    fn features_follow_the_shared_analyzer() {
        let config = HashingConfig::default();
        let mut f = Featurizer::new(&config);
        let mut a = RowCounts::default();
        let mut b = RowCounts::default();
        // Stop words, case, punctuation and inflection do not change the word block.
        f.featurize("The REFUNDS, were refunded!", &mut a);
        f.featurize("refund refund", &mut b);
        assert_eq!(&a.entries[..a.words], &b.entries[..b.words]);
        // Unigram "refund" twice plus the bigram (refund, refund).
        assert_eq!(a.words, 2);
        assert!(a.entries[..a.words].iter().any(|&(_, tf)| tf == 2));
        // Character n-grams come from the surface words, so they differ.
        assert_ne!(&a.entries[a.words..], &b.entries[b.words..]);
        // Cached and uncached featurization agree.
        let mut fresh = Featurizer::new(&config);
        let mut c = RowCounts::default();
        fresh.featurize("The REFUNDS, were refunded!", &mut c);
        assert_eq!(a.entries, c.entries);
    }
}
