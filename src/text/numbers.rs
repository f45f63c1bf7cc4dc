//! Numbers written in text, normalized so that `1,000` = `1000` and `3.50` = `3.5`: what
//! score's specifics look up in a context, and what `--name-with-llm` keeps out of names.

/// Numbers in `text` as (as written, normalized): digits with `,` thousands separators and
/// one decimal point; the normalized form drops separators, leading zeros and trailing
/// decimal zeros.
pub fn numbers(text: &str) -> Vec<(String, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        if i > 0 && bytes[i - 1].is_ascii_alphabetic() {
            // Part of a code such as "B12": skip the rest of it.
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        let start = i;
        let mut end = i;
        while end < bytes.len() {
            let b = bytes[end];
            let separator = (b == b',' || b == b'.')
                && end + 1 < bytes.len()
                && bytes[end + 1].is_ascii_digit();
            if b.is_ascii_digit() || separator {
                end += 1;
            } else {
                break;
            }
        }
        let written = &text[start..end];
        out.push((written.to_string(), normalize_number(written)));
        i = end;
    }
    out
}

/// The normalized form of a number as written (see [`numbers`]).
pub fn normalize_number(written: &str) -> String {
    // A comma followed by exactly three digits is a thousands separator; otherwise a decimal
    // comma ("3,5").
    let mut s = String::with_capacity(written.len());
    let parts: Vec<&str> = written.split(',').collect();
    for (k, part) in parts.iter().enumerate() {
        if k > 0 {
            let digits_before_dot = part.split('.').next().unwrap_or("").len();
            if digits_before_dot != 3 {
                s.push('.');
            }
        }
        s.push_str(part);
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), f.trim_end_matches('0').to_string()),
        None => (s.clone(), String::new()),
    };
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalized() {
        assert_eq!(normalize_number("1,000"), "1000");
        assert_eq!(normalize_number("3.50"), "3.5");
        assert_eq!(normalize_number("3,5"), "3.5");
        assert_eq!(normalize_number("007"), "7");
        assert_eq!(normalize_number("2.0"), "2");
        let found: Vec<String> = numbers("$1,250.00 in 2019, room B12")
            .into_iter()
            .map(|n| n.1)
            .collect();
        assert_eq!(found, vec!["1250", "2019"]);
    }
}
