//! The HTML reports in a real browser (issue 19): headless Chromium opens each demo page from
//! disk and prints its DOM after the page's script ran (`--dump-dom`), with the console on
//! stderr. Ignored by default; `.ci/run` runs this through `.ci/chromium`, which installs
//! Debian's `chromium` when missing and sets `FAULTMAP_CHROMIUM`:
//!
//!     .ci/chromium cargo test --release --test browser -- --ignored --nocapture --test-threads 1
//!
//! Without `FAULTMAP_CHROMIUM` every test prints "skipped: ..." and passes.
//!
//! Every page, in the rendered DOM: one script element (the page's own), nothing on the
//! console (the pages log nothing, so any message is an error or an uncaught exception), the
//! document's title and body as written (hostile input's payloads set them to "pwned" if they
//! ever run), no element made from the data (no `<img>`), and the sort script ran (every table
//! header got `tabindex="0"`). Then each demo's own checks against its JSON report from the
//! same input and arguments. [`DEMOS`] lists the pages: a new report is one entry. A control
//! page (raw payloads, a thrown error) shows that the checks see a script that ran.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

mod common;

use common::html::{drawn_claim, hostile_fixture, IMG, QUOTES, SCRIPT};
use common::{faultmap, json, stderr};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a page may take to render before the test gives up on the browser.
const RENDER_LIMIT: Duration = Duration::from_secs(60);

/// Headless, and nothing that reaches the network (Chromium otherwise calls Google's services
/// at start).
const FLAGS: &str = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --enable-logging=stderr --v=0";

/// One demo report: the command that writes it and what its page must show.
struct Demo {
    name: &'static str,
    /// The command's arguments without the output format, given a scratch directory for
    /// inputs; run once with `-o page.html` and once with `--format json`.
    args: fn(&Path) -> Vec<String>,
    /// Checks on the rendered page beyond those every page gets.
    check: fn(&Rendered),
    /// Texts from the input that must show on the page as text.
    shown: &'static [&'static str],
}

const DEMOS: &[Demo] = &[
    Demo {
        name: "slices (support_tickets.jsonl)",
        args: |_| strings(&["slices", "fixtures/support_tickets.jsonl", "-q"]),
        check: slices_page,
        shown: &[],
    },
    Demo {
        name: "slices (hostile prompts, id and metadata)",
        args: |dir| {
            let input = hostile_fixture(dir);
            strings(&["slices", input.to_str().unwrap(), "-q"])
        },
        check: slices_page,
        shown: &[SCRIPT, IMG, QUOTES],
    },
];

/// One page as the browser left it.
struct Rendered {
    /// The page as faultmap wrote it.
    html: String,
    /// The DOM after the page's script ran.
    dom: String,
    /// The JSON report of the same command.
    report: Value,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The browser from `FAULTMAP_CHROMIUM`, or `None` after printing why the test is skipped.
fn browser(test: &str) -> Option<PathBuf> {
    match std::env::var_os("FAULTMAP_CHROMIUM").filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            eprintln!(
                "{test}: skipped: FAULTMAP_CHROMIUM is not set (run through `.ci/chromium`, \
                 which installs Debian's chromium where it can)"
            );
            None
        }
    }
}

/// Opens `page` in headless Chromium; its DOM after scripts ran, the console messages and
/// uncaught exceptions from its log, and the wall time.
fn render(browser: &Path, page: &Path) -> (String, Vec<String>, Duration) {
    let scratch = tempfile::tempdir().unwrap();
    let (dom_path, log_path) = (scratch.path().join("dom"), scratch.path().join("log"));
    let profile = scratch.path().join("profile");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let started = Instant::now();
    let mut child = Command::new(browser)
        .args(FLAGS.split(' '))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(File::create(&dom_path).unwrap())
        .stderr(File::create(&log_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", browser.display()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RENDER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{url}: the browser did not finish within {RENDER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        status.success(),
        "{url}: the browser failed ({status}):\n{log}"
    );
    let dom = std::fs::read_to_string(&dom_path).unwrap();
    assert!(dom.contains("</html>"), "{url}: no DOM printed:\n{log}");
    (dom, console_messages(&log), took)
}

/// The page's console messages and uncaught exceptions in Chromium's log, which prints all of
/// them alike: `[...:INFO:CONSOLE:3] "Uncaught TypeError: ...", source: file:///... (3)`.
fn console_messages(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect()
}

/// A text as the DOM serializer writes a text node (only `&`, `<`, `>` and no-break spaces).
fn dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

/// The text of the first `<tag>` element (no attributes) in `html`.
fn element<'a>(html: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = html.find(&open).map(|i| i + open.len());
    let start = start.unwrap_or_else(|| panic!("no <{tag}>"));
    let end = html[start..].find(&format!("</{tag}>")).unwrap();
    &html[start..start + end]
}

