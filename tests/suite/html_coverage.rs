//! `faultmap coverage --format html` (issue 19): one self-contained page with tests and
//! production on one map, the gaps outlined and numbered on it, charted by traffic share and
//! listed in a sortable table, every text from the data escaped; `--coords` for the JSON.

use crate::common;

use common::schema::validate;
use common::{faultmap, stderr};
// The page escapes with it; the raw hostile strings are checked absent, so a broken escape
// still fails these tests.
use faultmap::export::escape::html as escaped;
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
    let args = [&["--format", "json"][..], extra].concat();
    serde_json::from_slice(&coverage(tests, production, &args)).unwrap()
}

/// The two numbers of "<strong id="{id}">N</strong> of M": drawn and in all.
fn drawn_claim(page: &str, id: &str) -> (usize, usize) {
    let tag = format!("<strong id=\"{id}\">");
    let at = page.find(&tag).expect("drawn count") + tag.len();
    let mut numbers = page[at..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap())
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

/// `fixture` (JSONL) written to `dir` `copies` times over, each row passed through `edit` with
/// its copy and line numbers.
fn rewritten(
    dir: &Path,
    fixture: &str,
    copies: usize,
    edit: impl Fn(usize, usize, &mut Value),
) -> PathBuf {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture)).unwrap();
    let rows: String = (0..copies)
        .flat_map(|copy| source.lines().enumerate().map(move |(i, l)| (copy, i, l)))
        .map(|(copy, i, line)| {
            let mut row: Value = serde_json::from_str(line).unwrap();
            edit(copy, i, &mut row);
            serde_json::to_string(&row).unwrap() + "\n"
        })
        .collect();
    let path = dir.join(Path::new(fixture).file_name().unwrap());
    std::fs::write(&path, rows).unwrap();
    path
}

/// A copy of `fixture` in `dir` whose first two prompts carry hostile markup.
fn hostile(dir: &Path, fixture: &str) -> PathBuf {
    rewritten(dir, fixture, 1, |_, i, row| {
        let prompt = row["prompt"].as_str().unwrap().to_string();
        match i {
            0 => row["prompt"] = format!("{SCRIPT} {prompt}").into(),
            1 => row["prompt"] = format!("{IMG} \"'& {prompt}").into(),
            _ => {}
        }
    })
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
    assert_eq!((tests, production), (122, 390));
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
        let size = gap["size"].as_u64().unwrap();
        let share = gap["traffic_share"].as_f64().unwrap();
        let expected = [
            ("outline", format!("<title>gap {rank}: {name}</title>")),
            ("label", format!("<title>{rank}. {name}</title>")),
            ("bar", format!("<title>{rank}. {name}: {size} prompts, ")),
            (
                "row",
                format!("<tr class=\"gap\"><td class=\"n\" data-v=\"{rank}\">{rank}</td>"),
            ),
            ("size", format!("data-v=\"{size}\">{size}</td>")),
            // serde_json's default float parsing can be a bit off in the last place, so
            // the share is compared on its leading digits.
            ("share", {
                let text = share.to_string();
                format!("data-v=\"{}", &text[..text.len().min(12)])
            }),
        ];
        for (what, text) in expected {
            assert!(page.contains(&text), "{what} of gap {rank}: {text}");
        }
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
    let mut with = report(TESTS, PRODUCTION, &["--coords"]);
    validate("coverage.schema.json", &with, "coverage --coords");
    let coords = with.as_object_mut().unwrap().remove("coords").unwrap();
    let parameters = with["parameters"].as_object_mut().unwrap();
    assert_eq!(parameters.remove("map_layout"), Some(Value::from("umap")));
    assert_eq!(with, plain, "everything else is as without the flag");
    // An [x, y] rounded to 4 decimals.
    let is_point = |xy: &Value| {
        xy.as_array().is_some_and(|a| {
            a.len() == 2
                && a.iter().all(|v| {
                    v.as_f64()
                        .is_some_and(|x| (x * 1e4 - (x * 1e4).round()).abs() < 1e-6)
                })
        })
    };
    for (file, rows) in [("tests", 122), ("production", 390)] {
        let points = coords[file].as_array().unwrap();
        assert_eq!(points.len(), rows, "{file}");
        assert!(points.iter().all(is_point), "{file}");
    }
    // One map for both: the tests are not all stacked on the production prompts' places.
    assert_ne!(coords["tests"][0], coords["production"][0]);
}

#[test]
fn large_inputs_draw_a_sample_that_keeps_each_share() {
    // 4,290 production prompts: the demo's repeated with a counter, so prompts stay distinct.
    let dir = tempfile::tempdir().unwrap();
    let production = rewritten(dir.path(), PRODUCTION, 11, |copy, _, row| {
        row["prompt"] = format!("{} (case {copy})", row["prompt"].as_str().unwrap()).into();
    });
    let production = production.to_str().unwrap();
    let page = page(TESTS, production, &[]);
    let (tests, nt) = drawn_claim(&page, "drawn-tests");
    let (prod, np) = drawn_claim(&page, "drawn-production");
    assert_eq!((nt, np), (122, 4290));
    assert!(page.contains("a seeded sample"));
    assert_eq!(page.matches("<rect class=\"pt test\"").count(), tests);
    assert_eq!(page.matches("class=\"pt ").count(), tests + prod);
    // 4,000 of 4,412 points: each stratum keeps its share (± rounding of each quota).
    let expected = |n: usize| n as f64 * 4000.0 / 4412.0;
    assert!((tests as f64 - expected(122)).abs() <= 1.0, "{tests}");
    let report = report(TESTS, production, &[]);
    let uncovered = report["num_uncovered_total"].as_u64().unwrap() as usize;
    let drawn_uncovered = page.matches("<path class=\"pt uncovered\"").count();
    let slack = 1.0 + report["gaps"].as_array().unwrap().len() as f64;
    assert!(
        (drawn_uncovered as f64 - expected(uncovered)).abs() <= slack,
        "{drawn_uncovered} of {uncovered}"
    );
    // The 10 gaps with most traffic are outlined and numbered, and the page says so.
    let gaps = report["num_gaps"].as_u64().unwrap() as usize;
    assert!(gaps > 10, "{gaps}");
    assert_eq!(page.matches("<g class=\"label\">").count(), 10);
    assert_eq!(page.matches("class=\"gap\" points=").count(), 10);
    assert!(page.contains(&format!("The first 10 of {gaps} gaps")));
}
