//! Offline slice naming with class-based TF-IDF: the terms that distinguish a slice from the
//! whole corpus become its keywords, and the top few its name.
//!
//! Hand-written because c-TF-IDF is a few lines over our own tokenizer; no crate does it.

use super::{SliceName, SliceNamer};
use crate::text::{cjk, is_numeric, Analyzer};
use rayon::prelude::*;
use std::collections::HashMap;

/// Keyword naming by class-based TF-IDF (as in BERTopic), at document level so that one long
/// prompt cannot dominate: score(t, S) = df_S(t)/|S| · ln(1 + A / df(t)), A = N / classes.
#[derive(Debug, Clone)]
pub struct KeywordNamer {
    /// Words joined into the name.
    pub name_terms: usize,
    /// Keywords listed.
    pub keywords: usize,
    /// Number of classes the corpus is split into (clusters + noise), for `A`.
    pub classes: usize,
    /// Corpus frequencies are estimated on at most this many evenly spaced rows.
    pub max_corpus_rows: usize,
}

impl Default for KeywordNamer {
    fn default() -> Self {
        KeywordNamer {
            name_terms: 3,
            keywords: 8,
            classes: 10,
            max_corpus_rows: 50_000,
        }
    }
}

/// Per-stem document counts plus the surface forms seen for it.
#[derive(Default)]
struct TermCounts {
    docs: usize,
    df: HashMap<String, u32>,
    forms: HashMap<String, HashMap<String, u32>>,
}

/// Counts for one chunk of documents, with words and stems interned to ids so the hot loop
/// does no allocation per word.
#[derive(Default)]
struct ChunkCounts<'t> {
    docs: usize,
    /// Raw word as it appears in the text → id into `words`, or `None` when naming ignores it.
    raw: HashMap<&'t str, Option<u32>>,
    /// (lowercased word, stem id) per word id.
    words: Vec<(String, u32)>,
    word_ids: HashMap<String, u32>,
    stem_ids: HashMap<String, u32>,
    stem_df: Vec<u32>,
    word_df: Vec<u32>,
}

impl<'t> ChunkCounts<'t> {
    fn add_doc(&mut self, analyzer: &Analyzer, text: &'t str, ids: &mut Vec<u32>) {
        self.docs += 1;
        ids.clear();
        for piece in text.split(|c: char| !c.is_alphanumeric()) {
            if piece.is_empty() {
                continue;
            }
            cjk::for_each_word(piece, |raw| {
                let id = match self.raw.get(raw) {
                    Some(id) => *id,
                    None => {
                        let id = self.intern(analyzer, raw);
                        self.raw.insert(raw, id);
                        id
                    }
                };
                ids.extend(id);
            });
        }
        ids.sort_unstable();
        ids.dedup();
        let mut last_stem = None;
        let mut stems: Vec<u32> = ids.iter().map(|&w| self.words[w as usize].1).collect();
        stems.sort_unstable();
        for &w in ids.iter() {
            self.word_df[w as usize] += 1;
        }
        for stem in stems {
            if last_stem != Some(stem) {
                self.stem_df[stem as usize] += 1;
                last_stem = Some(stem);
            }
        }
    }

    fn intern(&mut self, analyzer: &Analyzer, raw: &str) -> Option<u32> {
        let token = analyzer.tokens(raw).into_iter().next().filter(|t| {
            // A CJK word of two characters is a word (退款); a Latin one rarely is.
            let shortest = if cjk::has_cjk(&t.word) { 2 } else { 3 };
            t.word.chars().count() >= shortest
                && !is_numeric(&t.word)
                && !cjk::is_stop_word(&t.word)
        })?;
        let next_stem = self.stem_ids.len() as u32;
        let stem = *self.stem_ids.entry(token.stem).or_insert(next_stem);
        if stem == next_stem {
            self.stem_df.push(0);
        }
        // Different raw spellings ("Refund", "refund") share one lowercased word id.
        let next_word = self.words.len() as u32;
        let word = *self.word_ids.entry(token.word.clone()).or_insert(next_word);
        if word == next_word {
            self.words.push((token.word, stem));
            self.word_df.push(0);
        }
        Some(word)
    }

    fn into_counts(self) -> TermCounts {
        let mut stems = vec![String::new(); self.stem_ids.len()];
        for (stem, id) in self.stem_ids {
            stems[id as usize] = stem;
        }
        let mut counts = TermCounts {
            docs: self.docs,
            ..TermCounts::default()
        };
        for (id, stem) in stems.iter().enumerate() {
            counts.df.insert(stem.clone(), self.stem_df[id]);
        }
        for ((word, stem), n) in self.words.into_iter().zip(self.word_df) {
            *counts
                .forms
                .entry(stems[stem as usize].clone())
                .or_default()
                .entry(word)
                .or_insert(0) += n;
        }
        counts
    }
}

