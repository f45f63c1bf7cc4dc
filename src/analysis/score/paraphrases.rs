//! Which of the model's paraphrases of a query are worth answering (`score --consistency`).
//! Asked for "a JSON array of N strings", a small model returns fragments (`pdf`), debris of
//! broken JSON (`card_number": 12345,`), the request's own instructions, or the query
//! unchanged; answering those says nothing about consistency. So each candidate is checked by
//! its text first ([`Original::screen`]), then by its embedding cosine with the query
//! ([`MIN_COSINE`], applied by the caller, which embeds every row's candidates in one call).

use super::specifics::SourceIndex;
use crate::api::chat::ChatRequest;
use crate::text::cjk::has_cjk;
use crate::text::numbers::numbers;
use crate::text::{is_numeric, Analyzer};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// Embedding cosine with its query below which a paraphrase is about something else. Score's
/// embedder is lexical (word stems and bigrams, TF-IDF, fitted on the texts of the call), so
/// it cannot vouch for a paraphrase that shares no content word with its query ("How much time
/// do I have to ask for my money back?" for "How long do I have to request a refund?" gets
/// 0.00 to 0.06): the threshold only removes text on another subject. Measured by
/// `examples/paraphrase_cosines.rs` (docs/score.md): with 88 texts in the call, 3 of 66 real
/// paraphrases fall below 0.1 and 1.4% of the pairs of a query with another query's
/// paraphrase reach it; 0.2 would drop 10 of the 66, 0.05 keep 3% to 23% of those pairs.
pub const MIN_COSINE: f32 = 0.10;

/// Words a paraphrase needs at least, or two when it ends with a question mark ("Refund
/// deadline?"); never more than the query has.
const MIN_WORDS: usize = 3;

/// An echo of the instructions: at least this share of its content words are words of the
/// request's instructions that the query does not use...
const INSTRUCTION_SHARE: f64 = 0.5;
/// ...and at most this share are the query's.
const MAX_QUERY_SHARE: f64 = 0.25;

/// JSON punctuation: in a paraphrase but not in its query, it is debris of a broken reply.
const JSON_MARKS: [&str; 6] = ["{", "}", "[", "]", "\":", "\\\""];

/// Why a paraphrase was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Too few words, or JSON debris (punctuation the query does not have, an odd `"`).
    NotAQuestion,
    /// Mostly words of the paraphrase request's instructions rather than of the query.
    Instructions,
    /// The query itself, up to case and punctuation.
    SameAsQuery,
    /// States a number the query does not, or leaves out one it states (the request says to
    /// keep every number and add nothing).
    ChangedNumbers,
    /// A repeat of an earlier paraphrase of the same query.
    Duplicate,
    /// Embedding cosine with the query below [`MIN_COSINE`].
    Unrelated,
    /// Its answer failed or was empty.
    NoAnswer,
}

impl DropReason {
    pub const ALL: [DropReason; 7] = [
        DropReason::NotAQuestion,
        DropReason::Instructions,
        DropReason::SameAsQuery,
        DropReason::ChangedNumbers,
        DropReason::Duplicate,
        DropReason::Unrelated,
        DropReason::NoAnswer,
    ];
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::NotAQuestion => {
                f.write_str("not a question (too few words or JSON debris)")
            }
            DropReason::Instructions => f.write_str("the request's instructions"),
            DropReason::SameAsQuery => f.write_str("the query itself"),
            DropReason::ChangedNumbers => f.write_str("numbers differ from the query's"),
            DropReason::Duplicate => f.write_str("a repeat"),
            DropReason::Unrelated => {
                write!(f, "unrelated to the query (cosine below {MIN_COSINE})")
            }
            DropReason::NoAnswer => f.write_str("no answer"),
        }
    }
}

/// How many times each reason occurs.
pub fn count(reasons: impl IntoIterator<Item = DropReason>) -> BTreeMap<DropReason, usize> {
    let mut counts = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    counts
}

