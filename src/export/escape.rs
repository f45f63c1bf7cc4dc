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
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || is_bidi_control(c) || c == '\u{FFFE}' || c == '\u{FFFF}' => {
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

/// Collapses runs of whitespace (including newlines) into single spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
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
        assert_eq!(s, "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\\u{1b}[0m\\u{0}");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("short", 10), "short");
    }
}
