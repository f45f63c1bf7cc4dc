//! Sentence splitting for scoring responses against their context.
//!
//! Hand-written because the maintained option (UAX #29 in `unicode-segmentation`) splits after
//! abbreviations and initials ("Dr. Smith", "J. K. Rowling") and keeps sentences glued by
//! scraping ("the 19th century.First for Women ...") together; both are common in RAG text.

/// Words that end with a period without ending a sentence (compared lowercased, no period).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "eg", "ie", "inc", "ltd", "co",
    "corp", "no", "nos", "fig", "approx", "dept", "est", "gen", "gov", "lt", "col", "sgt", "capt",
    "rev", "mt", "ft", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "e.g", "i.e", "u.s", "u.k", "a.m", "p.m", "ph.d", "al",
];

/// Splits `text` into trimmed, non-empty sentences (slices of `text`). Line breaks always end
/// a sentence (list items, paragraphs); `.`, `!` and `?` end one when followed by space and
/// not preceded by an abbreviation or a single-letter initial, or when a lowercase word runs
/// straight into a capitalized one (`century.First`).
pub fn split_sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c == '\n' {
            push_trimmed(&mut out, &text[start..pos]);
            start = pos + 1;
            i += 1;
            continue;
        }
        if matches!(c, '.' | '!' | '?') {
            // Take the whole run of terminators and closing quotes/brackets.
            let mut j = i + 1;
            while j < chars.len()
                && matches!(
                    chars[j].1,
                    '.' | '!' | '?' | '"' | '\'' | ')' | ']' | '”' | '’'
                )
            {
                j += 1;
            }
            let end = chars.get(j).map_or(text.len(), |&(p, _)| p);
            let next = chars.get(j).map(|&(_, c)| c);
            let ends = match next {
                None => true,
                Some(n) if n.is_whitespace() => c != '.' || !before_is_abbreviation(text, pos),
                // Glued sentences: "century.First" (a lowercase letter, the period, then an
                // uppercase letter followed by a lowercase one); "U.S.A" and "Node.js" stay.
                Some(n) => {
                    c == '.'
                        && j == i + 1
                        && n.is_uppercase()
                        && i > 0
                        && chars[i - 1].1.is_lowercase()
                        && chars.get(j + 1).is_some_and(|&(_, m)| m.is_lowercase())
                        && !before_is_abbreviation(text, pos)
                }
            };
            if ends {
                push_trimmed(&mut out, &text[start..end]);
                start = end;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    push_trimmed(&mut out, &text[start..]);
    out
}

fn push_trimmed<'a>(out: &mut Vec<&'a str>, piece: &'a str) {
    let t = piece.trim();
    if t.chars().any(char::is_alphanumeric) {
        out.push(t);
    }
}

/// True when the word before the period at `dot` is an abbreviation or a one-letter initial.
fn before_is_abbreviation(text: &str, dot: usize) -> bool {
    let head = &text[..dot];
    let word_start = head
        .char_indices()
        .rev()
        .find(|&(_, c)| c.is_whitespace() || c == '(' || c == '"')
        .map_or(0, |(p, c)| p + c.len_utf8());
    let word = &head[word_start..];
    if word.is_empty() {
        return false;
    }
    let mut letters = word.chars();
    if let (Some(first), None) = (letters.next(), letters.next()) {
        // "J. K. Rowling", "World War I." is rare enough to accept the miss.
        return first.is_uppercase();
    }
    let lower = word.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
}

#[cfg(test)]
mod tests {
    use super::split_sentences;

    #[test]
    fn splits_on_terminators_and_line_breaks() {
        assert_eq!(
            split_sentences("It rains. Does it? Yes!\n- item one\n- item two"),
            vec!["It rains.", "Does it?", "Yes!", "- item one", "- item two"]
        );
    }

    #[test]
    fn keeps_abbreviations_initials_and_decimals() {
        assert_eq!(
            split_sentences("Dr. Smith met J. K. Rowling at 3.5 p.m. today. Then he left."),
            vec![
                "Dr. Smith met J. K. Rowling at 3.5 p.m. today.",
                "Then he left."
            ]
        );
        assert_eq!(
            split_sentences("See e.g. the U.S. rules."),
            vec!["See e.g. the U.S. rules."]
        );
    }

    #[test]
    fn splits_glued_sentences_but_not_names() {
        assert_eq!(
            split_sentences("published in the 19th century.First for Women is a magazine."),
            vec![
                "published in the 19th century.",
                "First for Women is a magazine."
            ]
        );
        assert_eq!(
            split_sentences("Use Node.js in the U.S.A today"),
            vec!["Use Node.js in the U.S.A today"]
        );
    }

    #[test]
    fn quotes_after_the_terminator_stay_with_the_sentence() {
        assert_eq!(
            split_sentences("He said \"stop.\" Then silence."),
            vec!["He said \"stop.\"", "Then silence."]
        );
    }

    #[test]
    fn multibyte_spaces_before_an_abbreviation() {
        assert_eq!(
            split_sentences("Met Lt.\u{a0}Col. Shaffer. Then\u{a0}Dr. Who."),
            vec!["Met Lt.\u{a0}Col. Shaffer.", "Then\u{a0}Dr. Who."]
        );
    }

    #[test]
    fn empty_and_punctuation_only() {
        assert!(split_sentences("").is_empty());
        assert!(split_sentences(" ... \n ").is_empty());
        assert_eq!(split_sentences("Delhi"), vec!["Delhi"]);
    }
}
