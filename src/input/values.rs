//! Typed field values from JSON values (JSONL) or cell text (CSV), with "expected ..., found
//! ..." messages shared by both formats.

use serde_json::Value;

/// Longest "found" excerpt quoted in a message, in characters.
const MAX_FOUND_CHARS: usize = 60;

/// A bad field: which field (if any) and what was expected / found.
#[derive(Debug, Clone)]
pub(crate) struct Bad {
    pub field: Option<String>,
    pub message: String,
    /// The row has no such field at all (not a wrong value): messages may list what it has.
    pub absent: bool,
}

impl Bad {
    pub fn new(field: Option<&str>, message: impl Into<String>) -> Self {
        Bad {
            field: field.map(str::to_string),
            message: message.into(),
            absent: false,
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Bad::new(Some(field), message)
    }
}

/// Cuts `text` to at most [`MAX_FOUND_CHARS`] characters, marking the cut with `…`.
pub(crate) fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_FOUND_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// A quoted, truncated string for messages: `"some text"`.
pub(crate) fn quoted(text: &str) -> String {
    let cut = truncate(text);
    // Debug quoting escapes control characters (newlines in cells) so messages stay on a line.
    format!("{cut:?}")
}

/// Describes a JSON value for a "found ..." message: its type and a truncated rendering.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", quoted(s)),
        Value::Array(_) => format!("array {}", truncate(&value.to_string())),
        Value::Object(_) => format!("object {}", truncate(&value.to_string())),
    }
}

/// What a score must be, for messages.
const SCORE_EXPECTED: &str = "expected a number in [0, 1] (higher is better)";

/// What a label may be, for messages.
pub(crate) const LABEL_EXPECTED: &str =
    "expected a pass/fail label: a boolean, 0/1, or one of pass/fail, true/false, correct/incorrect, yes/no, good/bad, faithful/hallucinated; other words: --label-map WORD=pass,WORD=fail";

/// Checks a parsed score is a finite number in [0, `scale`] and divides it by `scale`. A score
/// above 1 on the default scale gets a hint: ratings out of 5, 10 or 100 are common.
fn check_score(
    field: &str,
    score: f64,
    scale: f64,
    found: impl FnOnce() -> String,
) -> Result<f64, Bad> {
    if score.is_finite() && (0.0..=scale).contains(&score) {
        return Ok(score / scale);
    }
    let expected = if scale == 1.0 {
        SCORE_EXPECTED.to_string()
    } else {
        format!("expected a number in [0, {scale}] (--score-scale; higher is better)")
    };
    let hint = match [5.0, 10.0, 100.0].into_iter().find(|&s| score <= s) {
        Some(s) if scale == 1.0 && score > 1.0 => {
            format!("; scores from 0 to {s}? give --score-scale {s} (each is divided by it)")
        }
        _ => String::new(),
    };
    Err(Bad::field(
        field,
        format!("{expected}, found {}{hint}", found()),
    ))
}

/// A score from JSON: a number in [0, `scale`], divided by it; `null` is no score.
pub(crate) fn score_from_json(
    field: &str,
    value: Option<&Value>,
    scale: f64,
) -> Result<Option<f64>, Bad> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => match n.as_f64() {
            Some(x) => check_score(field, x, scale, || describe(v)).map(Some),
            None => Err(Bad::field(
                field,
                format!("{SCORE_EXPECTED}, found {}", describe(v)),
            )),
        },
        Some(v) => Err(Bad::field(
            field,
            format!("{SCORE_EXPECTED}, found {}", describe(v)),
        )),
    }
}

/// A score from CSV cell text (surrounding whitespace ignored); an empty cell is no score.
pub(crate) fn score_from_text(
    field: &str,
    cell: Option<&str>,
    scale: f64,
) -> Result<Option<f64>, Bad> {
    let Some(text) = cell.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(x) => check_score(field, x, scale, || quoted(text)).map(Some),
        Err(_) => Err(Bad::field(
            field,
            format!("{SCORE_EXPECTED}, found {}", quoted(text)),
        )),
    }
}

