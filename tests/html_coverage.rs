//! `faultmap coverage --format html` (issue 19): one self-contained page with tests and
//! production on one map, the gaps outlined and numbered on it, charted by traffic share and
//! listed in a sortable table, every text from the data escaped; `--coords` for the JSON.

mod common;

use common::schema::validate;
use common::{faultmap, json, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};

const SCRIPT: &str = "</script><script>alert(1)</script>";
const IMG: &str = "<img src=x onerror=alert(1)>";
const TESTS: &str = "fixtures/coverage_tests.jsonl";
const PRODUCTION: &str = "fixtures/coverage_production.jsonl";

fn run_ok(args: &[&str]) -> Vec<u8> {
    let out = faultmap(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    out.stdout
}

fn coverage(tests: &str, production: &str, extra: &[&str]) -> Vec<u8> {
    let args = [
        &[
            "coverage",
            "-q",
            "--tests",
            tests,
            "--production",
            production,
        ][..],
        extra,
    ]
    .concat();
    run_ok(&args)
}

fn page(tests: &str, production: &str, extra: &[&str]) -> String {
    let html = [&["--format", "html"][..], extra].concat();
    String::from_utf8(coverage(tests, production, &html)).unwrap()
}

fn report(tests: &str, production: &str, extra: &[&str]) -> Value {
    let args = [
        &[
            "coverage",
            "-q",
            "--tests",
            tests,
            "--production",
            production,
        ][..],
        &["--format", "json"],
        extra,
    ]
    .concat();
    json(&faultmap(&args))
}

/// The page's escaping of a text (as `escape::html`).
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The number in `<strong id="{id}">N</strong>` and the total after "of".
fn drawn_claim(page: &str, id: &str) -> (usize, usize) {
    let after = page
        .split(&format!("<strong id=\"{id}\">"))
        .nth(1)
        .expect("drawn count");
    let (drawn, rest) = after.split_once("</strong> of ").unwrap();
    let total = rest.split_whitespace().next().unwrap();
    (drawn.parse().unwrap(), total.parse().unwrap())
}

fn assert_self_contained(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    // `src=` as an attribute: a hostile prompt may show the text "src=" (escaped).
    for fetch in [
        "http://", "https://", "src=\"", "src='", "<link", "url(", "@import", "<iframe",
    ] {
        assert!(
            !page.contains(fetch),
            "the page must fetch nothing: {fetch}"
        );
    }
    // Only the page's own script block.
    assert_eq!(page.matches("<script").count(), 1);
}

/// A copy of `fixture` (JSONL) in `dir` whose first two prompts carry hostile markup.
fn hostile(dir: &Path, fixture: &str) -> PathBuf {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture)).unwrap();
    let mut out = String::new();
    for (i, line) in source.lines().enumerate() {
        let mut row: Value = serde_json::from_str(line).unwrap();
        let prompt = row["prompt"].as_str().unwrap().to_string();
        match i {
            0 => row["prompt"] = format!("{SCRIPT} {prompt}").into(),
            1 => row["prompt"] = format!("{IMG} \"'& {prompt}").into(),
            _ => {}
        }
        out.push_str(&serde_json::to_string(&row).unwrap());
        out.push('\n');
    }
    let path = dir.join(Path::new(fixture).file_name().unwrap());
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn the_demo_page_draws_every_prompt_and_every_gap() {
    let page = page(TESTS, PRODUCTION, &[]);
    assert_self_contained(&page);
    assert!(!page.contains("src="));
    let report = report(TESTS, PRODUCTION, &[]);
    let (tests, production) = (
        report["num_tests"].as_u64().unwrap() as usize,
        report["num_production"].as_u64().unwrap() as usize,
    );
    assert_eq!((tests, production), (120, 390));
    // Under the sampling limit, every prompt is drawn, each with its mark.
    assert_eq!(drawn_claim(&page, "drawn-tests"), (tests, tests));
    assert_eq!(
        drawn_claim(&page, "drawn-production"),
        (production, production)
    );
    assert_eq!(page.matches("<rect class=\"pt test\"").count(), tests);
    let covered = page.matches("<circle class=\"pt covered\"").count();
    let uncovered = page.matches("<path class=\"pt uncovered\"").count();
    assert_eq!(covered + uncovered, production);
    assert_eq!(
        uncovered,
        report["num_uncovered_total"].as_u64().unwrap() as usize
    );
    assert!(!page.contains("a seeded sample"));

    let gaps = report["gaps"].as_array().unwrap();
    assert!(
        (2..=10).contains(&gaps.len()),
        "the demo has a few gaps, all outlined"
    );
    assert_eq!(page.matches("class=\"gap\" points=").count(), gaps.len());
    assert_eq!(page.matches("<g class=\"label\">").count(), gaps.len());
    assert_eq!(page.matches("<g class=\"bar\">").count(), gaps.len());
    assert_eq!(page.matches("<tr class=\"gap\">").count(), gaps.len());
    for (k, gap) in gaps.iter().enumerate() {
        let (rank, name) = (k + 1, escaped(gap["name"].as_str().unwrap()));
        assert!(
            page.contains(&format!("<title>gap {rank}: {name}</title>")),
            "outline {rank}"
        );
        assert!(
            page.contains(&format!("<title>{rank}. {name}</title>")),
            "label {rank}"
        );
        let size = gap["size"].as_u64().unwrap();
        let share = gap["traffic_share"].as_f64().unwrap();
        assert!(
            page.contains(&format!(
                "<tr class=\"gap\"><td class=\"n\" data-v=\"{rank}\">{rank}</td>"
            )),
            "table row {rank}"
        );
        assert!(page.contains(&format!("data-v=\"{size}\">{size}</td>")));
        assert!(
            page.contains(&format!("data-v=\"{share}\">")),
            "share of {rank}"
        );
        // Members of the gap are crosses in its colour: as many as its size.
        let palette = [
            "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
            "#9c755f", "#7f7f7f",
        ];
        let Some(ink) = palette.get(k) else { continue };
        let in_gap = page
            .lines()
            .filter(|l| l.starts_with("<path class=\"pt uncovered\"") && l.contains(ink))
            .count();
        assert_eq!(in_gap as u64, size, "members of gap {rank}");
    }
    assert!(page.contains("<table class=\"sortable\">"));
}

