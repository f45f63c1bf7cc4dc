//! Reading what a chat model answered: the first JSON value in a reply that may wrap it in a
//! code fence or prose, and prompt text clipped to a budget. Model output is untrusted: these
//! never panic, and a reply without what was asked for is `None`.

use serde_json::Value;

/// Openings (`{`, `[`) tried before giving up: a reply full of braces must not cost a parse
/// per brace.
const MAX_STARTS: usize = 50;

/// The first JSON object or array in `reply`, e.g. inside ```json fences or after "Sure:".
/// Each `{` or `[` is tried in turn as the start of a value; what follows the value is ignored.
pub fn first_json(reply: &str) -> Option<Value> {
    first_json_where(reply, |_| true)
}

/// [`first_json`], skipping values that `accept` refuses (e.g. a `{x}` in the prose before
/// the answer).
pub fn first_json_where(reply: &str, accept: impl Fn(&Value) -> bool) -> Option<Value> {
    // Models sometimes break lines inside a string, which JSON forbids; outside strings a
    // space means the same as a line break.
    first_json_strict(reply, &accept)
        .or_else(|| first_json_strict(&reply.replace(['\n', '\r'], " "), &accept))
}

fn first_json_strict(reply: &str, accept: &dyn Fn(&Value) -> bool) -> Option<Value> {
    reply
        .char_indices()
        .filter(|&(_, c)| c == '{' || c == '[')
        .take(MAX_STARTS)
        .find_map(|(i, _)| {
            serde_json::Deserializer::from_str(&reply[i..])
                .into_iter::<Value>()
                .next()
                .and_then(|v| v.ok())
                .filter(|v| accept(v))
        })
}

/// `text` cut to at most `max` characters, marking the cut; long contexts would otherwise
/// crowd the question out of a model's window (and the bill).
pub fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{} [...]", text[..end].trim_end()),
    }
}

/// The lines of a plain-text list, without bullets or numbering ("1.", "2)", "-", "*").
pub fn list_lines(reply: &str) -> Vec<String> {
    reply
        .lines()
        .map(|l| {
            let l = l.trim();
            let digits = l.chars().take_while(char::is_ascii_digit).count();
            let l = if digits > 0 && l[digits..].starts_with(['.', ')', ':']) {
                &l[digits + 1..]
            } else {
                l.trim_start_matches(['-', '*', '•'])
            };
            l.trim().trim_matches('"').trim().to_string()
        })
        .filter(|l| !l.is_empty() && !l.starts_with("```"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_json_in_fences_and_prose() {
        assert_eq!(first_json(r#"{"a": 1}"#), Some(json!({"a": 1})));
        assert_eq!(
            first_json("Sure! Here it is:\n```json\n{\"verdict\": \"faithful\"}\n```\nDone."),
            Some(json!({"verdict": "faithful"}))
        );
        assert_eq!(
            first_json("The set {x} is not JSON; [\"a\", \"b\"] is."),
            Some(json!(["a", "b"]))
        );
        assert_eq!(first_json("no json here"), None);
        assert_eq!(first_json("{\"unterminated\": "), None);
        assert_eq!(first_json(""), None);
        assert_eq!(
            first_json("{\"reason\": \"two\nlines\"}"),
            Some(json!({"reason": "two lines"}))
        );
    }

    #[test]
    fn clips_on_characters() {
        assert_eq!(clip("  short  ", 10), "short");
        assert_eq!(clip("héllo wörld", 5), "héllo [...]");
        assert_eq!(clip("abc", 3), "abc");
    }

    #[test]
    fn list_lines_drop_markers() {
        let lines = list_lines("Here:\n1. What is X?\n2) Which X?\n- \"How X?\"\n\n```\n");
        assert_eq!(lines, ["Here:", "What is X?", "Which X?", "How X?"]);
    }
}
