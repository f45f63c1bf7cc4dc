//! `faultmap slices --format html` (issue 19): one self-contained page whose every text from
//! the data is escaped, with a map, a chart and a table that agree with the JSON report.

use crate::common;

use common::html::{drawn_claim, hostile_fixture, IMG, QUOTES, SCRIPT};
use common::{faultmap, json, stderr};
use serde_json::Value;
use std::path::Path;

fn run_ok(args: &[&str]) -> Vec<u8> {
    let out = faultmap(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    out.stdout
}

/// The page's own escaping of a text (as `escape::html`, for the characters in the fixtures).
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn assert_self_contained(page: &str) {
    for fetch in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "@import",
        "url(",
        "<link",
        "<iframe",
        "<img",
    ] {
        assert!(
            !page.contains(fetch),
            "the page must fetch nothing: {fetch}"
        );
    }
    assert!(!page.contains("http://") && !page.contains("https://"));
    // Only the page's own script block.
    assert_eq!(page.matches("<script").count(), 1);
    assert!(page.contains("@media print"));
}

#[test]
fn hostile_text_is_escaped_and_the_page_matches_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = hostile_fixture(dir.path());
    let input = input.to_str().unwrap();
    let html_path = dir.path().join("report.html");
    // `-o report.html` picks the format from the extension.
    run_ok(&["slices", input, "-q", "-o", html_path.to_str().unwrap()]);
    let page = std::fs::read_to_string(&html_path).unwrap();

    assert!(
        !page.contains("<script>document"),
        "raw script from a prompt"
    );
    assert!(!page.contains("<img src=x"), "raw markup from a prompt");
    assert!(!page.contains(QUOTES));
    assert!(page.contains(&escaped(SCRIPT)), "the prompt shows as text");
    assert!(page.contains(&escaped(IMG)));
    assert!(page.contains(&escaped(QUOTES)));
    assert_self_contained(&page);

    // Every row is drawn (375 < 4,000), and the page says so.
    let (drawn, total) = drawn_claim(&page);
    assert_eq!(drawn, page.matches("class=\"pt ").count());
    assert_eq!((drawn, total), (375, 375));
    assert!(page.matches("class=\"pt fail\"").count() > 0);

    let report = json(&faultmap(&["slices", input, "-q", "--format", "json"]));
    let slices = report["slices"].as_array().unwrap();
    assert!(!slices.is_empty(), "the fixture has slices");
    assert_eq!(page.matches("<tr class=\"slice\">").count(), slices.len());
    assert_eq!(
        page.matches("<g class=\"label\">").count(),
        slices.len().min(10)
    );
    assert_eq!(
        page.matches("<g class=\"bar\">").count(),
        slices.len().min(30)
    );
    for (k, s) in slices.iter().enumerate() {
        let name = escaped(s["name"].as_str().unwrap());
        let rank = k + 1;
        assert!(
            page.contains(&format!("<g class=\"label\"><title>{rank}. {name}</title>")),
            "map label of {name}"
        );
        assert!(
            page.contains(&format!("<g class=\"bar\"><title>{rank}. {name}: ")),
            "bar of {name}"
        );
        assert!(
            page.contains(&format!(
                "<td class=\"n\" data-v=\"{rank}\">{rank}</td><td><span class=\"swatch\""
            )),
            "table row {rank}"
        );
        assert!(page.contains(&format!("{name}</")), "table names {name}");
    }
}

#[test]
fn the_page_is_byte_identical_for_the_same_input_and_seed() {
    let args = [
        "slices",
        "fixtures/planted_slices.jsonl",
        "-q",
        "--format",
        "html",
        "--seed",
        "7",
    ];
    let first = run_ok(&args);
    assert_eq!(first, run_ok(&args));
    let page = String::from_utf8(first).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_self_contained(&page);
    let (drawn, total) = drawn_claim(&page);
    assert_eq!(drawn, page.matches("class=\"pt ").count());
    assert_eq!(total, 480);
}