#[test]
fn hostile_prompts_in_both_files_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let tests = hostile(dir.path(), TESTS);
    let production = hostile(dir.path(), PRODUCTION);
    let page = page(tests.to_str().unwrap(), production.to_str().unwrap(), &[]);
    assert_self_contained(&page);
    assert!(!page.contains(SCRIPT) && !page.contains(IMG) && !page.contains("<img"));
    assert!(!page.contains("<script>alert"));
    // Each hostile prompt is on the map (hover), escaped, in its file's mark.
    let lines_with = |needle: &str, mark: &str| {
        page.lines()
            .filter(|l| l.contains(needle) && l.starts_with(mark))
            .count()
    };
    for needle in [escaped(SCRIPT), escaped(&format!("{IMG} \"'&"))] {
        assert_eq!(
            lines_with(&needle, "<rect class=\"pt test\""),
            1,
            "{needle}"
        );
        assert_eq!(
            lines_with(&needle, "<path class=\"pt ") + lines_with(&needle, "<circle class=\"pt "),
            1,
            "{needle}"
        );
    }
}

#[test]
fn the_page_is_byte_identical_for_the_same_input_and_seed() {
    let seeded = ["--seed", "7"];
    let first = page(TESTS, PRODUCTION, &seeded);
    assert_eq!(first, page(TESTS, PRODUCTION, &seeded));
    assert!(first.contains("seed 7"));
}

#[test]
fn an_html_output_file_picks_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.HTML");
    let stdout = coverage(TESTS, PRODUCTION, &["-o", out.to_str().unwrap()]);
    assert!(stdout.is_empty());
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written, page(TESTS, PRODUCTION, &[]));
}

#[test]
fn coords_are_in_the_json_only_with_the_flag() {
    let plain = report(TESTS, PRODUCTION, &[]);
    assert!(plain.get("coords").is_none());
    let with = report(TESTS, PRODUCTION, &["--coords"]);
    validate("coverage.schema.json", &with, "coverage --coords");
    for (file, rows) in [("tests", 120), ("production", 390)] {
        let coords = with["coords"][file].as_array().unwrap();
        assert_eq!(coords.len(), rows, "{file}");
        for xy in coords {
            let xy = xy.as_array().unwrap();
            assert_eq!(xy.len(), 2);
            let x = xy[0].as_f64().unwrap();
            assert!(
                (x * 1e4 - (x * 1e4).round()).abs() < 1e-6,
                "4 decimals: {x}"
            );
        }
    }
    // One map for both: the tests are not all stacked on the production prompts' places.
    assert_ne!(with["coords"]["tests"][0], with["coords"]["production"][0]);
    // Everything else is as without the flag.
    let mut rest = with.clone();
    rest.as_object_mut().unwrap().remove("coords");
    assert_eq!(rest, plain);
}

#[test]
fn large_inputs_draw_a_sample_that_keeps_each_share() {
    // 4,290 production prompts: the demo's repeated with a counter, so prompts stay distinct.
    let dir = tempfile::tempdir().unwrap();
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(PRODUCTION)).unwrap();
    let mut out = String::new();
    for copy in 0..11 {
        for line in source.lines() {
            let mut row: Value = serde_json::from_str(line).unwrap();
            row["prompt"] = format!("{} (case {copy})", row["prompt"].as_str().unwrap()).into();
            out.push_str(&serde_json::to_string(&row).unwrap());
            out.push('\n');
        }
    }
    let production = dir.path().join("production.jsonl");
    std::fs::write(&production, out).unwrap();
    let production = production.to_str().unwrap();
    let page = page(TESTS, production, &[]);
    let (tests, nt) = drawn_claim(&page, "drawn-tests");
    let (prod, np) = drawn_claim(&page, "drawn-production");
    assert_eq!((nt, np), (120, 4290));
    assert!(page.contains("a seeded sample"));
    assert_eq!(page.matches("<rect class=\"pt test\"").count(), tests);
    assert_eq!(page.matches("class=\"pt ").count(), tests + prod);
    // 4,000 of 4,410 points: each stratum keeps its share (± rounding of each quota).
    let expected = |n: usize| n as f64 * 4000.0 / 4410.0;
    assert!((tests as f64 - expected(120)).abs() <= 1.0, "{tests}");
    let report = report(TESTS, production, &[]);
    let uncovered = report["num_uncovered_total"].as_u64().unwrap() as usize;
    let drawn_uncovered = page.matches("<path class=\"pt uncovered\"").count();
    let slack = 1.0 + report["gaps"].as_array().unwrap().len() as f64;
    assert!(
        (drawn_uncovered as f64 - expected(uncovered)).abs() <= slack,
        "{drawn_uncovered} of {uncovered}"
    );
    // Every gap is still outlined from all its prompts, and numbered.
    assert_eq!(
        page.matches("<g class=\"label\">").count(),
        report["num_gaps"].as_u64().unwrap() as usize
    );
}
