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

use common::html::{
    drawn_claim, drawn_claim_of, hostile_coverage_fixture, hostile_fixture, hostile_score_fixture,
    IMG, QUOTES, SCRIPT,
};
use common::{faultmap, json, stderr, string_array};
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
    /// The command's exit code, both runs (`regress` exits 1 on a regression).
    exit: i32,
}

const DEMOS: &[Demo] = &[
    Demo {
        name: "slices (support_tickets.jsonl)",
        args: |_| strings(&["slices", "fixtures/support_tickets.jsonl", "-q"]),
        check: slices_page,
        shown: &[],
        exit: 0,
    },
    Demo {
        name: "slices (hostile prompts, id and metadata)",
        args: |dir| {
            let input = hostile_fixture(dir);
            strings(&["slices", input.to_str().unwrap(), "-q"])
        },
        check: slices_page,
        shown: &[SCRIPT, IMG, QUOTES],
        exit: 0,
    },
    Demo {
        name: "coverage (coverage_tests.jsonl, coverage_production.jsonl)",
        args: |_| {
            strings(&[
                "coverage",
                "--tests",
                "fixtures/coverage_tests.jsonl",
                "--production",
                "fixtures/coverage_production.jsonl",
                "-q",
            ])
        },
        check: coverage_page,
        shown: &[],
        exit: 0,
    },
    Demo {
        name: "coverage (hostile prompts in tests and production)",
        args: |dir| {
            let (tests, production) = hostile_coverage_fixture(dir);
            strings(&[
                "coverage",
                "--tests",
                tests.to_str().unwrap(),
                "--production",
                production.to_str().unwrap(),
                "-q",
            ])
        },
        check: coverage_page,
        shown: &[SCRIPT, IMG, QUOTES],
        exit: 0,
    },
    Demo {
        name: "score (rag_answers.jsonl)",
        args: |_| strings(&["score", "fixtures/rag_answers.jsonl", "-q"]),
        check: score_page,
        shown: &[],
        exit: 0,
    },
    Demo {
        name: "score (hostile query and response)",
        args: |dir| {
            let input = hostile_score_fixture(dir);
            strings(&["score", input.to_str().unwrap(), "-q"])
        },
        check: score_page,
        shown: &[SCRIPT, IMG, QUOTES],
        exit: 0,
    },
    Demo {
        name: "regress compare (regress_baseline.jsonl, regress_candidate_slice.jsonl)",
        args: |_| {
            strings(&[
                "regress",
                "compare",
                "fixtures/regress_baseline.jsonl",
                "fixtures/regress_candidate_slice.jsonl",
                "-q",
            ])
        },
        check: regress_page,
        shown: &[],
        // A regression: the demo's point.
        exit: 1,
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
    // the headers have no attributes); other tables' headers (the score page's counts) keep none.
    let headers = page
        .html
        .split("<table class=\"sortable\">")
        .skip(1)
        .map(|t| t[..t.find("</table>").unwrap()].matches("<th>").count())
        .sum::<usize>();
    assert!(headers > 0, "{name}: a table to sort");
    assert_eq!(
        page.dom.matches("<th tabindex=\"0\">").count(),
        headers,
        "{name}: the sort script did not run"
    );
    assert_eq!(
        page.dom.matches("<th>").count(),
        page.html.matches("<th>").count() - headers,
        "{name}: headers of tables that do not sort"
    );
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

/// The `<section id="{id}">` of a page, up to its end.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!("<section id=\"{id}\">");
    let after = dom
        .split(&open)
        .nth(1)
        .unwrap_or_else(|| panic!("no section {id}"));
    &after[..after.find("</section>").unwrap()]
}

/// The text of the table cell right after `prefix` (the cells before it), for table row `what`.
fn cell_after<'a>(dom: &'a str, prefix: &str, what: &str) -> &'a str {
    let row = dom
        .split(prefix)
        .nth(1)
        .unwrap_or_else(|| panic!("{what}: no {prefix}"));
    &row[..row.find("</td>").unwrap()]
}

