//! Prompts and responses come from production traffic: every renderer escapes them so that
//! control characters cannot drive the terminal and markup cannot break a table or inject HTML.

/// For terminals: control characters (ESC, CR, newlines, ...) become visible escapes.
pub fn terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

/// For Markdown tables and text: HTML special characters are entity-escaped, Markdown
/// punctuation backslash-escaped, newlines folded, control characters made visible.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\r' => out.push(' '),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '!' | '(' | ')' | '{' | '}'
            | '+' | '-' | '.' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || is_bidi_control(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// For XML text and attribute values: the five special characters become entities; characters
/// XML 1.0 cannot hold (most control characters) become visible `\u{..}` escapes.
pub fn xml(text: &str) -> String {
    entities(text, "&apos;", &['\t', '\n', '\r'], |c| {
        c == '\u{FFFE}' || c == '\u{FFFF}'
    })
}

/// For HTML text and attribute values (quoted with `"` or `'`): the five special characters
/// become entities; control characters and bidirectional overrides become visible `\u{..}`
/// escapes (newlines and tabs are kept: HTML folds them). `&#39;`, not `&apos;`, which HTML 4
/// lacks.
pub fn html(text: &str) -> String {
    entities(text, "&#39;", &['\t', '\n'], |_| false)
}

/// The markup languages' escaping: `& < > " '` as entities (`apostrophe` for `'`), the `kept`
/// whitespace as it is, and control characters, bidirectional overrides and `also_invalid`
/// ones as visible `\u{..}` escapes.
fn entities(text: &str, apostrophe: &str, kept: &[char], also_invalid: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str(apostrophe),
            c if kept.contains(&c) => out.push(c),
            c if c.is_control() || is_bidi_control(c) || also_invalid(c) => {
                out.extend(c.escape_unicode())
            }
            c => out.push(c),
        }
    }
    out
}

/// Bidirectional overrides can make displayed text differ from what is stored.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// At most `max` characters, with an ellipsis when cut (never splits a character).
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` characters: the start and, after an ellipsis, the end. For model answers,
/// whose verdict ("The answer is (C)") often comes last, where [`truncate`] would drop it.
pub fn head_and_tail(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    // A third of the room for the end, the rest (less the " … ") for the start.
    let tail = max.saturating_sub(3) / 3;
    let head = max.saturating_sub(3) - tail;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{} … {}", start.trim_end(), end.trim_start())
}

/// At most `max` characters, ending where a sentence ends: after the last `. `, `! `, `? ` or
/// CJK `。`, `！`, `？` within the limit; without one, at the last space, with an ellipsis; a
/// text without either is cut like [`truncate`]. For model-written prose, which a cut in
/// mid-word makes look broken. (An abbreviation's period, "e.g. ", counts as a sentence end.)
pub fn truncate_at_sentence(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let chars: Vec<(usize, char)> = text.char_indices().take(max + 1).collect();
    let fits = &chars[..max];
    let sentence_end = fits.iter().enumerate().rev().find_map(|(i, &(at, c))| {
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let ends = matches!(c, '。' | '！' | '？')
            || (matches!(c, '.' | '!' | '?') && next.is_some_and(char::is_whitespace));
        ends.then_some(at + c.len_utf8())
    });
    if let Some(end) = sentence_end {
        return text[..end].to_string();
    }
    // The ellipsis takes the place of the space.
    let word_end = fits
        .iter()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map(|&(at, _)| text[..at].trim_end())
        .filter(|head| !head.is_empty());
    match word_end {
        Some(head) => format!("{head}…"),
        None => truncate(text, max),
    }
}

/// Collapses runs of whitespace (including newlines) into single spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {

    #[test]
    fn head_and_tail_keeps_both_ends() {
        assert_eq!(head_and_tail("short", 10), "short");
        let long = format!("{} The answer is (C).", "x".repeat(500));
        let cut = head_and_tail(&long, 60);
        assert!(cut.chars().count() <= 60, "{cut}");
        assert!(
            cut.starts_with("xxxx") && cut.ends_with("The answer is (C)."),
            "{cut}"
        );
        assert!(cut.contains(" … "));
        // Characters, not bytes.
        assert_eq!(head_and_tail(&"é".repeat(30), 12).chars().count(), 12);
    }
    use super::*;

    #[test]
    fn terminal_neutralizes_escape_sequences() {
        let s = terminal("red \x1b[31mtext\x1b[0m\r\nnext");
        assert!(!s.contains('\x1b'));
        assert!(!s.contains('\r'));
        assert!(s.contains("\\u{1b}[31m"));
        assert!(s.contains("\\n"));
    }

    #[test]
    fn markdown_escapes_markup_and_html() {
        let s = markdown("a | b <script>alert(1)</script> **bold** [x](http://e)");
        assert!(!s.contains("<script>"));
        assert!(s.contains("\\|"));
        assert!(s.contains("\\*\\*bold\\*\\*"));
        assert!(s.contains("\\[x\\]\\(http://e\\)"));
    }

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        let s = xml("a<b & \"c\" 'd'>\u{1b}[0m\u{0}");
        assert_eq!(
            s,
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\\u{1b}[0m\\u{0}"
        );
    }

    #[test]
    fn html_escapes_text_and_both_attribute_quotes() {
        assert_eq!(
            html("</script><script>alert(1)</script>"),
            "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            html("<img src=x onerror=alert(1)> \"'&"),
            "&lt;img src=x onerror=alert(1)&gt; &quot;&#39;&amp;"
        );
        assert_eq!(html("a\u{1b}[0m\u{202E}b\nc"), "a\\u{1b}[0m\\u{202e}b\nc");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn sentence_cuts_end_on_the_last_sentence_that_fits() {
        let text = "Users ask about refunds. They want dates! Which ones? Most cite the 30-day window and more.";
        assert_eq!(truncate_at_sentence(text, 200), text, "short enough");
        assert_eq!(
            truncate_at_sentence(text, 60),
            "Users ask about refunds. They want dates! Which ones?"
        );
        assert_eq!(truncate_at_sentence(text, 40), "Users ask about refunds.");
        // A period not followed by a space ends no sentence.
        assert_eq!(
            truncate_at_sentence("Version 2.5 is out now.", 12),
            "Version 2.5…"
        );
        assert_eq!(
            truncate_at_sentence("用户询问退款。他们想知道日期。还有别的问题", 16),
            "用户询问退款。他们想知道日期。"
        );
    }

    #[test]
    fn without_a_sentence_end_the_cut_is_at_a_word() {
        let text = "users ask about refund windows and exchange rules for damaged items";
        let cut = truncate_at_sentence(text, 30);
        assert_eq!(cut, "users ask about refund…");
        assert!(cut.chars().count() <= 30);
        // The ellipsis takes the place of a space right at the limit.
        assert_eq!(truncate_at_sentence("abc def ghi", 8), "abc def…");
        assert_eq!(truncate_at_sentence("abc def ghi", 7), "abc…");
        // No space either: cut like truncate.
        assert_eq!(
            truncate_at_sentence(&"y".repeat(20), 10),
            truncate(&"y".repeat(20), 10)
        );
        assert_eq!(
            truncate_at_sentence("用户询问退款他们想知道日期", 5),
            "用户询问…"
        );
    }
}
