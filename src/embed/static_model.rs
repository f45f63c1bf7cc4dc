//! Static (model2vec-style) embeddings: a tokenizer plus one vector per token; a text's
//! vector is the mean of its token vectors, L2-normalized.
//!
//! [`StaticEmbedder`] loads a model2vec directory (`config.json`, `tokenizer.json`,
//! `model.safetensors`) from disk ([`StaticEmbedder::from_dir`]) or from three byte slices
//! ([`StaticEmbedder::from_bytes`]); the model that ships in the binary
//! ([`StaticEmbedder::builtin`]) is loaded from `include_bytes!` data.
//!
//! It follows the conventions of the reference Rust loader, MinishLab's model2vec-rs:
//! - `config.json`: only `normalize` is read (default `true`); other fields are ignored.
//! - `model.safetensors`: the 2-D tensor `embeddings` (or `0`, or `embedding.weight`), in F32,
//!   F16, BF16 or I8 (I8 is read as plain integers, without a scale; the mean's scale cancels
//!   in the L2 normalization). Optional `weights` (one per token id; F64, F32, F16 or BF16)
//!   scale each token's vector, and an optional `mapping` (I32 or I64, one per token id) maps a
//!   token id to its embedding row, as in vocabulary-quantized models.
//! - Tokenization without special tokens ([CLS]/[SEP] are not added); the tokenizer's
//!   truncation and padding settings are disabled. Every occurrence of the unknown token is
//!   dropped. A text is first cut to `512 × median token length` characters (the median byte
//!   length of the vocabulary's tokens), and the token ids (after dropping the unknown token)
//!   to 512.
//! - The mean divides by the number of tokens (weights scale the vectors, not the count).
//!
//! [`StaticEmbedder::encode`] gives model2vec's vectors (L2-normalized only when the config
//! says `normalize`; a text without known tokens gets the zero vector). The [`Embedder`] impl
//! always L2-normalizes, as every backend must, and gives a text with no known tokens (an empty
//! string, only unknown characters) the last basis vector, as the hashing embedder does for an
//! empty text, so every row has unit norm.
//!
//! Speed: BERT-style WordPiece tokenizers (BertNormalizer, BertPreTokenizer, WordPiece: the
//! MiniLM family) are run by [`FastWordPiece`], which gives the same ids as the Hugging Face
//! tokenizer without its per-token allocations: ASCII words are split, lowercased and looked
//! up in place; whitespace-separated chunks with non-ASCII characters, and texts containing an
//! added token (`[CLS]`, ...), go through the Hugging Face tokenizer. Other tokenizers always
//! do. Texts are tokenized and pooled in parallel in chunks of [`CHUNK_ROWS`]; each row
//! depends only on its text and sums its tokens in order, so the output is the same bits for
//! any thread count.

use super::wordpiece::FastWordPiece;
use super::Embedder;
use crate::error::{Error, Result};
use crate::matrix::{normalize, Matrix};
use crate::progress::Progress;
use rayon::prelude::*;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::path::Path;
use tokenizers::models::ModelWrapper;
use tokenizers::Tokenizer;

/// Texts are cut to this many tokens (model2vec-rs's default `max_length`).
pub const MAX_TOKENS: usize = 512;
/// Texts tokenized and pooled per parallel work item.
const CHUNK_ROWS: usize = 256;

/// The three files of a model2vec directory.
const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";
const MODEL: &str = "model.safetensors";

/// The model that ships in the binary: distilled from sentence-transformers/all-MiniLM-L6-v2.
const BUILTIN_CONFIG: &[u8] = include_bytes!("../../assets/static-minilm/config.json");
const BUILTIN_TOKENIZER: &[u8] = include_bytes!("../../assets/static-minilm/tokenizer.json");
const BUILTIN_MODEL: &[u8] = include_bytes!("../../assets/static-minilm/model.safetensors");

/// The bytes of a model2vec directory's files, for [`StaticEmbedder::from_bytes`].
#[derive(Debug, Clone, Copy)]
pub struct ModelBytes<'a> {
    /// `config.json`.
    pub config: &'a [u8],
    /// `tokenizer.json` (Hugging Face tokenizers format).
    pub tokenizer: &'a [u8],
    /// `model.safetensors`.
    pub model: &'a [u8],
}

/// A static embedding model (model2vec format) as an [`Embedder`].
pub struct StaticEmbedder {
    name: String,
    tokenizer: Tokenizer,
    fast: Option<FastWordPiece>,
    /// `rows × dims`, row-major.
    embeddings: Vec<f32>,
    dims: usize,
    /// Per token id.
    weights: Option<Vec<f32>>,
    /// Token id → embedding row (each entry checked to be a row).
    mapping: Option<Vec<u32>>,
    normalize: bool,
    unk_id: Option<u32>,
    /// Texts are cut to this many characters before tokenization.
    max_chars: usize,
    /// [`Embedder::embed`] subtracts the corpus mean ([`Self::centered_on_corpus`]).
    center: bool,
}

impl std::fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbedder")
            .field("name", &self.name)
            .field("dims", &self.dims)
            .field("rows", &(self.embeddings.len() / self.dims.max(1)))
            .field("normalize", &self.normalize)
            .field("fast_tokenizer", &self.fast.is_some())
            .finish()
    }
}

impl StaticEmbedder {
    /// The model built into the binary, named `static-minilm-l6-<dims>`.
    pub fn builtin() -> Result<Self> {
        let mut model = Self::from_bytes(
            "built-in model assets/static-minilm",
            ModelBytes {
                config: BUILTIN_CONFIG,
                tokenizer: BUILTIN_TOKENIZER,
                model: BUILTIN_MODEL,
            },
        )?;
        model.name = format!("static-minilm-l6-{}", model.dims);
        Ok(model)
    }