/// What every page must show in the browser.
fn page_checks(demo: &Demo, page: &Rendered, console: &[String]) {
    let name = demo.name;
    assert!(
        console.is_empty(),
        "{name}: console messages or uncaught exceptions:\n{}",
        console.join("\n")
    );
    assert_eq!(
        element(&page.dom, "title"),
        element(&page.html, "title"),
        "{name}: the document's title changed"
    );
    assert!(
        page.dom.contains("<body>"),
        "{name}: the body's attributes changed"
    );
    assert!(
        !page.dom.contains("<img"),
        "{name}: an element made from the data"
    );
    assert_eq!(page.dom.matches("<script").count(), 1, "{name}: scripts");
    // The sort script gives every header of a sortable table a tabindex (in the page as written,
    // the headers have no attributes).
    let headers = page.html.matches("<th>").count();
    assert!(headers > 0, "{name}: a table to sort");
    assert_eq!(
        page.dom.matches("<th tabindex=\"0\">").count(),
        headers,
        "{name}: the sort script did not run"
    );
    assert!(!page.dom.contains("<th>"), "{name}");
    for text in demo.shown {
        assert!(
            page.dom.contains(&dom_text(text)),
            "{name}: {text:?} does not show as text"
        );
    }
}

/// The slices page: the map has the points it says it has (every row, below the sampling
/// limit), and each reported slice is a numbered map label (the first 10) and a table row.
fn slices_page(page: &Rendered) {
    let (dom, report) = (&page.dom, &page.report);
    let (drawn, total) = drawn_claim(dom);
    assert_eq!(drawn, dom.matches("class=\"pt ").count(), "point marks");
    assert_eq!(total as u64, report["total_prompts"].as_u64().unwrap());
    if total <= 4000 {
        assert_eq!(drawn, total, "every row is drawn below 4,000");
    }
    let slices = report["slices"].as_array().unwrap();
    assert!(!slices.is_empty(), "the demo has slices");
    assert_eq!(dom.matches("<tr class=\"slice\">").count(), slices.len());
    assert_eq!(
        dom.matches("<g class=\"label\">").count(),
        slices.len().min(10)
    );
    for (k, s) in slices.iter().enumerate() {
        let (rank, name) = (k + 1, dom_text(s["name"].as_str().unwrap()));
        if k < 10 {
            assert!(
                dom.contains(&format!("<g class=\"label\"><title>{rank}. {name}</title>")),
                "map label {rank}. {name}"
            );
        }
        let row = format!("<tr class=\"slice\"><td class=\"n\" data-v=\"{rank}\">{rank}</td><td>");
        let row = dom
            .split(&row)
            .nth(1)
            .unwrap_or_else(|| panic!("table row {rank}"));
        let cell = &row[..row.find("</td>").unwrap()];
        assert!(
            cell.contains(&name),
            "table row {rank} names {name}: {cell}"
        );
    }
}

#[test]
#[ignore = "needs Chromium: run through .ci/chromium (see the top of this file)"]
fn demo_pages_render_cleanly_in_chromium() {
    let Some(browser) = browser("demo_pages_render_cleanly_in_chromium") else {
        return;
    };
    for demo in DEMOS {
        let dir = tempfile::tempdir().unwrap();
        let args = (demo.args)(dir.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let html_path = dir.path().join("page.html");
        let out = faultmap(&[&args[..], &["-o", html_path.to_str().unwrap()]].concat());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            demo.name,
            stderr(&out)
        );
        let report = json(&faultmap(&[&args[..], &["--format", "json"]].concat()));
        let (dom, console, took) = render(&browser, &html_path);
        let page = Rendered {
            html: std::fs::read_to_string(&html_path).unwrap(),
            dom,
            report,
        };
        page_checks(demo, &page, &console);
        (demo.check)(&page);
        eprintln!(
            "{}: rendered in {:.2} s ({} KB)",
            demo.name,
            took.as_secs_f64(),
            page.html.len() / 1024
        );
    }
}

/// The checks are not blind: the same payloads written raw into a page run in the browser,
/// and the test sees it (title, body class, console).
#[test]
#[ignore = "needs Chromium: run through .ci/chromium (see the top of this file)"]
fn a_script_that_runs_is_seen() {
    let Some(browser) = browser("a_script_that_runs_is_seen") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("raw.html");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html>\n<html><head><title>t</title></head>\n<body>\n<p>{IMG}</p>\
             <svg><title>{SCRIPT}</title></svg><script>console.error('x');null.f()</script>\
             </body></html>\n"
        ),
    )
    .unwrap();
    let (dom, console, took) = render(&browser, &page);
    assert_eq!(element(&dom, "title"), "pwned", "{dom}");
    assert!(dom.contains("<body class=\"pwned\">"), "{dom}");
    assert!(
        console.iter().any(|l| l.contains("\"x\", source: file://")),
        "console.error: {console:?}"
    );
    assert!(
        console.iter().any(|l| l.contains("Uncaught TypeError")),
        "uncaught exception: {console:?}"
    );
    eprintln!("control page: rendered in {:.2} s", took.as_secs_f64());
}