/// A traffic weight: a finite number >= 0, from a JSON number or a numeric string (CSV cells
/// arrive as strings). Required: a row without one is bad.
pub(crate) fn weight(field: &str, value: Option<&Value>) -> Result<f64, Bad> {
    const EXPECTED: &str = "expected a traffic weight (a number >= 0)";
    let parsed = match value {
        None | Some(Value::Null) => {
            return Err(Bad::field(field, format!("{EXPECTED}, found none")))
        }
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match parsed {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(Bad::field(
            field,
            format!(
                "{EXPECTED}, found {}",
                describe(value.unwrap_or(&Value::Null))
            ),
        )),
    }
}

/// Reads a label word (any case, surrounding whitespace ignored): the user's `mapped` words
/// (`--label-map`) first, then the built-in ones. `Some(true)` = pass.
pub(crate) fn label_word(text: &str, mapped: &[(String, bool)]) -> Option<bool> {
    let t = text.trim();
    if let Some(&(_, pass)) = mapped.iter().find(|(w, _)| t.eq_ignore_ascii_case(w)) {
        return Some(pass);
    }
    // faithful/hallucinated: the vocabulary of hallucination benchmarks (HaluEval, RAGTruth).
    const PASS: [&str; 7] = ["1", "pass", "true", "correct", "yes", "good", "faithful"];
    const FAIL: [&str; 7] = [
        "0",
        "fail",
        "false",
        "incorrect",
        "no",
        "bad",
        "hallucinated",
    ];
    if PASS.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FAIL.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// A label from JSON: boolean, 0/1, or a label word ([`label_word`]); `null` is no label.
pub(crate) fn label_from_json(
    field: &str,
    value: Option<&Value>,
    mapped: &[(String, bool)],
) -> Result<Option<bool>, Bad> {
    let bad = |v: &Value| Bad::field(field, format!("{LABEL_EXPECTED}, found {}", describe(v)));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v @ Value::Number(n)) => match n.as_f64() {
            Some(1.0) => Ok(Some(true)),
            Some(0.0) => Ok(Some(false)),
            _ => Err(bad(v)),
        },
        Some(v @ Value::String(s)) => label_word(s, mapped).map(Some).ok_or_else(|| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// A label from CSV cell text; an empty (or all-whitespace) cell is no label.
pub(crate) fn label_from_text(
    field: &str,
    cell: Option<&str>,
    mapped: &[(String, bool)],
) -> Result<Option<bool>, Bad> {
    let Some(text) = cell.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    label_word(text, mapped).map(Some).ok_or_else(|| {
        Bad::field(
            field,
            format!("{LABEL_EXPECTED}, found {}", quoted(text.trim())),
        )
    })
}

/// An id from JSON: a string, or a number converted to its JSON text.
pub(crate) fn id_from_json(field: &str, value: Option<&Value>) -> Result<Option<String>, Bad> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(v) => Err(Bad::field(
            field,
            format!("expected a string or a number, found {}", describe(v)),
        )),
    }
}

/// A required string field (the prompt) from JSON.
pub(crate) fn prompt_from_json(field: &str, value: Option<&Value>) -> Result<String, Bad> {
    match value {
        Some(Value::String(s)) => Ok(s.clone()),
        None => Err(Bad {
            absent: true,
            ..Bad::field(
                field,
                format!("missing: expected the prompt text (a string) in field `{field}`, found no such field"),
            )
        }),
        Some(v) => Err(Bad::field(
            field,
            format!("expected the prompt text (a string), found {}", describe(v)),
        )),
    }
}

/// An optional string field (the response) from JSON; `null` is absent.
pub(crate) fn string_from_json(field: &str, value: Option<&Value>) -> Result<Option<String>, Bad> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(Bad::field(
            field,
            format!("expected a string, found {}", describe(v)),
        )),
    }
}

/// The reference answer from JSON: a string, or a number converted to its JSON text.
pub(crate) fn reference_from_json(
    field: &str,
    value: Option<&Value>,
) -> Result<Option<String>, Bad> {
    match value {
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        other => string_from_json(field, other),
    }
}

/// The context from JSON: a string or an array of passages, kept as given.
pub(crate) fn context_from_json(field: &str, value: Option<&Value>) -> Result<Option<Value>, Bad> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v @ (Value::String(_) | Value::Array(_))) => Ok(Some(v.clone())),
        Some(v) => Err(Bad::field(
            field,
            format!(
                "expected a string or an array of passages, found {}",
                describe(v)
            ),
        )),
    }
}

/// The context from a CSV cell: a cell holding a JSON array of strings becomes that array,
/// anything else stays a string; an empty cell is no context.
pub(crate) fn context_from_text(cell: Option<&str>) -> Option<Value> {
    let text = cell?;
    if text.trim_start().starts_with('[') {
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) {
            if items.iter().all(Value::is_string) {
                return Some(Value::Array(items));
            }
        }
    }
    Some(Value::String(text.to_string()))
}

