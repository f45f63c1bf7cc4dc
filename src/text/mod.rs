//! Word analysis shared by the embedder and slice naming: lowercase, split on anything that is
//! not a letter or digit, drop English stop words, stem with Snowball.

pub mod cjk;
pub mod numbers;
pub mod sentences;

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::HashSet;
use std::sync::OnceLock;

/// A language's stop words as a set, built once into `cell`.
fn stop_set(
    cell: &'static OnceLock<HashSet<&'static str>>,
    language: stop_words::Language,
) -> &'static HashSet<&'static str> {
    cell.get_or_init(|| stop_words::get(language).iter().copied().collect())
}

fn stop_words() -> &'static HashSet<&'static str> {
    static STOP: OnceLock<HashSet<&'static str>> = OnceLock::new();
    stop_set(&STOP, stop_words::Language::English)
}

/// Chinese function words (NLTK's list).
pub(crate) fn is_chinese_stop_word(word: &str) -> bool {
    static STOP: OnceLock<HashSet<&'static str>> = OnceLock::new();
    stop_set(&STOP, stop_words::Language::Chinese).contains(word)
}

pub fn is_stop_word(word: &str) -> bool {
    stop_words().contains(word)
}

/// A reusable analyzer; `Stemmer` is cheap but not free to build, so keep one per thread.
pub struct Analyzer {
    stemmer: Stemmer,
}

/// One word of a text after analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The lowercased surface form.
    pub word: String,
    /// The Snowball stem.
    pub stem: String,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

impl Analyzer {
    /// Lowercased words of `text`, stop words and 1-character words dropped, with their stems.
    pub fn tokens(&self, text: &str) -> Vec<Token> {
        let mut out = Vec::new();
        for raw in text.split(|c: char| !c.is_alphanumeric()) {
            if raw.is_empty() {
                continue;
            }
            let word = raw.to_lowercase();
            if word.chars().count() < 2 || is_stop_word(&word) {
                continue;
            }
            let stem = self.stemmer.stem(&word).into_owned();
            out.push(Token { word, stem });
        }
        out
    }
}

/// True when a word is only digits (kept for embedding, useless as a slice name).
pub fn is_numeric(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_stop_words_and_stems() {
        let a = Analyzer::default();
        let stems: Vec<String> = a
            .tokens("The refunds were REFUNDED, and I am running!")
            .into_iter()
            .map(|t| t.stem)
            .collect();
        assert_eq!(stems, vec!["refund", "refund", "run"]);
    }
}
