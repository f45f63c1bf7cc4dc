//! Specifics: the numbers and names a response commits to, and whether its sources contain them.
//!
//! A swapped number or an invented name is the classic hallucination that word overlap misses:
//! "starred in Zodiac with Tom Hanks" shares most of its words with a context that says Jake
//! Gyllenhaal. So each number (normalized: `1,000` = `1000`, `3.50` = `3.5`, `three` = `3`) and
//! each capitalized name in the response is looked up in the context and the query.

use crate::text::is_stop_word;
use crate::text::numbers::{normalize_number, numbers};
use serde::Serialize;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecificKind {
    Number,
    Name,
    /// A "not" (or "never", "isn't", ...) in a sentence that restates a context sentence
    /// without it: the flip word overlap cannot see, since negations are stop words.
    Negation,
}

/// A number, name or negation found in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Specific {
    /// As written in the response.
    pub text: String,
    pub kind: SpecificKind,
    /// Index of the response sentence it occurs in (first occurrence).
    #[serde(skip)]
    pub sentence: usize,
}

impl Specific {
    /// As quoted in a reason: `"60"`, or `"not" (negation)`.
    pub fn quoted(&self) -> String {
        match self.kind {
            SpecificKind::Negation => format!("\"{}\" (negation)", self.text),
            _ => format!("\"{}\"", self.text),
        }
    }
}

/// The first negation of `text` as written ("not", "never", "isn't", ...), if any. "No" is
/// left out: "No 1", "No. 10 Downing Street".
pub fn negation(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '\u{2019}')
        .find(|w| {
            let lower = w.to_lowercase();
            matches!(
                lower.as_str(),
                "not" | "never" | "none" | "nobody" | "nothing" | "neither" | "nor" | "cannot"
            ) || lower.ends_with("n't")
                || lower.ends_with("n\u{2019}t")
        })
}

/// What a set of source texts (context and query) contains, for looking specifics up.
#[derive(Debug, Default)]
pub struct SourceIndex {
    numbers: HashSet<String>,
    words: HashSet<String>,
    /// Initials of runs of capitalized words ("Robert Downey Jr" gives "rdj", "rd", "dj").
    initials: HashSet<String>,
}

impl SourceIndex {
    pub fn add(&mut self, text: &str) {
        for n in numbers(text) {
            self.numbers.insert(n.1);
        }
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .collect();
        for w in &words {
            let lower = strip_possessive(w).to_lowercase();
            if let Some(n) = number_word(&lower) {
                self.numbers.insert(n.to_string());
            }
            self.words.insert(lower);
        }
        // Initials of every run of 2 to 5 consecutive capitalized words.
        let caps: Vec<Option<char>> = words
            .iter()
            .map(|w| {
                let first = w.chars().next()?;
                first
                    .is_uppercase()
                    .then(|| first.to_lowercase().next().unwrap_or(first))
            })
            .collect();
        for start in 0..caps.len() {
            let mut acronym = String::new();
            for c in caps[start..].iter().take(5) {
                match c {
                    Some(c) => acronym.push(*c),
                    None => break,
                }
                if acronym.chars().count() >= 2 {
                    self.initials.insert(acronym.clone());
                }
            }
        }
    }

    /// Whether the sources state the number `normalized` (as [`normalize_number`] gives it),
    /// in digits or as a number word up to twenty.
    pub fn has_number(&self, normalized: &str) -> bool {
        self.numbers.contains(normalized)
    }

    /// A name is supported when every one of its words (stop words aside) occurs in the
    /// sources, or when it is an acronym of a capitalized run there ("RDJ").
    fn has_name(&self, name: &str) -> bool {
        let words: Vec<String> = name
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(|w| strip_possessive(w).to_lowercase())
            .filter(|w| !is_stop_word(w))
            .collect();
        if words.iter().all(|w| self.words.contains(w)) {
            return true;
        }
        is_acronym(name) && self.initials.contains(&name.to_ascii_lowercase())
    }
}

fn is_acronym(word: &str) -> bool {
    (2..=5).contains(&word.len()) && word.chars().all(|c| c.is_ascii_uppercase())
}

fn strip_possessive(w: &str) -> &str {
    w.strip_suffix("'s")
        .or_else(|| w.strip_suffix("’s"))
        .unwrap_or(w)
        .trim_matches('\'')
}

/// Number words up to twenty, so "three" in a context supports "3" in a response.
fn number_word(w: &str) -> Option<u32> {
    const WORDS: [&str; 21] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    WORDS.iter().position(|&x| x == w).map(|i| i as u32)
}