    /// Loads a model2vec directory; named `static:<directory name>`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let label = dir.display().to_string();
        if !dir.is_dir() {
            return Err(Error::input(
                &label,
                None,
                None,
                "expected a model2vec directory (config.json, tokenizer.json, model.safetensors)",
            ));
        }
        let read = |file: &str| -> Result<Vec<u8>> {
            let path = dir.join(file);
            std::fs::read(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::input(
                    path.display().to_string(),
                    None,
                    None,
                    format!(
                        "not found: a model2vec directory holds {CONFIG}, {TOKENIZER} and {MODEL}"
                    ),
                ),
                _ => Error::io(&path, e),
            })
        };
        let (config, tokenizer, model) = (read(CONFIG)?, read(TOKENIZER)?, read(MODEL)?);
        let mut loaded = Self::from_bytes(
            &label,
            ModelBytes {
                config: &config,
                tokenizer: &tokenizer,
                model: &model,
            },
        )?;
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or(label);
        loaded.name = format!("static:{name}");
        Ok(loaded)
    }

    /// Loads a model from its files' bytes. `source` names it in errors (`<source>/model.safetensors:
    /// ...`) and in [`Embedder::name`] (`static:<source>`).
    pub fn from_bytes(source: &str, bytes: ModelBytes<'_>) -> Result<Self> {
        let bad = |file: &str, message: String| {
            Error::input(format!("{source}/{file}"), None, None, message)
        };

        let config: serde_json::Value = serde_json::from_slice(bytes.config)
            .map_err(|e| bad(CONFIG, format!("expected a JSON object: {e}")))?;
        let normalize = match config.get("normalize") {
            None | Some(serde_json::Value::Null) => true,
            Some(v) => v.as_bool().ok_or_else(|| {
                bad(
                    CONFIG,
                    format!("expected `normalize` to be true or false, found {v}"),
                )
            })?,
        };

        let mut tokenizer = Tokenizer::from_bytes(bytes.tokenizer).map_err(|e| {
            bad(
                TOKENIZER,
                format!("expected a Hugging Face tokenizers file: {e}"),
            )
        })?;
        // Pooling wants every token of the text and nothing else.
        tokenizer
            .with_truncation(None)
            .map_err(|e| bad(TOKENIZER, e.to_string()))?;
        tokenizer.with_padding(None);
        let vocab = tokenizer.get_vocab(true);
        let id_space = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut lengths: Vec<usize> = tokenizer.get_vocab(false).keys().map(|t| t.len()).collect();
        lengths.sort_unstable();
        let median_token_len = lengths.get(lengths.len() / 2).copied().unwrap_or(1).max(1);
        let unk_token = match tokenizer.get_model() {
            ModelWrapper::BPE(m) => m.unk_token.clone(),
            ModelWrapper::WordPiece(m) => Some(m.unk_token.clone()),
            ModelWrapper::WordLevel(m) => Some(m.unk_token.clone()),
            ModelWrapper::Unigram(_) => None,
        };
        let unk_id = match unk_token {
            Some(t) => Some(tokenizer.token_to_id(&t).ok_or_else(|| {
                bad(
                    TOKENIZER,
                    format!("the unknown token `{t}` is not in the vocabulary"),
                )
            })?),
            None => None,
        };

        let tensors = SafeTensors::deserialize(bytes.model)
            .map_err(|e| bad(MODEL, format!("expected a safetensors file: {e}")))?;
        let names = || {
            let mut n = tensors.names();
            n.sort_unstable();
            n.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let tensor = ["embeddings", "0", "embedding.weight"]
            .iter()
            .find_map(|name| tensors.tensor(name).ok())
            .ok_or_else(|| {
                bad(
                    MODEL,
                    format!(
                        "expected a tensor named `embeddings` (one row per token); found {}",
                        if tensors.is_empty() {
                            "no tensors".to_string()
                        } else {
                            names()
                        }
                    ),
                )
            })?;
        let (rows, dims) = match *tensor.shape() {
            [r, d] if r > 0 && d > 0 => (r, d),
            ref s => {
                return Err(bad(
                    MODEL,
                    format!(
                        "expected `embeddings` to be a non-empty 2-D tensor, found shape {s:?}"
                    ),
                ))
            }
        };
        let embeddings = decode_floats(&tensor, true).map_err(|dtype| {
            bad(
                MODEL,
                format!(
                    "`embeddings` has dtype {dtype:?}; supported dtypes are F32, F16, BF16 and I8"
                ),
            )
        })?;
        if let Some(bad_value) = embeddings.iter().find(|x| !x.is_finite()) {
            return Err(bad(
                MODEL,
                format!("expected finite numbers in `embeddings`, found {bad_value}"),
            ));
        }

        let weights = match tensors.tensor("weights") {
            Ok(t) => {
                let w = decode_floats(&t, false).map_err(|dtype| {
                    bad(
                        MODEL,
                        format!(
                            "`weights` has dtype {dtype:?}; supported dtypes are F64, F32, F16 and BF16"
                        ),
                    )
                })?;
                if w.len() != id_space {
                    return Err(bad(
                        MODEL,
                        format!(
                            "expected one weight per token of {TOKENIZER} ({id_space}), found {}",
                            w.len()
                        ),
                    ));
                }
                Some(w)
            }
            Err(_) => None,
        };
        let mapping = match tensors.tensor("mapping") {
            Ok(t) => {
                let m = decode_ids(&t).ok_or_else(|| {
                    bad(
                        MODEL,
                        format!(
                            "`mapping` has dtype {:?}; supported dtypes are I32 and I64",
                            t.dtype()
                        ),
                    )
                })?;
                if m.len() != id_space {
                    return Err(bad(
                        MODEL,
                        format!(
                            "expected `mapping` to have one entry per token of {TOKENIZER} ({id_space}), found {}",
                            m.len()
                        ),
                    ));
                }
                let m: Option<Vec<u32>> = m
                    .into_iter()
                    .map(|r| u32::try_from(r).ok().filter(|&r| (r as usize) < rows))
                    .collect();
                Some(m.ok_or_else(|| {
                    bad(
                        MODEL,
                        format!(
                            "expected `mapping` entries to be rows of `embeddings` (0..{rows})"
                        ),
                    )
                })?)
            }
            Err(_) => None,
        };
        if mapping.is_none() && rows != id_space {
            return Err(bad(
                MODEL,
                format!(
                    "`embeddings` has {rows} rows but {TOKENIZER} has {id_space} tokens; expected one row per token"
                ),
            ));
        }

        let fast = FastWordPiece::new(&tokenizer);
        Ok(StaticEmbedder {
            name: format!("static:{source}"),
            tokenizer,
            fast,
            embeddings,
            dims,
            weights,
            mapping,
            normalize,
            unk_id,
            max_chars: MAX_TOKENS.saturating_mul(median_token_len),
            center: false,
        })
    }

    /// This model, with [`Embedder::embed`] and [`Embedder::embed_into`] subtracting the mean of
    /// the corpus's unit rows from each row before normalizing it again. Mean-pooled token
    /// vectors share one large common direction (the built-in model's corpus mean has norm
    /// 0.56-0.58 on CLINC150 and MMLU-Pro), which pulls every cosine up; with it removed, a
    /// prompt's nearest neighbours are of its own intent more often (CLINC150 10-NN intent
    /// agreement 0.822 → 0.834).
    /// Rows then depend on the whole corpus, as the hashing embedder's do, so prompts that are
    /// compared (tests and production) must be embedded in one call. [`Self::encode`] is
    /// unaffected.
    pub fn centered_on_corpus(mut self) -> Self {
        self.center = true;
        self.name.push_str("-centered");
        self
    }

    /// Output dimension.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Whether `config.json` asks for L2-normalized vectors (affects [`Self::encode`] only).
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// Whether the allocation-free WordPiece tokenizer is used (BERT-style tokenizers).
    pub fn has_fast_tokenizer(&self) -> bool {
        self.fast.is_some()
    }

    /// The token ids a text is pooled over: no special tokens, unknown tokens dropped, at most
    /// [`MAX_TOKENS`].
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        self.tokenize(text, &mut ids)?;
        Ok(ids)
    }

    /// model2vec's vectors: the mean of the token vectors, L2-normalized when the config says
    /// `normalize`; a text without known tokens gets the zero vector.
    pub fn encode(&self, texts: &[&str], progress: &Progress) -> Result<Matrix> {
        self.run(texts, progress, false)
    }

    /// Tokenizes and pools every text into one row of the output, in parallel.
    fn run(&self, texts: &[&str], progress: &Progress, unit_rows: bool) -> Result<Matrix> {
        let mut out = Matrix::zeros(texts.len(), self.dims);
        self.write_rows(texts, &mut out, 0, 1.0, unit_rows, progress)?;
        Ok(out)
    }

    /// Writes each text's row, times `scale`, into columns `offset..offset + dims` of `out`.
    fn write_rows(
        &self,
        texts: &[&str],
        out: &mut Matrix,
        offset: usize,
        scale: f32,
        unit_rows: bool,
        progress: &Progress,
    ) -> Result<()> {
        let dims = self.dims;
        let width = out.cols();
        assert_eq!(out.rows(), texts.len(), "one output row per text");
        assert!(offset + dims <= width, "the rows fit in the output");
        if texts.is_empty() {
            return Ok(());
        }
        let bar = progress.bar(texts.len() as u64, "embedding");
        out.as_mut_slice()
            .par_chunks_mut(width * CHUNK_ROWS)
            .zip(texts.par_chunks(CHUNK_ROWS))
            .try_for_each(|(block, texts)| -> Result<()> {
                let mut ids = Vec::with_capacity(64);
                let mut row = vec![0.0f32; dims];
                for (out_row, text) in block.chunks_mut(width).zip(texts) {
                    self.tokenize(text, &mut ids)?;
                    self.pool(&ids, &mut row);
                    if unit_rows {
                        finish_row(&mut row);
                    } else if self.normalize {
                        normalize(&mut row);
                    }
                    for (o, &x) in out_row[offset..offset + dims].iter_mut().zip(&row) {
                        *o = x * scale;
                    }
                }
                bar.inc(texts.len() as u64);
                Ok(())
            })?;
        bar.finish_and_clear();
        if unit_rows && self.center {
            center_columns(out, offset..offset + dims, scale);
        }
        Ok(())
    }

    /// Fills `ids` with the ids `text` is pooled over (see [`Self::token_ids`]).
    fn tokenize(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        ids.clear();
        let text = truncate_chars(text, self.max_chars);
        let done = match &self.fast {
            Some(fast) => fast.encode(&self.tokenizer, text, ids),
            None => false,
        };
        if !done {
            ids.clear();
            let encoding = self
                .tokenizer
                .encode_fast(text, false)
                .map_err(|e| Error::Analysis(format!("{}: tokenization failed: {e}", self.name)))?;
            ids.extend_from_slice(encoding.get_ids());
        }
        if let Some(unk) = self.unk_id {
            ids.retain(|&id| id != unk);
        }
        ids.truncate(MAX_TOKENS);
        Ok(())
    }

    /// Writes the mean of the token vectors of `ids` into `row` (zeros when `ids` is empty).
    fn pool(&self, ids: &[u32], row: &mut [f32]) {
        row.fill(0.0);
        let dims = self.dims;
        for &id in ids {
            let r = match &self.mapping {
                Some(m) => m[id as usize] as usize,
                None => id as usize,
            };
            let v = &self.embeddings[r * dims..(r + 1) * dims];
            match &self.weights {
                Some(w) => {
                    let s = w[id as usize];
                    row.iter_mut().zip(v).for_each(|(o, &x)| *o += x * s);
                }
                None => row.iter_mut().zip(v).for_each(|(o, &x)| *o += x),
            }
        }
        if !ids.is_empty() {
            let n = ids.len() as f32;
            row.iter_mut().for_each(|o| *o /= n);
        }
    }
}