/// Counts as a phrase ("2 not a question (...), 1 the query itself"), zeros left out.
pub fn describe(counts: &BTreeMap<DropReason, usize>) -> String {
    counts
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(r, n)| format!("{n} {r}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A query, and what its paraphrases are checked against.
pub struct Original {
    /// The query's words, lowercased, without punctuation.
    key: String,
    words: usize,
    stems: HashSet<String>,
    /// Stems of the request's messages that the query does not use: its instructions.
    instruction_stems: HashSet<String>,
    /// The query as a source of numbers (digits or number words).
    numbers: SourceIndex,
    /// The query's numbers, normalized.
    stated: Vec<String>,
    /// JSON punctuation the query itself has (a question about JSON may quote some).
    json_marks: Vec<&'static str>,
    balanced_quotes: bool,
}

impl Original {
    /// `request` is the paraphrase request sent for `query`.
    pub fn new(query: &str, request: &ChatRequest, analyzer: &Analyzer) -> Original {
        let stems = content_stems(query, analyzer);
        let instruction_stems = request
            .messages
            .iter()
            .flat_map(|m| content_stems(&m.content, analyzer))
            .filter(|s| !stems.contains(s))
            .collect();
        let mut index = SourceIndex::default();
        index.add(query);
        Original {
            key: key(query),
            words: word_count(query),
            stems,
            instruction_stems,
            numbers: index,
            stated: numbers(query).into_iter().map(|n| n.1).collect(),
            json_marks: JSON_MARKS
                .into_iter()
                .filter(|m| query.contains(m))
                .collect(),
            balanced_quotes: query.matches('"').count() % 2 == 0,
        }
    }

    /// The text checks of one row's candidates, in order: each one's reason to drop it, `None`
    /// when it passes (the embedding check is the caller's).
    pub fn screen(&self, candidates: &[String], analyzer: &Analyzer) -> Vec<Option<DropReason>> {
        let mut seen = HashSet::new();
        candidates
            .iter()
            .map(|c| {
                self.text_check(c, analyzer)
                    .or_else(|| (!seen.insert(key(c))).then_some(DropReason::Duplicate))
            })
            .collect()
    }

    /// The first text check `paraphrase` fails.
    fn text_check(&self, paraphrase: &str, analyzer: &Analyzer) -> Option<DropReason> {
        if self.is_fragment(paraphrase) {
            return Some(DropReason::NotAQuestion);
        }
        if self.echoes_instructions(&content_stems(paraphrase, analyzer)) {
            return Some(DropReason::Instructions);
        }
        if key(paraphrase) == self.key {
            return Some(DropReason::SameAsQuery);
        }
        if !self.same_numbers(paraphrase) {
            return Some(DropReason::ChangedNumbers);
        }
        None
    }

    /// Not a sentence: too few words, or JSON punctuation that the query does not have.
    fn is_fragment(&self, text: &str) -> bool {
        let asks = text.trim_end().ends_with(['?', '？']);
        let needed = if asks { 2 } else { MIN_WORDS };
        let debris = JSON_MARKS
            .iter()
            .any(|m| text.contains(m) && !self.json_marks.contains(m))
            || (self.balanced_quotes && text.matches('"').count() % 2 == 1);
        debris || word_count(text) < needed.min(self.words).max(1)
    }

    /// Mostly the instructions' words, hardly the query's.
    fn echoes_instructions(&self, stems: &HashSet<String>) -> bool {
        if stems.is_empty() {
            return false;
        }
        let share = |of: &HashSet<String>| {
            stems.iter().filter(|s| of.contains(*s)).count() as f64 / stems.len() as f64
        };
        share(&self.instruction_stems) >= INSTRUCTION_SHARE && share(&self.stems) <= MAX_QUERY_SHARE
    }

    /// The same numbers as the query, each way (`three` counts as `3`).
    fn same_numbers(&self, paraphrase: &str) -> bool {
        let mut index = SourceIndex::default();
        index.add(paraphrase);
        numbers(paraphrase)
            .iter()
            .all(|(_, n)| self.numbers.has_number(n))
            && self.stated.iter().all(|n| index.has_number(n))
    }
}

/// Content-word stems (stop words and numbers left out).
pub fn content_stems(text: &str, analyzer: &Analyzer) -> HashSet<String> {
    analyzer
        .tokens(text)
        .into_iter()
        .filter(|t| !is_numeric(&t.word))
        .map(|t| t.stem)
        .collect()
}

/// A text's words lowercased and without punctuation: equal keys say the same words.
fn key(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Words with a letter in them; in Chinese or Japanese, written without spaces, each
/// character counts as one.
fn word_count(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| {
            let cjk = w
                .chars()
                .filter(|c| has_cjk(c.encode_utf8(&mut [0; 4])))
                .count();
            if cjk > 0 {
                cjk
            } else {
                usize::from(w.chars().any(char::is_alphabetic))
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::score::consistency::paraphrase_request;

    const QUERY: &str = "How long do I have to request a refund?";

    fn screen(query: &str, candidates: &[&str]) -> Vec<Option<DropReason>> {
        let analyzer = Analyzer::default();
        let original = Original::new(query, &paraphrase_request(query, 2, 42), &analyzer);
        let candidates: Vec<String> = candidates.iter().map(|c| c.to_string()).collect();
        original.screen(&candidates, &analyzer)
    }

    #[test]
    fn real_paraphrases_pass_the_text_checks() {
        let good = [
            "What is the deadline for requesting a refund?",
            "Until when can I ask for a refund?",
            "Tell me how much time I have to ask for my money back",
            "Refund deadline?",
        ];
        assert_eq!(screen(QUERY, &good), vec![None; 4]);
        // Numbers kept, in digits or words; JSON punctuation the query has.
        assert_eq!(
            screen(
                "Summarize the following document in three bullet points.",
                &["Write a 3-bullet summary of the document below."]
            ),
            vec![None]
        );
        assert_eq!(
            screen(
                "What does {} mean in a Rust format string?",
                &["In Rust format strings, what is {} for?"]
            ),
            vec![None]
        );
        assert_eq!(
            screen("退款需要多长时间？", &["退款要等多久？"]),
            vec![None]
        );
    }

    #[test]
    fn garbage_seen_from_a_small_model_is_dropped() {
        use DropReason::*;
        // Reported in issue 18 (SmolLM2-135M): fragments, JSON debris, the instructions.
        assert_eq!(
            screen(QUERY, &["pdf", "image"]),
            vec![Some(NotAQuestion); 2]
        );
        assert_eq!(
            screen(QUERY, &["{", "card_number\": 12345,"]),
            vec![Some(NotAQuestion); 2]
        );
        assert_eq!(
            screen(
                QUERY,
                &[
                    "Reply with a JSON array of 2 strings and nothing else.",
                    "Rewrite the question below in 2 different ways.",
                    "Each rewrite must ask exactly the same thing: keep every name, number and constraint, and add nothing.",
                ]
            ),
            vec![Some(Instructions); 3]
        );
    }

    #[test]
    fn copies_repeats_and_changed_numbers_are_dropped() {
        use DropReason::*;
        let got = screen(
            "Can I get a refund on orders over 50 dollars?",
            &[
                "can I get a refund on orders over 50 dollars",
                "Are orders above 50 dollars refundable?",
                "Are orders above 50 dollars refundable",
                "Are orders above 60 dollars refundable?",
                "Are orders refundable?",
                "You can get a refund within 30 days for orders over 50 dollars.",
            ],
        );
        assert_eq!(
            got,
            vec![
                Some(SameAsQuery),
                None,
                Some(Duplicate),
                Some(ChangedNumbers),
                Some(ChangedNumbers),
                Some(ChangedNumbers),
            ]
        );
    }

    #[test]
    fn an_instruction_word_in_a_real_paraphrase_is_not_an_echo() {
        // "different" and "ways" are the instructions' words, but most words are the query's.
        assert_eq!(
            screen(
                "How can I change my display name?",
                &["In which different ways can I change my display name?"]
            ),
            vec![None]
        );
    }

    #[test]
    fn reasons_are_counted_in_words() {
        use DropReason::*;
        assert_eq!(
            describe(&count([Unrelated, NotAQuestion, NotAQuestion])),
            "2 not a question (too few words or JSON debris), 1 unrelated to the query (cosine below 0.1)"
        );
    }
}