impl TermCounts {
    fn merge(mut self, other: TermCounts) -> TermCounts {
        self.docs += other.docs;
        for (stem, n) in other.df {
            *self.df.entry(stem).or_insert(0) += n;
        }
        for (stem, forms) in other.forms {
            let mine = self.forms.entry(stem).or_default();
            for (word, n) in forms {
                *mine.entry(word).or_insert(0) += n;
            }
        }
        self
    }

    fn count(texts: &[&str], rows: &[usize]) -> TermCounts {
        rows.par_chunks(2048)
            .map(|chunk| {
                let analyzer = Analyzer::default();
                let mut counts = ChunkCounts::default();
                let mut ids = Vec::new();
                for &i in chunk {
                    counts.add_doc(&analyzer, texts[i], &mut ids);
                }
                counts.into_counts()
            })
            .reduce(TermCounts::default, TermCounts::merge)
    }

    /// The most common surface form of a stem (ties: alphabetical, for determinism).
    fn display_form(&self, stem: &str) -> String {
        self.forms
            .get(stem)
            .and_then(|forms| {
                forms
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map(|(w, _)| w.clone())
            })
            .unwrap_or_else(|| stem.to_string())
    }
}

/// Evenly spaced rows, at most `max`, in order: a deterministic sample.
fn spread(rows: &[usize], max: usize) -> Vec<usize> {
    if rows.len() <= max {
        return rows.to_vec();
    }
    (0..max).map(|k| rows[k * rows.len() / max]).collect()
}

impl SliceNamer for KeywordNamer {
    fn name_slices(&self, corpus: &[&str], slices: &[&[usize]]) -> Vec<SliceName> {
        let all: Vec<usize> = (0..corpus.len()).collect();
        let global = TermCounts::count(corpus, &spread(&all, self.max_corpus_rows));
        let avg_class_docs = global.docs as f64 / self.classes.max(1) as f64;
        slices
            .iter()
            .map(|rows| {
                let local = TermCounts::count(corpus, &spread(rows, self.max_corpus_rows));
                self.name_one(&global, &local, avg_class_docs)
            })
            .collect()
    }
}

impl KeywordNamer {
    fn name_one(&self, global: &TermCounts, local: &TermCounts, avg_class_docs: f64) -> SliceName {
        if local.docs == 0 {
            return SliceName {
                name: "(empty)".into(),
                keywords: vec![],
            };
        }
        // A term must recur within the slice to describe it.
        let min_docs = 2.min(local.docs) as u32;
        let mut scored: Vec<(f64, &String)> = local
            .df
            .iter()
            .filter(|(_, &n)| n >= min_docs)
            .filter_map(|(stem, &n)| {
                let corpus_df = global.df.get(stem).copied().unwrap_or(n).max(1) as f64;
                let tf = n as f64 / local.docs as f64;
                // Only terms over-represented in the slice describe what sets it apart.
                (tf > corpus_df / global.docs.max(1) as f64)
                    .then(|| (tf * (1.0 + avg_class_docs / corpus_df).ln(), stem))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let keywords: Vec<String> = scored
            .iter()
            .take(self.keywords)
            .map(|(_, stem)| local.display_form(stem))
            .collect();
        let name = if keywords.is_empty() {
            "(no distinctive terms)".to_string()
        } else {
            keywords
                .iter()
                .take(self.name_terms)
                .cloned()
                .collect::<Vec<_>>()
                .join(" / ")
        };
        SliceName { name, keywords }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names two slices of 20 rows each, `first` and `second` with the row number appended.
    fn name_two(first: &str, second: &str) -> Vec<SliceName> {
        let corpus: Vec<String> = (0..20)
            .map(|i| format!("{first}{i}"))
            .chain((0..20).map(|i| format!("{second}{i}")))
            .collect();
        let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
        let namer = KeywordNamer {
            classes: 2,
            ..KeywordNamer::default()
        };
        let (a, b): (Vec<usize>, Vec<usize>) = ((0..20).collect(), (20..40).collect());
        namer.name_slices(&texts, &[&a, &b])
    }

    #[test]
    fn distinguishing_terms_win_over_common_ones() {
        let names = name_two(
            "how do I get a refund please help with order ",
            "please help me reset my password on device ",
        );
        assert!(
            names[0].keywords.contains(&"refund".to_string()),
            "{names:?}"
        );
        assert!(names[1].name.contains("password"), "{names:?}");
        assert!(
            !names[0].keywords.contains(&"help".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn japanese_names_are_words_not_clauses() {
        let names = name_two(
            "パスワードを忘れたので再設定したいです ",
            "注文した商品の配送状況を確認したい ",
        );
        assert_eq!(names[0].keywords, ["パスワード", "再設定"], "{names:?}");
        assert!(
            names[1].keywords.contains(&"配送状況".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn empty_and_single_row_slices_do_not_panic() {
        let texts = ["alpha beta", "gamma delta"];
        let names = KeywordNamer::default().name_slices(&texts, &[&[], &[1]]);
        assert_eq!(names[0].name, "(empty)");
        assert_eq!(names[1].keywords.len(), 2);
    }
}