impl Embedder for StaticEmbedder {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn embed(&self, texts: &[&str], progress: &Progress) -> Result<Matrix> {
        self.run(texts, progress, true)
    }

    fn dims(&self) -> Option<usize> {
        Some(StaticEmbedder::dims(self))
    }

    fn embed_into(
        &self,
        texts: &[&str],
        out: &mut Matrix,
        offset: usize,
        scale: f32,
        progress: &Progress,
    ) -> Result<()> {
        self.write_rows(texts, out, offset, scale, true, progress)
    }
}

/// L2-normalizes a row; an all-zero row (no known tokens) becomes the last basis vector, as in
/// the hashing embedder, so every row has unit norm.
fn finish_row(row: &mut [f32]) {
    normalize(row);
    if row.iter().all(|&x| x == 0.0) {
        if let Some(last) = row.last_mut() {
            *last = 1.0;
        }
    }
}

/// Subtracts the mean row of `columns` from each row's part and scales the part back to norm
/// `scale` (a part equal to the mean keeps its row). The mean is summed in f64 over fixed
/// blocks in a fixed order, so the bits do not depend on the thread count.
fn center_columns(out: &mut Matrix, columns: std::ops::Range<usize>, scale: f32) {
    let (width, rows) = (out.cols(), out.rows());
    let block_sums: Vec<Vec<f64>> = out
        .as_slice()
        .par_chunks(width * CHUNK_ROWS)
        .map(|block| {
            let mut sum = vec![0.0f64; columns.len()];
            for row in block.chunks(width) {
                for (s, &x) in sum.iter_mut().zip(&row[columns.clone()]) {
                    *s += x as f64;
                }
            }
            sum
        })
        .collect();
    let mut mean = vec![0.0f64; columns.len()];
    for sum in &block_sums {
        mean.iter_mut().zip(sum).for_each(|(m, s)| *m += s);
    }
    let mean: Vec<f32> = mean
        .iter()
        .map(|m| (m / rows.max(1) as f64) as f32)
        .collect();
    out.as_mut_slice().par_chunks_mut(width).for_each(|row| {
        let part = &mut row[columns.clone()];
        let norm = part
            .iter()
            .zip(&mean)
            .map(|(x, m)| (x - m) * (x - m))
            .sum::<f32>()
            .sqrt();
        if norm > 1e-6 * scale {
            for (x, m) in part.iter_mut().zip(&mean) {
                *x = (*x - m) * (scale / norm);
            }
        }
    });
}