/// The coverage page: the map has the test and production marks it says it has (every one,
/// below the sampling limit; the uncovered ones as many as the JSON counts), and each gap is an
/// outlined, numbered map label (the first 10) and a table row.
fn coverage_page(page: &Rendered) {
    let (dom, report) = (&page.dom, &page.report);
    let map = section(dom, "map");
    let (tests, num_tests) = drawn_claim_of(map, "drawn-tests");
    let (production, num_production) = drawn_claim_of(map, "drawn-production");
    assert_eq!(
        tests,
        map.matches("<rect class=\"pt test\"").count(),
        "test marks"
    );
    let uncovered = map.matches("<path class=\"pt uncovered\"").count();
    assert_eq!(
        production,
        map.matches("<circle class=\"pt covered\"").count() + uncovered,
        "production marks"
    );
    assert_eq!(num_tests as u64, report["num_tests"].as_u64().unwrap());
    assert_eq!(
        num_production as u64,
        report["num_production"].as_u64().unwrap()
    );
    if num_tests + num_production <= 4000 {
        assert_eq!(
            (tests, production),
            (num_tests, num_production),
            "every prompt is drawn below 4,000"
        );
        assert_eq!(
            uncovered as u64,
            report["num_uncovered_total"].as_u64().unwrap(),
            "uncovered marks"
        );
    }
    let gaps = report["gaps"].as_array().unwrap();
    assert!(!gaps.is_empty(), "the demo has gaps");
    let outlined = gaps.len().min(10);
    assert_eq!(
        map.matches("<polygon class=\"gap\"").count()
            + map.matches("<circle class=\"gap\"").count(),
        outlined,
        "gap outlines"
    );
    assert_eq!(map.matches("<g class=\"label\">").count(), outlined);
    let table = section(dom, "gaps");
    assert_eq!(table.matches("<tr class=\"gap\">").count(), gaps.len());
    for (k, g) in gaps.iter().enumerate() {
        let (rank, name) = (k + 1, dom_text(g["name"].as_str().unwrap()));
        if k < outlined {
            assert!(
                map.contains(&format!("<g class=\"label\"><title>{rank}. {name}</title>")),
                "map label {rank}. {name}"
            );
        }
        let prefix = format!("<tr class=\"gap\"><td class=\"n\" data-v=\"{rank}\">{rank}</td><td>");
        let cell = cell_after(table, &prefix, &format!("gap row {rank}"));
        assert!(cell.contains(&name), "gap row {rank} names {name}: {cell}");
    }
}

/// Rows in the score page's worst-rows table, at most.
const WORST_ROWS: usize = 20;