#[test]
fn coords_are_in_the_json_only_with_the_flag() {
    let plain = json(&faultmap(&[
        "slices",
        "fixtures/support_tickets.jsonl",
        "-q",
        "--format",
        "json",
    ]));
    assert!(plain.get("coords").is_none());
    let with = json(&faultmap(&[
        "slices",
        "fixtures/support_tickets.jsonl",
        "-q",
        "--format",
        "json",
        "--coords",
    ]));
    let coords = with["coords"].as_array().unwrap();
    assert_eq!(coords.len(), 375);
    for c in coords {
        let xy = c.as_array().unwrap();
        assert_eq!(xy.len(), 2);
        for v in xy {
            let x = v.as_f64().unwrap();
            assert!(
                (x * 1e4 - (x * 1e4).round()).abs() < 1e-6,
                "4 decimals: {x}"
            );
        }
    }
    // Everything else is as without the flag.
    let mut rest = with.clone();
    rest.as_object_mut().unwrap().remove("coords");
    let parameters = rest["parameters"].as_object_mut().unwrap();
    assert_eq!(parameters.remove("map_layout"), Some(Value::from("umap")));
    assert_eq!(rest, plain);
}

#[test]
fn large_inputs_draw_a_sample_and_say_so() {
    // 5,000 rows: the support tickets repeated with a counter, so prompts stay distinct.
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/support_tickets.jsonl"),
    )
    .unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::new();
    for i in 0..5000 {
        let mut row: Value = serde_json::from_str(lines[i % lines.len()]).unwrap();
        row["id"] = format!("r{i}").into();
        row["prompt"] = format!("{} (case {i})", row["prompt"].as_str().unwrap()).into();
        out.push_str(&serde_json::to_string(&row).unwrap());
        out.push('\n');
    }
    let input = dir.path().join("big.jsonl");
    std::fs::write(&input, out).unwrap();
    let page = String::from_utf8(run_ok(&[
        "slices",
        input.to_str().unwrap(),
        "-q",
        "--embedder",
        "hash",
        "--format",
        "html",
    ]))
    .unwrap();
    let (drawn, total) = drawn_claim(&page);
    assert_eq!(total, 5000);
    assert_eq!(drawn, page.matches("class=\"pt ").count());
    assert!((3900..=4030).contains(&drawn), "{drawn}");
    assert!(page.contains("a seeded sample"));
}

#[test]
fn all_candidates_show_the_tree_of_significant_nodes() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/support_tickets.jsonl");
    let (html, report) = page_and_report(&input, &["--all"]);
    let slices = report["slices"].as_array().unwrap();
    let tree = &html[html.find("<section id=\"tree\">").expect("a tree section")..];
    let tree = &tree[..tree.find("</section>").unwrap()];
    // Every reported slice is starred with its rank; every significant node is drawn, bold.
    for (k, s) in slices.iter().enumerate() {
        if s["selected"] == Value::Bool(true) {
            assert!(
                tree.contains(&format!("&#9733; {}. ", k + 1)),
                "slice {}",
                k + 1
            );
        }
    }
    let significant = slices
        .iter()
        .filter(|s| s["significant"] == Value::Bool(true) && s["node"].is_u64())
        .count();
    assert_eq!(tree.matches("<b>").count(), significant, "{tree}");
    assert!(
        significant > 4,
        "more than the reported slices: {significant}"
    );
    // Nested: some list inside a list.
    assert!(tree.contains("<ul>\n<li>"));
    // Without --all the reported slices are not nested in each other: no tree.
    let (plain, _) = page_and_report(&input, &[]);
    assert!(!plain.contains("id=\"tree\""));
}

#[test]
fn the_table_lists_each_slices_failing_examples() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/support_tickets.jsonl");
    let (html, report) = page_and_report(&input, &[]);
    let rows: Vec<&str> = html.split("<tr class=\"slice\">").skip(1).collect();
    let slices = report["slices"].as_array().unwrap();
    assert_eq!(rows.len(), slices.len());
    for (row, s) in rows.iter().zip(slices) {
        let examples = s["examples"].as_array().unwrap();
        assert!(!examples.is_empty());
        let listed = row
            .split("<ul class=\"examples\">")
            .nth(1)
            .expect("examples");
        assert_eq!(listed.matches("<li>").count(), examples.len(), "{row}");
        let response = examples[0]["response"]
            .as_str()
            .unwrap()
            .replace('\'', "&#39;");
        assert!(listed.contains(&response), "{response}");
    }
}

/// The slices page of `input` (with `extra` arguments) and the JSON report of the same run.
fn page_and_report(input: &Path, extra: &[&str]) -> (String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    let input = input.to_str().unwrap();
    let mut args = vec!["slices", input, "-q", "-o", page.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = faultmap(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    let mut args = vec!["slices", input, "-q", "--format", "json"];
    args.extend_from_slice(extra);
    (html, json(&faultmap(&args)))
}
