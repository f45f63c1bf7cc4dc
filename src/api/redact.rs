//! Keeps the API key out of every message faultmap prints.

/// What a redacted key is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every occurrence of `secret` replaced by [`REDACTED`] (unchanged when there is
/// no secret or it is empty).
pub fn redact(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, REDACTED),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_occurrence() {
        let key = "sk-test-SECRET123";
        let text = format!("Bearer {key} failed; echo: {{\"key\":\"{key}\"}}");
        let out = redact(&text, Some(key));
        assert!(!out.contains(key), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 2);
        assert!(out.starts_with("Bearer [REDACTED] failed"));
    }

    #[test]
    fn no_secret_leaves_text_alone() {
        assert_eq!(redact("hello", None), "hello");
        assert_eq!(redact("hello", Some("")), "hello");
    }
}
