//! BERT WordPiece tokenization without per-token allocation, for the static embedder.
//!
//! Hand-written for speed: the Hugging Face tokenizer allocates strings and offsets for every
//! token; this path allocates nothing per token, gives the same ids for the common ASCII case
//! (tested against it) and defers to it for everything else.

use std::collections::HashMap;
use tokenizers::models::ModelWrapper;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::{NormalizerWrapper, PreTokenizerWrapper, Tokenizer};

/// Vocabulary lookup with a one-shot xxh3 for short string keys.
type VocabMap = HashMap<Box<str>, u32, super::hashing::BuildWordHasher>;

/// BERT WordPiece tokenization (BertNormalizer, BertPreTokenizer, WordPiece model) without
/// allocating per token, giving the same ids as `Tokenizer::encode_fast(text, false)`.
///
/// The text is split on the ASCII whitespace the normalizer and pre-tokenizer split on. An
/// ASCII chunk is cleaned (control characters dropped), lowercased and split on punctuation
/// here, and each word is matched greedily, longest piece first, against the vocabulary (two
/// maps: word-initial pieces, and continuation pieces without their `##` prefix, so no lookup
/// builds a string). A chunk with a non-ASCII character (accents, CJK, Unicode whitespace or
/// punctuation) goes through the Hugging Face tokenizer, whose normalization then applies; a
/// text containing an added token (`[CLS]`, `[UNK]`, ...) is left to it entirely.
pub(super) struct FastWordPiece {
    starts: VocabMap,
    continuations: VocabMap,
    unk_id: u32,
    max_word_chars: usize,
    clean_text: bool,
    lowercase: bool,
    added: Vec<String>,
}

impl FastWordPiece {
    /// `None` unless the tokenizer is a plain BERT WordPiece pipeline.
    pub(super) fn new(tokenizer: &Tokenizer) -> Option<Self> {
        let ModelWrapper::WordPiece(model) = tokenizer.get_model() else {
            return None;
        };
        let Some(NormalizerWrapper::BertNormalizer(BertNormalizer {
            clean_text,
            lowercase,
            ..
        })) = tokenizer.get_normalizer()
        else {
            return None;
        };
        let Some(PreTokenizerWrapper::BertPreTokenizer(_)) = tokenizer.get_pre_tokenizer() else {
            return None;
        };
        let added = tokenizer.get_added_tokens_decoder();
        // Normalized added tokens are matched after normalization: leave those to HF.
        if added.values().any(|t| t.normalized) {
            return None;
        }
        let vocab = tokenizers::Model::get_vocab(model);
        let prefix = model.continuing_subword_prefix.as_str();
        let mut starts = VocabMap::with_capacity_and_hasher(vocab.len(), Default::default());
        let mut continuations = VocabMap::with_hasher(Default::default());
        for (token, &id) in &vocab {
            if let Some(rest) = token.strip_prefix(prefix) {
                continuations.insert(rest.into(), id);
            }
            starts.insert(token.as_str().into(), id);
        }
        Some(FastWordPiece {
            starts,
            continuations,
            unk_id: *vocab.get(&model.unk_token)?,
            max_word_chars: model.max_input_chars_per_word,
            clean_text: *clean_text,
            lowercase: *lowercase,
            added: added
                .into_values()
                .map(|t| t.content)
                .filter(|c| !c.is_empty())
                .collect(),
        })
    }

    /// Appends the ids of `text` (unknown tokens included); `tokenizer` (the one this was built
    /// from) handles non-ASCII chunks. `false` when the text contains an added token or the
    /// tokenizer failed, and the caller must tokenize the whole text with `tokenizer`.
    pub(super) fn encode(&self, tokenizer: &Tokenizer, text: &str, ids: &mut Vec<u32>) -> bool {
        if self.added.iter().any(|t| text.contains(t.as_str())) {
            return false;
        }
        // Chunks at the ASCII characters that both normalizer and pre-tokenizer turn into a
        // split (with `clean_text`, \x0B and \x0C are removed as control characters instead).
        let clean = self.clean_text;
        let separator = |b: char| {
            matches!(b, ' ' | '\t' | '\n' | '\r') || (!clean && matches!(b, '\x0B' | '\x0C'))
        };
        let mut word = Vec::new();
        for chunk in text.split(separator) {
            if chunk.is_empty() {
                continue;
            }
            if chunk.is_ascii() {
                self.ascii_chunk(chunk.as_bytes(), &mut word, ids);
            } else {
                match tokenizer.encode_fast(chunk, false) {
                    Ok(e) => ids.extend_from_slice(e.get_ids()),
                    Err(_) => return false,
                }
            }
        }
        true
    }

    /// An ASCII chunk: drop control characters (`clean_text`), lowercase, split punctuation.
    fn ascii_chunk(&self, chunk: &[u8], word: &mut Vec<u8>, ids: &mut Vec<u32>) {
        word.clear();
        for &b in chunk {
            if b.is_ascii_punctuation() {
                self.word(word, ids);
                word.clear();
                self.word(&[b], ids);
            } else if self.clean_text && b.is_ascii_control() {
                // removed by the normalizer (\x00..\x1F, \x7F; whitespace split off already)
            } else {
                word.push(if self.lowercase {
                    b.to_ascii_lowercase()
                } else {
                    b
                });
            }
        }
        self.word(word, ids);
    }

    /// Greedy longest-match WordPiece on one ASCII word; the whole word is the unknown token
    /// when it is too long or some part matches no piece.
    fn word(&self, word: &[u8], ids: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        if word.len() > self.max_word_chars {
            ids.push(self.unk_id);
            return;
        }
        // ASCII: every byte is a character boundary.
        let word = std::str::from_utf8(word).expect("ASCII");
        let first = ids.len();
        let mut start = 0;
        while start < word.len() {
            let map = if start == 0 {
                &self.starts
            } else {
                &self.continuations
            };
            let found = (start + 1..=word.len())
                .rev()
                .find_map(|end| map.get(&word[start..end]).map(|&id| (id, end)));
            match found {
                Some((id, end)) => {
                    ids.push(id);
                    start = end;
                }
                None => {
                    ids.truncate(first);
                    ids.push(self.unk_id);
                    return;
                }
            }
        }
    }
}