/// What an embedding must be, for messages.
const EMBEDDING_EXPECTED: &str = "expected a non-empty JSON array of numbers";

/// An embedding from JSON: a non-empty array of finite numbers; `null` is no embedding.
pub(crate) fn embedding_from_json(
    field: &str,
    value: Option<&Value>,
) -> Result<Option<Vec<f32>>, Bad> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(v) => {
            return Err(Bad::field(
                field,
                format!("{EMBEDDING_EXPECTED}, found {}", describe(v)),
            ))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let x = match item {
            Value::Number(n) => n.as_f64().map(|x| x as f32).filter(|x| x.is_finite()),
            _ => None,
        };
        match x {
            Some(x) => out.push(x),
            None => {
                return Err(Bad::field(
                    field,
                    format!(
                        "{EMBEDDING_EXPECTED} (finite as 32-bit floats), found {} at index {i}",
                        describe(item)
                    ),
                ))
            }
        }
    }
    Ok(Some(out))
}

/// An embedding from a CSV cell holding a JSON array; an empty cell is no embedding.
pub(crate) fn embedding_from_text(
    field: &str,
    cell: Option<&str>,
) -> Result<Option<Vec<f32>>, Bad> {
    let Some(text) = cell.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(text) {
        Ok(v) => embedding_from_json(field, Some(&v)),
        Err(_) => Err(Bad::field(
            field,
            format!("{EMBEDDING_EXPECTED}, found {}", quoted(text)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truncate_cuts_on_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), MAX_FOUND_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn label_words_any_case_and_whitespace() {
        for w in [
            "pass", " PASS ", "True", "correct", "Yes", "1", "Good", "faithful",
        ] {
            assert_eq!(label_word(w, &[]), Some(true), "{w}");
        }
        for w in [
            "fail",
            "FALSE",
            " Incorrect",
            "no\t",
            "0",
            "bad",
            "Hallucinated",
        ] {
            assert_eq!(label_word(w, &[]), Some(false), "{w}");
        }
        assert_eq!(label_word("maybe", &[]), None);
        assert_eq!(label_word("2", &[]), None);
    }

    #[test]
    fn mapped_label_words_come_first() {
        let mapped = [("attributable".to_string(), true), ("No".to_string(), true)];
        assert_eq!(label_word(" Attributable ", &mapped), Some(true));
        // a mapping overrides a built-in word
        assert_eq!(label_word("no", &mapped), Some(true));
        assert_eq!(label_word("generic", &mapped), None);
        assert_eq!(
            label_from_text("label", Some("attributable"), &mapped).unwrap(),
            Some(true)
        );
        let err = label_from_json("label", Some(&json!("generic")), &mapped).unwrap_err();
        assert!(format!("{err:?}").contains("--label-map"), "{err:?}");
    }

    #[test]
    fn label_numbers_only_zero_or_one() {
        assert_eq!(
            label_from_json("label", Some(&json!(1)), &[]).unwrap(),
            Some(true)
        );
        assert_eq!(
            label_from_json("label", Some(&json!(0.0)), &[]).unwrap(),
            Some(false)
        );
        assert!(label_from_json("label", Some(&json!(2)), &[]).is_err());
    }

    #[test]
    fn score_text_rejects_nan_and_out_of_range() {
        assert_eq!(
            score_from_text("score", Some(" 0.25 "), 1.0).unwrap(),
            Some(0.25)
        );
        assert_eq!(score_from_text("score", Some(""), 1.0).unwrap(), None);
        assert!(score_from_text("score", Some("NaN"), 1.0).is_err());
        assert!(score_from_text("score", Some("1.5"), 1.0).is_err());
        assert!(score_from_text("score", Some("-0.1"), 1.0).is_err());
        // On a scale of 10: divided by it, and at most 10.
        assert_eq!(
            score_from_text("score", Some("7.5"), 10.0).unwrap(),
            Some(0.75)
        );
        assert!(score_from_text("score", Some("10.5"), 10.0).is_err());
    }

    #[test]
    fn csv_context_array_or_string() {
        assert_eq!(
            context_from_text(Some(r#"["a", "b"]"#)),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            context_from_text(Some("[not json")),
            Some(json!("[not json"))
        );
        assert_eq!(context_from_text(None), None);
    }
}