/// The first `max_chars` characters of `s`.
fn truncate_chars(s: &str, max_chars: usize) -> &str {
    if s.len() <= max_chars {
        return s; // at most as many characters as bytes
    }
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| &s[..i])
}

/// A float tensor as f32, or its dtype when unsupported. `embeddings` may be I8 (read as plain
/// integers, as model2vec-rs does); `weights` may be F64.
fn decode_floats(t: &TensorView<'_>, embeddings: bool) -> std::result::Result<Vec<f32>, Dtype> {
    let raw = t.data();
    Ok(match t.dtype() {
        Dtype::F32 => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => raw
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => raw
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::I8 if embeddings => raw.iter().map(|&b| f32::from(b as i8)).collect(),
        Dtype::F64 if !embeddings => raw
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        other => return Err(other),
    })
}

/// An integer tensor (I32 or I64) as i64.
fn decode_ids(t: &TensorView<'_>) -> Option<Vec<i64>> {
    let raw = t.data();
    Some(match t.dtype() {
        Dtype::I32 => raw
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
            .collect(),
        Dtype::I64 => raw
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::dot;
    use std::path::PathBuf;

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny-model2vec")
    }

    fn tiny() -> StaticEmbedder {
        StaticEmbedder::from_dir(fixture_dir()).expect("tiny model loads")
    }

    fn tiny_files() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let d = fixture_dir();
        let read = |f: &str| std::fs::read(d.join(f)).expect("fixture file");
        (read(CONFIG), read(TOKENIZER), read(MODEL))
    }

    /// The tiny model's F32 embedding rows (rows, dims, data).
    fn tiny_rows() -> (usize, usize, Vec<f32>) {
        let (_, _, model) = tiny_files();
        let st = SafeTensors::deserialize(&model).unwrap();
        let t = st.tensor("embeddings").unwrap();
        let (r, d) = (t.shape()[0], t.shape()[1]);
        (r, d, decode_floats(&t, true).unwrap())
    }

    /// A safetensors file from (name, dtype, shape, raw little-endian bytes).
    fn safetensors_file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn with_model(model: &[u8]) -> Result<StaticEmbedder> {
        let (config, tokenizer, _) = tiny_files();
        StaticEmbedder::from_bytes(
            "test",
            ModelBytes {
                config: &config,
                tokenizer: &tokenizer,
                model,
            },
        )
    }

    fn bits(m: &Matrix) -> Vec<u32> {
        m.as_slice().iter().map(|x| x.to_bits()).collect()
    }

    #[derive(serde::Deserialize)]
    struct Expected {
        dims: usize,
        vocab_size: usize,
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        text: String,
        ids: Vec<u32>,
        vector: Option<Vec<f32>>,
    }

    #[test]
    fn matches_the_vectors_the_generator_computed() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny-model2vec-expected.json");
        let expected: Expected =
            serde_json::from_slice(&std::fs::read(path).unwrap()).expect("expected.json");
        let model = tiny();
        assert_eq!(model.dims(), expected.dims);
        assert_eq!(tiny_rows().0, expected.vocab_size);
        assert!(model.has_fast_tokenizer());
        let texts: Vec<&str> = expected.cases.iter().map(|c| c.text.as_str()).collect();
        let m = model.embed(&texts, &Progress::hidden()).unwrap();
        for (i, case) in expected.cases.iter().enumerate() {
            assert_eq!(
                model.token_ids(&case.text).unwrap(),
                case.ids,
                "{:?}",
                case.text
            );
            match &case.vector {
                Some(v) => {
                    for (a, b) in m.row(i).iter().zip(v) {
                        assert!(
                            (a - b).abs() < 1e-6,
                            "{:?}: {:?} vs {v:?}",
                            case.text,
                            m.row(i)
                        );
                    }
                }
                // No known token: the last basis vector, like the hashing embedder's empty text.
                None => {
                    let mut basis = vec![0.0; model.dims()];
                    basis[model.dims() - 1] = 1.0;
                    assert_eq!(m.row(i), &basis[..], "{:?}", case.text);
                }
            }
        }
    }

    #[test]
    fn mean_of_token_rows_by_hand() {
        let model = tiny();
        let (_, d, rows) = tiny_rows();
        let ids = model.token_ids("refund refund password").unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0], ids[1]);
        let row = |i: u32| &rows[i as usize * d..(i as usize + 1) * d];
        let mut want: Vec<f32> = (0..d)
            .map(|k| (2.0 * row(ids[0])[k] + row(ids[2])[k]) / 3.0)
            .collect();
        normalize(&mut want);
        let got = model
            .embed(&["refund refund password"], &Progress::hidden())
            .unwrap();
        for (a, b) in got.row(0).iter().zip(&want) {
            assert!((a - b).abs() < 1e-6);
        }
        // One token: its own row, normalized.
        let mut one = row(ids[2]).to_vec();
        normalize(&mut one);
        let got = model.embed(&["PASSWORD"], &Progress::hidden()).unwrap();
        assert_eq!(got.row(0), &one[..]);
    }

    #[test]
    fn no_special_tokens_and_unknown_tokens_dropped() {
        let model = tiny();
        let unk = model.tokenizer.token_to_id("[UNK]").unwrap();
        let cls = model.tokenizer.token_to_id("[CLS]").unwrap();
        let refund = model.token_ids("refund").unwrap();
        assert_eq!(refund.len(), 1);
        for text in ["refund", "☃ refund €€", "[UNK] refund", "refund ☃☃☃"] {
            let ids = model.token_ids(text).unwrap();
            assert_eq!(ids, refund, "{text:?}");
            assert!(!ids.contains(&unk) && !ids.contains(&cls));
        }
        // An added token in the text is kept (as the Hugging Face tokenizer does).
        assert_eq!(
            model.token_ids("[CLS] refund").unwrap(),
            vec![cls, refund[0]]
        );
        let m = model
            .embed(
                &["☃ refund €€", "refund", "", "☃", "   "],
                &Progress::hidden(),
            )
            .unwrap();
        assert_eq!(m.row(0), m.row(1));
        assert_eq!(m.row(2), m.row(3));
        assert_eq!(m.row(2), m.row(4));
        assert_eq!(m.row(2)[model.dims() - 1], 1.0);
        // encode(): model2vec's zero vector for a text without known tokens.
        let e = model.encode(&["", "refund"], &Progress::hidden()).unwrap();
        assert!(e.row(0).iter().all(|&x| x == 0.0));
        assert_eq!(e.row(1), m.row(1));
    }

    #[test]
    fn fast_tokenizer_matches_hugging_face() {
        let cases = [
            "",
            "  \n\t ",
            "Hello, World! It's 12,345.67$ (approx.) -- e.g. U.S.A.",
            "snake_case CamelCase kebab-case path/to/file.rs a+b=c ~`^|<>",
            "unbelievably antidisestablishmentarianism qzxqzxqzx refunds",
            "Café naïve résumé ÀÉÎõü e\u{301} STRASSE ß İstanbul ΣΑΣ",
            "中文字符 test カタカナ 한국어 refund中文",
            "emoji 🧿 hi 😀😀 — “quotes” … ﬁ Ⅳ",
            "a\u{00A0}b a\u{3000}b a\u{200B}b a\u{0085}b x\u{2028}y",
            "a\x0Bb a\x0Cb a\x00b a\x1Fb a\x7Fb a\u{FFFD}b a\r\nb",
            "[CLS] hello [SEP] [MASK]ed [mask] [UNK]",
            &"a".repeat(101),
            &"refund ".repeat(700),
        ];
        let (_, tokenizer_bytes, _) = tiny_files();
        let base = Tokenizer::from_bytes(&tokenizer_bytes).unwrap();
        for (clean_text, lowercase) in [(true, true), (true, false), (false, true), (false, false)]
        {
            let mut tok = base.clone();
            tok.with_normalizer(Some(tokenizers::normalizers::bert::BertNormalizer::new(
                clean_text, true, None, lowercase,
            )));
            let fast = FastWordPiece::new(&tok).expect("BERT pipeline");
            for text in cases {
                let want = tok.encode_fast(text, false).unwrap().get_ids().to_vec();
                let mut got = Vec::new();
                if fast.encode(&tok, text, &mut got) {
                    assert_eq!(got, want, "clean {clean_text} lower {lowercase} {text:?}");
                } else {
                    assert!(text.contains('['), "fell back on {text:?}");
                }
            }
        }
    }

    #[test]
    fn fast_tokenizer_matches_hugging_face_on_the_builtin_tokenizer() {
        let tok = Tokenizer::from_bytes(BUILTIN_TOKENIZER).unwrap();
        let fast = FastWordPiece::new(&tok).expect("the built-in tokenizer is BERT WordPiece");
        // Varied prompts: case, punctuation, digits, contractions, URLs, accents, long words.
        let words = [
            "Refund",
            "can't",
            "order#4512",
            "e-mail",
            "https://example.com/a?b=c",
            "résumé",
            "2FA",
            "API_key",
            "naïve",
            "don't!!",
            "(urgent)",
            "$19.99",
            "x",
            "ünïcödé",
            "SSO/SAML",
            "antidisestablishmentarianism",
            "日本",
            "'quoted'",
            "100%",
            "C++",
            "...",
            "\"hi\"",
        ];
        let mut state = 7u64;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..(state % 12 + 1) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(words[(state >> 33) as usize % words.len()]);
                text.push([' ', ' ', ' ', '\t', '\n'][(state >> 20) as usize % 5]);
            }
            let want = tok
                .encode_fast(text.as_str(), false)
                .unwrap()
                .get_ids()
                .to_vec();
            let mut got = Vec::new();
            assert!(fast.encode(&tok, &text, &mut got));
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn long_texts_are_cut_to_max_tokens() {
        let model = tiny();
        // One token per character: cut to MAX_TOKENS ids.
        let dense = "a,".repeat(2000);
        assert_eq!(model.token_ids(&dense).unwrap().len(), MAX_TOKENS);
        // Long words: the text is first cut to MAX_TOKENS × median token length characters,
        // as model2vec-rs does, so fewer tokens remain.
        let median = model.max_chars / MAX_TOKENS;
        let long = "refund password ".repeat(1000);
        let ids = model.token_ids(&long).unwrap();
        let cut = &long[..model.max_chars];
        assert_eq!(ids, model.token_ids(cut).unwrap(), "median {median}");
        assert!(ids.len() < MAX_TOKENS);
        let m = model.embed(&[&long, &dense], &Progress::hidden()).unwrap();
        assert!((dot(m.row(0), m.row(0)) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn deterministic_for_any_thread_count_and_from_bytes() {
        let texts: Vec<String> = (0..2000)
            .map(|i| format!("refund {i} for my order number {} please", i * 7 % 13))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let model = tiny();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| model.embed(&refs, &Progress::hidden()).unwrap())
        };
        let one = run(1);
        assert_eq!(bits(&one), bits(&run(3)));
        assert_eq!(bits(&one), bits(&run(2)));
        let (config, tokenizer, model_bytes) = tiny_files();
        let from_bytes = StaticEmbedder::from_bytes(
            "tiny",
            ModelBytes {
                config: &config,
                tokenizer: &tokenizer,
                model: &model_bytes,
            },
        )
        .unwrap();
        assert_eq!(
            bits(&one),
            bits(&from_bytes.embed(&refs, &Progress::hidden()).unwrap())
        );
        assert_eq!(from_bytes.name(), "static:tiny");
        assert_eq!(model.name(), "static:tiny-model2vec");
        assert_eq!(model.embed(&[], &Progress::hidden()).unwrap().rows(), 0);
    }

    #[test]
    fn centered_rows_are_the_plain_rows_less_their_mean() {
        let texts: Vec<String> = (0..700)
            .map(|i| format!("refund {i} for my order number {} please", i * 7 % 13))
            .chain(["".to_string(), "[UNK]".to_string()])
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let p = Progress::hidden();
        let plain = tiny().embed(&refs, &p).unwrap();
        let centered = tiny().centered_on_corpus();
        assert_eq!(centered.name(), "static:tiny-model2vec-centered");
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| centered.embed(&refs, &p).unwrap())
        };
        let got = run(1);
        assert_eq!(bits(&got), bits(&run(3)), "same bits for any thread count");
        // Computed independently: the mean of the plain unit rows, subtracted, renormalized.
        let dims = plain.cols();
        let mut mean = vec![0.0f64; dims];
        for i in 0..plain.rows() {
            for (m, &x) in mean.iter_mut().zip(plain.row(i)) {
                *m += x as f64 / plain.rows() as f64;
            }
        }
        for i in 0..plain.rows() {
            let want: Vec<f64> = plain
                .row(i)
                .iter()
                .zip(&mean)
                .map(|(&x, m)| x as f64 - m)
                .collect();
            let norm = want.iter().map(|x| x * x).sum::<f64>().sqrt();
            for (g, w) in got.row(i).iter().zip(&want) {
                assert!(
                    (*g as f64 - w / norm).abs() < 1e-4,
                    "row {i}: {g} vs {}",
                    w / norm
                );
            }
        }
        // Written in place into a wider matrix at a scale, the part is the same rows scaled.
        let mut wide = Matrix::zeros(refs.len(), dims + 3);
        centered.embed_into(&refs, &mut wide, 3, 0.5, &p).unwrap();
        for i in 0..refs.len() {
            assert!(wide.row(i)[..3].iter().all(|&x| x == 0.0));
            for (w, g) in wide.row(i)[3..].iter().zip(got.row(i)) {
                assert!((w - 0.5 * g).abs() < 1e-6);
            }
        }
        // The model2vec vectors are not centered.
        assert_eq!(
            bits(&tiny().encode(&refs, &p).unwrap()),
            bits(&centered.encode(&refs, &p).unwrap())
        );
        // One text is its own mean: nothing is left to normalize, so its row stays unit.
        let one = centered.embed(&["refund please"], &p).unwrap();
        assert!((dot(one.row(0), one.row(0)) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn normalize_flag_applies_to_encode_only() {
        let (_, tokenizer, model) = tiny_files();
        let load = |config: &str| {
            StaticEmbedder::from_bytes(
                "t",
                ModelBytes {
                    config: config.as_bytes(),
                    tokenizer: &tokenizer,
                    model: &model,
                },
            )
            .unwrap()
        };
        let raw = load(r#"{"normalize": false, "unknown_field": [1, 2]}"#);
        let unit = load("{}");
        assert!(!raw.normalizes() && unit.normalizes());
        let texts = ["refund password", "my order"];
        let p = Progress::hidden();
        let (r, u) = (
            raw.encode(&texts, &p).unwrap(),
            unit.encode(&texts, &p).unwrap(),
        );
        for i in 0..2 {
            let norm = dot(r.row(i), r.row(i)).sqrt();
            assert!(
                (norm - 1.0).abs() > 1e-3,
                "a mean of random rows is not unit: {norm}"
            );
            assert!((dot(u.row(i), u.row(i)) - 1.0).abs() < 1e-5);
            let mut n = r.row(i).to_vec();
            normalize(&mut n);
            for (a, b) in n.iter().zip(u.row(i)) {
                assert!((a - b).abs() < 1e-6);
            }
        }
        // The Embedder contract: unit rows whatever the config says.
        assert_eq!(
            bits(&raw.embed(&texts, &p).unwrap()),
            bits(&unit.embed(&texts, &p).unwrap())
        );
    }

    #[test]
    fn f16_bf16_and_i8_tensors() {
        let (r, d, rows) = tiny_rows();
        let f32_model = tiny();
        let texts = ["How do I get a refund?", "password reset link expired", ""];
        let want = f32_model.embed(&texts, &Progress::hidden()).unwrap();
        // Rows are multiples of 1/64 in [-1, 1]: exact in f16 and bf16, and ×64 in i8.
        let f16: Vec<u8> = rows
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect();
        let bf16: Vec<u8> = rows
            .iter()
            .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
            .collect();
        let i8: Vec<u8> = rows.iter().map(|&x| ((x * 64.0) as i8) as u8).collect();
        for (dtype, data) in [(Dtype::F16, f16), (Dtype::BF16, bf16), (Dtype::I8, i8)] {
            let file = safetensors_file(&[("embeddings", dtype, vec![r, d], data)]);
            let got = with_model(&file)
                .unwrap()
                .embed(&texts, &Progress::hidden())
                .unwrap();
            for (a, b) in got.as_slice().iter().zip(want.as_slice()) {
                assert!((a - b).abs() < 1e-6, "{dtype:?}");
            }
        }
    }

    #[test]
    fn weights_and_mapping_as_model2vec_rs() {
        let (r, d, rows) = tiny_rows();
        let model = tiny();
        let ids = model.token_ids("refund password").unwrap();
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        // Weights scale each token's vector: weight 3 on `refund` counts it three times.
        let mut w = vec![1.0f32; r];
        w[ids[0] as usize] = 3.0;
        let file = safetensors_file(&[
            ("embeddings", Dtype::F32, vec![r, d], f32_bytes(&rows)),
            ("weights", Dtype::F32, vec![r], f32_bytes(&w)),
        ]);
        let weighted = with_model(&file).unwrap();
        let a = weighted
            .embed(&["refund password"], &Progress::hidden())
            .unwrap();
        let b = model
            .embed(&["refund refund refund password"], &Progress::hidden())
            .unwrap();
        for (x, y) in a.row(0).iter().zip(b.row(0)) {
            assert!((x - y).abs() < 1e-6);
        }
        // A mapping sends token ids to rows: map every token to the row of `password`.
        let mapping: Vec<u8> = (0..r).flat_map(|_| (ids[1] as i64).to_le_bytes()).collect();
        let file = safetensors_file(&[
            (
                "embeddings",
                Dtype::F32,
                vec![2, d],
                f32_bytes(&rows[..2 * d]),
            ),
            ("mapping", Dtype::I64, vec![r], mapping),
        ]);
        let err = with_model(&file).unwrap_err().to_string();
        assert!(err.contains("rows of `embeddings`"), "{err}");
        let mapping: Vec<u8> = (0..r as i32)
            .map(|i| i % 2)
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let file = safetensors_file(&[
            (
                "embeddings",
                Dtype::F32,
                vec![2, d],
                f32_bytes(&rows[..2 * d]),
            ),
            ("mapping", Dtype::I32, vec![r], mapping),
        ]);
        let mapped = with_model(&file).unwrap();
        let m = mapped.encode(&["refund"], &Progress::hidden()).unwrap();
        let mut want = rows[(ids[0] as usize % 2) * d..][..d].to_vec();
        normalize(&mut want);
        assert_eq!(m.row(0), &want[..]);
    }

    #[test]
    fn clear_errors() {
        let (r, d, rows) = tiny_rows();
        let f32_bytes: Vec<u8> = rows.iter().flat_map(|x| x.to_le_bytes()).collect();
        // Missing directory and missing file.
        let err = StaticEmbedder::from_dir("no/such/dir")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no/such/dir") && err.contains("model2vec directory"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        for f in [CONFIG, TOKENIZER] {
            std::fs::copy(fixture_dir().join(f), dir.path().join(f)).unwrap();
        }
        let err = StaticEmbedder::from_dir(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.safetensors: not found"), "{err}");
        // No `embeddings` tensor.
        let file = safetensors_file(&[("vectors", Dtype::F32, vec![r, d], f32_bytes.clone())]);
        let err = with_model(&file).unwrap_err().to_string();
        assert!(
            err.contains("test/model.safetensors")
                && err.contains("expected a tensor named `embeddings`")
                && err.contains("`vectors`"),
            "{err}"
        );
        // Unsupported dtype.
        let file = safetensors_file(&[("embeddings", Dtype::I32, vec![r, d], f32_bytes.clone())]);
        let err = with_model(&file).unwrap_err().to_string();
        assert!(
            err.contains("dtype I32") && err.contains("F32, F16, BF16 and I8"),
            "{err}"
        );
        // Rows that do not match the tokenizer.
        let file = safetensors_file(&[(
            "embeddings",
            Dtype::F32,
            vec![r - 1, d],
            f32_bytes[..(r - 1) * d * 4].to_vec(),
        )]);
        let err = with_model(&file).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{} rows but tokenizer.json has {r} tokens", r - 1)),
            "{err}"
        );
        // Not a 2-D tensor, not safetensors, bad config, bad tokenizer.
        let file = safetensors_file(&[("embeddings", Dtype::F32, vec![r * d], f32_bytes)]);
        assert!(with_model(&file).unwrap_err().to_string().contains("2-D"));
        assert!(with_model(b"garbage")
            .unwrap_err()
            .to_string()
            .contains("safetensors"));
        let (config, tokenizer, model) = tiny_files();
        let err = StaticEmbedder::from_bytes(
            "t",
            ModelBytes {
                config: b"{\"normalize\": \"yes\"}",
                tokenizer: &tokenizer,
                model: &model,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("t/config.json") && err.contains("normalize"),
            "{err}"
        );
        let err = StaticEmbedder::from_bytes(
            "t",
            ModelBytes {
                config: &config,
                tokenizer: b"{}",
                model: &model,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("t/tokenizer.json"), "{err}");
    }

    #[test]
    fn builtin_model_loads() {
        let model = StaticEmbedder::builtin().unwrap();
        assert!(model.name().starts_with("static-minilm-l6-"));
        let m = model
            .embed(&["how do I reset my password", ""], &Progress::hidden())
            .unwrap();
        for i in 0..2 {
            assert!((dot(m.row(i), m.row(i)) - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn shipped_model_paraphrases_closer_than_unrelated() {
        let model = StaticEmbedder::builtin().unwrap();
        let pairs = [
            (
                "how much money do I have",
                "what's my balance",
                "the parcel arrived late",
            ),
            (
                "I forgot my password",
                "I can't remember my login credentials",
                "what is the weather tomorrow",
            ),
            (
                "cancel my subscription",
                "I want to stop my membership",
                "how do I bake sourdough bread",
            ),
        ];
        for (a, b, c) in pairs {
            let m = model.embed(&[a, b, c], &Progress::hidden()).unwrap();
            // Deterministic: the same texts give the same bits.
            let again = model.embed(&[a, b, c], &Progress::hidden()).unwrap();
            assert_eq!(m.as_slice(), again.as_slice());
            let (close, far) = (dot(m.row(0), m.row(1)), dot(m.row(0), m.row(2)));
            assert!(close > far + 0.1, "{a:?}~{b:?} {close} vs {c:?} {far}");
        }
    }

    /// The shipped model gives the token ids and vectors that the distillation tool computed
    /// in Python (model2vec's inference), to 1e-5 on the first 8 dimensions.
    #[test]
    fn shipped_model_matches_the_distillation_reference() {
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../tools/distill/reference.json")).unwrap();
        let model = StaticEmbedder::builtin().unwrap();
        assert_eq!(model.dims(), reference["dims"].as_u64().unwrap() as usize);
        for sentence in reference["sentences"].as_array().unwrap() {
            let text = sentence["text"].as_str().unwrap();
            let ids: Vec<u64> = sentence["token_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                // The reference lists ids before [UNK] (id 1) is dropped; `token_ids` after.
                .filter(|&id| id != 1)
                .collect();
            let got: Vec<u64> = model
                .token_ids(text)
                .unwrap()
                .iter()
                .map(|&i| i as u64)
                .collect();
            assert_eq!(got, ids, "{text:?}");
            let m = model.embed(&[text], &Progress::hidden()).unwrap();
            for (j, want) in sentence["first8"].as_array().unwrap().iter().enumerate() {
                let want = want.as_f64().unwrap();
                let have = m.row(0)[j] as f64;
                assert!(
                    (have - want).abs() < 1e-5,
                    "{text:?} dim {j}: {have} vs {want}"
                );
            }
        }
    }
}
