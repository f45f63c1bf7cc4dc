//! Keeps the API key, and credentials written into the base URL, out of every message faultmap
//! prints and every cache key it derives.

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

/// Query parameters whose values are secrets: a name containing one of these (any case).
const SECRET_PARAMS: [&str; 6] = ["key", "token", "secret", "password", "sig", "auth"];

/// The secrets written into `url`: its userinfo (`user:password@`, whole, and the password
/// alone) and the values of query parameters named like keys or tokens (`?api_key=...`).
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some((userinfo, _host)) = authority.rsplit_once('@') {
        secrets.push(userinfo.to_string());
        if let Some((_, password)) = userinfo.split_once(':') {
            secrets.push(password.to_string());
        }
    }
    if let Some((_, query)) = rest.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=') {
                let name = name.to_ascii_lowercase();
                if SECRET_PARAMS.iter().any(|p| name.contains(p)) {
                    secrets.push(value.to_string());
                }
            }
        }
    }
    // Too short to replace everywhere without mangling the message; they are still removed
    // from URLs as part of the whole userinfo.
    secrets.retain(|s| s.chars().count() >= 4 || s.contains(':'));
    secrets
}

/// `text` with every secret replaced by [`REDACTED`], longest first (so a userinfo is replaced
/// whole before its password).
pub fn redact_all(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    sorted
        .into_iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), REDACTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_found_and_replaced() {
        let url = "https://alice:hunter22@proxy.example/v1?api_key=SECRETKEY&model=x#frag";
        let secrets = url_secrets(url);
        assert_eq!(secrets, ["alice:hunter22", "hunter22", "SECRETKEY"]);
        let shown = redact_all(&format!("{url}/embeddings failed: hunter22"), &secrets);
        assert_eq!(
            shown,
            "https://[REDACTED]@proxy.example/v1?api_key=[REDACTED]&model=x#frag/embeddings \
             failed: [REDACTED]"
        );
        assert!(url_secrets("http://127.0.0.1:8080/v1").is_empty());
        assert!(url_secrets("http://host/v1?model=abc").is_empty());
        // an '@' in the path is not userinfo
        assert!(url_secrets("http://host/v1/@me").is_empty());
        // a short password is removed with its userinfo, not on its own
        assert_eq!(url_secrets("http://u:pw@host/v1"), ["u:pw"]);
    }

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