/// The numbers and capitalized names of each sentence, deduplicated by text (first sentence
/// kept). A capitalized word that opens a sentence counts only as part of a longer name,
/// since any word may open a sentence; leading stop words ("The") are not part of a name.
pub fn extract(sentences: &[&str]) -> Vec<Specific> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (k, sentence) in sentences.iter().enumerate() {
        for (written, _) in numbers(sentence) {
            if seen.insert(written.clone()) {
                out.push(Specific {
                    text: written,
                    kind: SpecificKind::Number,
                    sentence: k,
                });
            }
        }
        for name in names(sentence) {
            if seen.insert(name.clone()) {
                out.push(Specific {
                    text: name,
                    kind: SpecificKind::Name,
                    sentence: k,
                });
            }
        }
    }
    out
}

fn names(sentence: &str) -> Vec<String> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let mut run_starts_sentence = false;
    let flush = |run: &mut Vec<&str>, starts: bool, out: &mut Vec<String>| {
        while run.first().is_some_and(|w| is_stop_word(&w.to_lowercase())) {
            run.remove(0);
        }
        // An acronym ("NASA said ...") is a name even when it opens the sentence.
        let opener_alone = starts && run.len() == 1 && !is_acronym(run[0]);
        if !run.is_empty() && !opener_alone {
            out.push(run.join(" "));
        }
        run.clear();
    };
    for (k, raw) in words.iter().enumerate() {
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
        let word = strip_possessive(word);
        let capitalized = word.chars().next().is_some_and(char::is_uppercase)
            && word != "I"
            && !word.starts_with("I'");
        if capitalized {
            if run.is_empty() {
                run_starts_sentence = k == 0;
            }
            run.push(word);
        } else {
            flush(&mut run, run_starts_sentence, &mut out);
        }
        // Punctuation after a word ends the name ("Paris, France" is two names).
        if capitalized && raw.ends_with([',', ';', ':', '.', '!', '?', ')']) {
            flush(&mut run, run_starts_sentence, &mut out);
        }
    }
    flush(&mut run, run_starts_sentence, &mut out);
    out
}

/// The specifics that no source contains.
pub fn unsupported(specifics: &[Specific], sources: &SourceIndex) -> Vec<Specific> {
    specifics
        .iter()
        .filter(|s| match s.kind {
            SpecificKind::Number => !sources.has_number(&normalize_number(&s.text)),
            SpecificKind::Name => !sources.has_name(&s.text),
            // Found per sentence against the sentence it restates (evidence.rs), not here.
            SpecificKind::Negation => true,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negations_are_found_as_written_and_no_is_not_one() {
        assert_eq!(negation("The fee is not refundable."), Some("not"));
        assert_eq!(negation("It isn't covered"), Some("isn't"));
        assert_eq!(negation("It isn\u{2019}t covered"), Some("isn\u{2019}t"));
        assert_eq!(negation("Never on Sundays"), Some("Never"));
        assert_eq!(negation("World No 1 won again; no doubt."), None);
        assert_eq!(negation("Nothingness and notation"), None);
    }

    fn texts(specifics: &[Specific]) -> Vec<&str> {
        specifics.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn names_skip_sentence_openers_and_leading_stop_words() {
        let s = extract(&["Yes, I did know that RDJ starred in Zodiac with Tom Hanks."]);
        assert_eq!(texts(&s), vec!["RDJ", "Zodiac", "Tom Hanks"]);
        let s = extract(&["The Oberoi Group has its head office in Delhi."]);
        assert_eq!(texts(&s), vec!["Oberoi Group", "Delhi"]);
        assert!(
            extract(&["Delhi"]).is_empty(),
            "a lone opener is not taken as a name"
        );
    }

    #[test]
    fn unsupported_finds_swapped_numbers_and_invented_names() {
        let mut sources = SourceIndex::default();
        sources.add("Robert Downey Jr. starred in Zodiac (Crime Fiction Film). Zodiac is starring Jake Gyllenhaal. It grossed 33 million in three weeks.");
        let response = [
            "RDJ starred in Zodiac with Tom Hanks.",
            "It grossed 35 million in 3 weeks.",
        ];
        let bad = unsupported(&extract(&response), &sources);
        assert_eq!(
            texts(&bad),
            vec!["Tom Hanks", "35"],
            "RDJ is Robert Downey Jr"
        );
        assert_eq!(bad[1].sentence, 1);
    }
}
