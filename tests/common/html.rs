//! Helpers for the HTML reports' tests (tests/html_report.rs offline, tests/browser.rs in
//! Chromium): a fixture with hostile text, and what the slices page says it draws.

use serde_json::Value;
use std::path::{Path, PathBuf};

pub const SCRIPT: &str = "</script><script>document.title='pwned'</script>";
pub const IMG: &str = "<img src=x onerror=document.body.className='pwned'>";
pub const QUOTES: &str = "\"'&";

/// Writes `hostile.jsonl` in `dir`, support_tickets.jsonl with hostile text in two prompts, an
/// id and a metadata field, and returns its path. Each payload does something a rendered page
/// shows if it ever runs: the script sets the document's title, the image's handler the body's
/// class, both to "pwned".
pub fn hostile_fixture(dir: &Path) -> PathBuf {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/support_tickets.jsonl"),
    )
    .unwrap();
    let mut out = String::new();
    for (i, line) in source.lines().enumerate() {
        let mut row: Value = serde_json::from_str(line).unwrap();
        match i {
            0 => row["prompt"] = format!("{SCRIPT} my refund is late").into(),
            1 => row["prompt"] = format!("{IMG} {QUOTES} shipping to Berlin").into(),
            2 => row["id"] = format!("{IMG}{QUOTES}").into(),
            3 => row["metadata"]["topic"] = format!("{SCRIPT}{QUOTES}").into(),
            _ => {}
        }
        out.push_str(&serde_json::to_string(&row).unwrap());
        out.push('\n');
    }
    let path = dir.join("hostile.jsonl");
    std::fs::write(&path, out).unwrap();
    path
}

/// The number in the slices page's `<strong id="drawn">N</strong>` and the total after "of".
pub fn drawn_claim(page: &str) -> (usize, usize) {
    let after = page
        .split("<strong id=\"drawn\">")
        .nth(1)
        .expect("drawn count");
    let (drawn, rest) = after.split_once("</strong> of ").unwrap();
    let total = rest.split_whitespace().next().unwrap();
    (drawn.parse().unwrap(), total.parse().unwrap())
}
