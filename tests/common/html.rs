//! Helpers for the HTML reports' tests (tests/suite/html_report.rs offline, tests/browser.rs in
//! Chromium): fixtures with hostile text (slices, coverage, score), and what a map says it
//! draws.

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
    rewritten(
        dir,
        "fixtures/support_tickets.jsonl",
        "hostile.jsonl",
        |i, row| match i {
            0 => row["prompt"] = format!("{SCRIPT} my refund is late").into(),
            1 => row["prompt"] = format!("{IMG} {QUOTES} shipping to Berlin").into(),
            2 => row["id"] = format!("{IMG}{QUOTES}").into(),
            3 => row["metadata"]["topic"] = format!("{SCRIPT}{QUOTES}").into(),
            _ => {}
        },
    )
}

/// Writes `tests.jsonl` and `production.jsonl` in `dir`, the coverage demo's two files with the
/// payloads of [`hostile_fixture`] in the first two prompts of each, and returns their paths.
pub fn hostile_coverage_fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let edit = |i: usize, row: &mut Value| {
        let prompt = row["prompt"].as_str().unwrap().to_string();
        match i {
            0 => row["prompt"] = format!("{SCRIPT} {prompt}").into(),
            1 => row["prompt"] = format!("{IMG} {QUOTES} {prompt}").into(),
            _ => {}
        }
    };
    (
        rewritten(dir, "fixtures/coverage_tests.jsonl", "tests.jsonl", edit),
        rewritten(
            dir,
            "fixtures/coverage_production.jsonl",
            "production.jsonl",
            edit,
        ),
    )
}

/// Writes `rag.jsonl` in `dir`, the score demo (rag_answers.jsonl, 17 rows: every one is in
/// the page's worst-rows table) with the payloads in a query and a response, and returns its
/// path.
pub fn hostile_score_fixture(dir: &Path) -> PathBuf {
    rewritten(
        dir,
        "fixtures/rag_answers.jsonl",
        "rag.jsonl",
        |i, row| match i {
            0 => row["prompt"] = format!("{SCRIPT} refund?").into(),
            1 => row["response"] = format!("{IMG} {QUOTES} within 30 days.").into(),
            _ => {}
        },
    )
}

/// Writes `name` in `dir`: the JSONL fixture `rel` with each row passed through `edit` with its
/// line number.
pub fn rewritten(dir: &Path, rel: &str, name: &str, edit: impl Fn(usize, &mut Value)) -> PathBuf {
    let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap();
    let mut out = String::new();
    for (i, line) in source.lines().enumerate() {
        let mut row: Value = serde_json::from_str(line).unwrap();
        edit(i, &mut row);
        out.push_str(&serde_json::to_string(&row).unwrap());
        out.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

/// The number in the slices page's `<strong id="drawn">N</strong>` and the total after "of".
pub fn drawn_claim(page: &str) -> (usize, usize) {
    drawn_claim_of(page, "drawn")
}

/// The number in a map's `<strong id="{id}">N</strong>` and the total after "of".
pub fn drawn_claim_of(page: &str, id: &str) -> (usize, usize) {
    let after = page
        .split(&format!("<strong id=\"{id}\">"))
        .nth(1)
        .unwrap_or_else(|| panic!("drawn count {id}"));
    let (drawn, rest) = after.split_once("</strong> of ").unwrap();
    let total = rest.split_whitespace().next().unwrap();
    (drawn.parse().unwrap(), total.parse().unwrap())
}