/// The score page: the decision bar's legend counts what the JSON summary counts, the
/// histogram has one panel per decision present whose bins hold that decision's rows (a
/// decision with no row may keep an empty panel), and the worst-rows table lists min(20, rows)
/// rows, lowest final score first.
fn score_page(page: &Rendered) {
    let (dom, report) = (&page.dom, &page.report);
    let total = report["total_rows"].as_u64().unwrap();
    let decisions = report["decisions"].as_object().unwrap();
    assert_eq!(
        decisions.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        total
    );
    let bar = section(dom, "decisions");
    let panels: Vec<&str> = section(dom, "histogram").split("<svg ").skip(1).collect();
    for decision in ["ACCEPT", "REVIEW", "REJECT"] {
        let n = decisions.get(decision).map_or(0, |n| n.as_u64().unwrap());
        let share = format!("{:.1}%", 100.0 * n as f64 / total.max(1) as f64);
        let legend = format!("<b>{decision}</b>: {n} ({share})</li>");
        assert!(bar.contains(&legend), "decision count {legend}");
        let label = format!("aria-label=\"Final scores of the {decision} rows\"");
        let mine: Vec<&&str> = panels.iter().filter(|p| p.contains(&label)).collect();
        assert!(mine.len() <= 1, "one panel of {decision}");
        let Some(panel) = mine.first() else {
            assert_eq!(n, 0, "no panel of {decision}");
            continue;
        };
        let title = format!(">{decision} ({n} rows)</text>");
        assert!(panel.contains(&title), "{title}");
        // Each bin's title: "DECISION: N rows with final in [lo, hi)".
        let binned: u64 = panel
            .split(&format!("<title>{decision}: "))
            .skip(1)
            .map(|b| b.split(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(binned, n, "rows in the bins of {decision}");
    }
    let present = decisions.values().filter(|n| n.as_u64() > Some(0)).count();
    assert!(
        (present..=3).contains(&panels.len()),
        "{} histogram panels for {present} decisions",
        panels.len()
    );
    let worst = section(dom, "worst");
    let shown = (total as usize).min(WORST_ROWS);
    assert!(
        worst.contains(&format!("<h2>The {shown} lowest final scores</h2>")),
        "the worst-rows heading"
    );
    let body = worst.split("<tbody>").nth(1).unwrap();
    assert_eq!(body.matches("<tr>").count(), shown, "worst rows");
    // The second cell of each row is its final score: lowest first.
    let finals: Vec<f64> = body
        .split("<tr><td class=\"n\" data-v=\"")
        .skip(1)
        .map(|row| {
            let second = row.split("<td class=\"n\" data-v=\"").nth(1).unwrap();
            second.split('"').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(finals.len(), shown);
    assert!(finals.windows(2).all(|w| w[0] <= w[1]), "{finals:?}");
}

/// Slices in the regress page's forest plot, at most, and worst cases listed by default
/// (`--cases`).
const FOREST_ROWS: usize = 40;
const CASES: usize = 10;

/// The regress page: the verdict (and the gates tripped) are the JSON's, the forest plot has
/// the whole run and one row per slice (at most 40), regressed ones said in words, the table
/// one row per slice, and the worst cases are listed (the first 10) in the JSON's order.
fn regress_page(page: &Rendered) {
    let (dom, report) = (&page.dom, &page.report);
    let verdict = report["verdict"].as_str().unwrap();
    let heading = format!("<h1 id=\"verdict\" data-verdict=\"{verdict}\">");
    let heading = element_after(dom, &heading, "</h1>");
    let gates = string_array(&report["gates_tripped"]);
    match verdict {
        "pass" => assert_eq!(heading, "✔ No regression"),
        "regression" => {
            let word = if gates.len() == 1 { "gate" } else { "gates" };
            assert_eq!(
                heading,
                format!("✘ REGRESSION: {word} {} tripped", gates.join(", "))
            );
        }
        other => panic!("verdict {other}"),
    }
    let slices = report["slices"].as_array().unwrap();
    assert!(!slices.is_empty(), "the demo has slices");
    let drawn = slices.len().min(FOREST_ROWS);
    let forest = section(dom, "forest");
    assert!(
        forest.contains(&format!(" {drawn} of {} tested slices", slices.len())),
        "the forest plot's note"
    );
    let rows: Vec<&str> = forest.split("<g><title>").skip(1).collect();
    assert_eq!(
        rows.len(),
        drawn + 1,
        "forest rows: the whole run and slices"
    );
    assert!(rows[0].starts_with("Whole run: "));
    let named = |s: &Value| format!("{}: ", dom_text(s["name"].as_str().unwrap()));
    let in_forest = slices
        .iter()
        .filter(|s| rows[1..].iter().any(|r| r.starts_with(&named(s))))
        .count();
    assert_eq!(
        in_forest, drawn,
        "forest rows named after the JSON's slices"
    );
    if slices.len() <= FOREST_ROWS {
        let regressed = slices.iter().filter(|s| s["change"] == "regressed").count();
        assert_eq!(
            forest.matches(">regressed</tspan>").count(),
            regressed,
            "regressed slices in words"
        );
    }
    let table = section(dom, "slices");
    assert_eq!(
        table.matches("<tr><td>").count(),
        slices.len(),
        "slice rows"
    );
    let cases = report["regressed_cases"].as_array().unwrap();
    let listed = section(dom, "cases");
    let shown = cases.len().min(CASES);
    assert_eq!(listed.matches("<tr><td>").count(), shown, "worst cases");
    let keys: Vec<&str> = listed
        .split("<tr><td>")
        .skip(1)
        .map(|row| &row[..row.find("</td>").unwrap()])
        .collect();
    let expected: Vec<String> = cases[..shown]
        .iter()
        .map(|c| dom_text(c["key"].as_str().unwrap()))
        .collect();
    assert_eq!(keys, expected, "worst cases, worst first");
}

/// The text after `open` up to `close`.
fn element_after<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    let start = html.find(open).unwrap_or_else(|| panic!("no {open}")) + open.len();
    let end = html[start..].find(close).unwrap();
    &html[start..start + end]
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
            Some(demo.exit),
            "{}: {}",
            demo.name,
            stderr(&out)
        );
        let out = faultmap(&[&args[..], &["--format", "json"]].concat());
        assert_eq!(
            out.status.code(),
            Some(demo.exit),
            "{} (JSON): {}",
            demo.name,
            stderr(&out)
        );
        let report = json(&out);
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
