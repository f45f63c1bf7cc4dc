//! `slices` with the candidate tree (the default `--clustering tree`): a planted failing topic
//! is recovered exactly, a null file reports nothing, the JSON is deterministic, the reported
//! tree is consistent, and degenerate inputs give no slice. Fixtures: `fixtures/make_planted.py`.

use crate::common;

use common::{faultmap, faultmap_env, json, stderr};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PLANTED: &str = "fixtures/planted_slices.jsonl";
const NULL: &str = "fixtures/planted_null.jsonl";
const DEMO: &str = "fixtures/support_tickets.jsonl";
/// The topic that fails at 42 of 60 in `PLANTED` (6 of 60 elsewhere).
const PLANTED_TOPIC: &str = "api_limits";

/// Runs `faultmap args`, asserts exit code 0 and returns the JSON report.
fn report(args: &[&str]) -> Value {
    let out = faultmap(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    json(&out)
}

/// A JSON array of node numbers.
fn numbers(array: &Value) -> Vec<u64> {
    array
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

fn rows(slice: &Value) -> BTreeSet<usize> {
    slice["sample_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// The rows of `PLANTED` whose `metadata.topic` is the planted topic.
fn planted_rows() -> BTreeSet<usize> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(PLANTED))
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["metadata"]["topic"] == PLANTED_TOPIC
        })
        .map(|(i, _)| i)
        .collect()
}

fn temp_jsonl(lines: impl Iterator<Item = String>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.jsonl");
    std::fs::write(&path, lines.collect::<Vec<_>>().join("\n")).unwrap();
    (dir, path)
}

#[test]
fn the_planted_topic_is_found_exactly() {
    let report = report(&["slices", PLANTED, "--format", "json"]);
    let planted = planted_rows();
    assert_eq!(planted.len(), 60);
    assert_eq!(report["total_prompts"], 480);
    assert_eq!(report["total_failures"], 42 + 7 * 6);
    let slices = report["slices"].as_array().unwrap();
    assert_eq!(slices.len(), 1, "expected one slice: {slices:#?}");
    let slice = &slices[0];
    // Jaccard 1.0: the slice is the planted topic, every row of it and nothing else.
    assert_eq!(rows(slice), planted);
    assert_eq!(
        (slice["size"].as_u64(), slice["failures"].as_u64()),
        (Some(60), Some(42))
    );
    assert_eq!(slice["selected"], true);
    assert_eq!(slice["significant"], true);
    assert!(slice["node"].is_u64(), "a tree node: {slice:#?}");
    assert!(slice["log_likelihood_ratio"].as_f64().unwrap() > 0.0);

    // The gate trips on the planted file.
    let out = faultmap(&["slices", PLANTED, "--fail-on-slice"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn the_null_file_reports_no_slice() {
    let report = report(&["slices", NULL, "--format", "json"]);
    assert_eq!(report["total_failures"], 8 * 10);
    assert_eq!(report["num_significant"], 0);
    assert_eq!(report["slices"].as_array().unwrap().len(), 0);
    assert!(
        report["num_candidates"].as_u64().unwrap() > 0,
        "a tree was built"
    );
    let out = faultmap(&["slices", NULL, "--fail-on-slice"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn json_does_not_depend_on_threads_or_runs() {
    for (file, clustering) in [(PLANTED, "tree"), (DEMO, "tree"), (DEMO, "graph")] {
        let args = [
            "slices",
            file,
            "--format",
            "json",
            "--all",
            "--clustering",
            clustering,
        ];
        let run = |threads: &str| {
            let out = faultmap_env(&args, &[("RAYON_NUM_THREADS", threads)]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            out.stdout
        };
        let one = run("1");
        assert!(!one.is_empty());
        assert!(one == run("2"), "{file}: 1 and 2 threads differ");
        assert!(
            run("2") == run("2"),
            "{file}: two runs with 2 threads differ"
        );
        let seeded = ["slices", file, "--format", "json", "--seed", "7"];
        assert!(
            faultmap(&seeded).stdout == faultmap(&seeded).stdout,
            "{file}: --seed 7"
        );
    }
}

#[test]
fn the_failure_scan_finds_the_planted_topic_and_can_be_turned_off() {
    let planted = planted_rows();
    let all = report(&["slices", PLANTED, "--format", "json", "--all"]);
    let regions: Vec<&Value> = all["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["source"] == "scan")
        .collect();
    assert!(!regions.is_empty(), "no scan region");
    for r in &regions {
        assert_eq!(r["test_used"], "permutation_scan");
        assert_eq!(r["p_value"], r["adjusted_p_value"]);
    }
    // The best significant region is (nearly) the planted topic, found from the outcomes alone.
    let jaccard = |r: &Value| {
        let rows = rows(r);
        rows.intersection(&planted).count() as f64 / rows.union(&planted).count() as f64
    };
    let best = regions
        .iter()
        .filter(|r| r["significant"] == true)
        .map(|r| jaccard(r))
        .fold(0.0, f64::max);
    assert!(best >= 0.8, "best significant region's Jaccard {best}");
    // Significance splits alpha: 0.9 to Benjamini-Hochberg, 0.1 to the scan.
    for s in all["slices"].as_array().unwrap() {
        let limit = if s["source"] == "scan" { 0.005 } else { 0.045 };
        let p = s["adjusted_p_value"].as_f64().unwrap();
        assert_eq!(s["significant"] == true, p <= limit, "{s:#?}");
    }

    let off = report(&["slices", PLANTED, "--format", "json", "--all", "--no-scan"]);
    let slices = off["slices"].as_array().unwrap();
    assert!(slices.iter().all(|s| s["source"] != "scan"));
    assert!(off["num_candidates"].as_u64() < all["num_candidates"].as_u64());
    for s in slices {
        let p = s["adjusted_p_value"].as_f64().unwrap();
        assert_eq!(s["significant"] == true, p <= 0.05, "{s:#?}");
    }
}

/// Checks the tree of an `--all` report: parents exist, children are exactly the nodes naming
/// their parent, a child's rows are a strict subset of its parent's (at most 0.8 of them for
/// tree nodes, whose thinning says so), parents are of the child's own source (tree node or
/// scan region), levels count from 0, selected nodes are significant, disjoint and none is
/// another's ancestor; a group is a selected top node without children whose rows are the
/// union of its parts, two or more selected nodes (and it alone may overlap them). Returns the
/// selected nodes.
fn check_tree(report: &Value) -> BTreeSet<u64> {
    let total = report["total_prompts"].as_u64().unwrap() as f64;
    let min_size = report["parameters"]["min_slice_size"].as_u64().unwrap() as usize;
    let nodes: BTreeMap<u64, &Value> = report["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| Some((s["node"].as_u64()?, s)))
        .collect();
    assert_eq!(
        nodes.len(),
        report["num_candidates"].as_u64().unwrap() as usize
    );
    let parent_of = |s: &Value| s["parent"].as_u64();
    for (&id, node) in &nodes {
        let size = rows(node).len();
        assert_eq!(size, node["size"].as_u64().unwrap() as usize);
        assert!(size >= min_size, "node {id} has {size} rows");
        let named: BTreeSet<u64> = nodes
            .iter()
            .filter(|(_, c)| parent_of(c) == Some(id))
            .map(|(&c, _)| c)
            .collect();
        let children: BTreeSet<u64> = numbers(&node["children"]).into_iter().collect();
        assert_eq!(children, named, "children of node {id}");
        if node["source"] == "group" {
            assert!(
                children.is_empty() && parent_of(node).is_none(),
                "group {id}"
            );
            assert_eq!(node["selected"], true, "group {id}");
            let parts = numbers(&node["parts"]);
            assert!(parts.len() >= 2, "group {id}");
            let mut joined = BTreeSet::new();
            for p in &parts {
                assert_eq!(nodes[p]["selected"], true, "part {p} of group {id}");
                joined.extend(rows(nodes[p]));
            }
            assert_eq!(joined, rows(node), "rows of group {id}");
        } else {
            assert!(node.get("parts").is_none(), "node {id}");
        }
        match parent_of(node) {
            None => {
                assert_eq!(node["level"], 0, "top node {id}");
                if node["source"] == "cluster" {
                    assert!(size as f64 <= 0.8 * total);
                }
            }
            Some(p) => {
                let parent = nodes
                    .get(&p)
                    .unwrap_or_else(|| panic!("node {id}: no parent {p}"));
                assert_eq!(
                    node["level"].as_u64(),
                    parent["level"].as_u64().map(|l| l + 1)
                );
                assert!(
                    rows(node).is_subset(&rows(parent)),
                    "node {id} is not inside {p}"
                );
                assert_eq!(node["source"], parent["source"], "node {id} and parent {p}");
                let parent_size = parent["size"].as_f64().unwrap();
                assert!((size as f64) < parent_size);
                if node["source"] == "cluster" {
                    assert!(size as f64 <= 0.8 * parent_size);
                }
            }
        }
    }
    let selected: BTreeSet<u64> = nodes
        .iter()
        .filter(|(_, s)| s["selected"] == true)
        .map(|(&id, _)| id)
        .collect();
    let mut seen = BTreeSet::new();
    for &id in selected.iter().filter(|id| nodes[id]["source"] != "group") {
        assert_eq!(nodes[&id]["significant"], true, "selected node {id}");
        let mut up = parent_of(nodes[&id]);
        while let Some(a) = up {
            assert!(
                !selected.contains(&a),
                "selected node {a} is an ancestor of {id}"
            );
            up = parent_of(nodes[&a]);
        }
        let r = rows(nodes[&id]);
        assert!(seen.is_disjoint(&r), "selected node {id} overlaps another");
        seen.extend(r);
    }
    selected
}

#[test]
fn the_reported_tree_is_consistent() {
    for (file, extra) in [
        (PLANTED, &[][..]),
        (PLANTED, &["--max-fit-rows", "100"][..]), // Ward on a sample, the rest assigned
        (DEMO, &[][..]),
        (PLANTED, &["--clustering", "graph"][..]),
        (
            DEMO,
            &["--clustering", "graph", "--max-fit-rows", "200"][..],
        ),
    ] {
        let mut args = vec!["slices", file, "--format", "json"];
        args.extend(extra);
        let default = report(&args);
        args.push("--all");
        let all = report(&args);
        let selected = check_tree(&all);
        // Without --all, exactly the selected nodes are reported.
        let reported: BTreeSet<u64> = default["slices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node"].as_u64().unwrap())
            .collect();
        assert_eq!(reported, selected, "{file} {extra:?}");
        assert!(!selected.is_empty(), "{file} {extra:?}: nothing selected");
    }
}

#[test]
fn hdbscan_still_works() {
    let report = report(&[
        "slices",
        PLANTED,
        "--format",
        "json",
        "--clustering",
        "hdbscan",
    ]);
    assert_eq!(report["parameters"]["clustering"]["method"], "hdbscan");
    let planted = planted_rows();
    let slices = report["slices"].as_array().unwrap();
    assert!(!slices.is_empty());
    for slice in slices {
        for field in ["node", "parent", "children", "level"] {
            assert!(slice.get(field).is_none(), "{field} in a flat cluster");
        }
        let r = rows(slice);
        assert!(
            2 * r.intersection(&planted).count() > r.len(),
            "{}",
            slice["name"]
        );
    }
}

#[test]
fn degenerate_inputs_give_no_slice() {
    let row = |prompt: &str, fail: bool| {
        let label = if fail { "fail" } else { "pass" };
        format!(r#"{{"prompt": "{prompt}", "label": "{label}"}}"#)
    };
    // Fewer rows than --min-slice-size, and 30 identical prompts: an empty tree.
    let five = temp_jsonl((0..5).map(|i| row(&format!("refund question {i}"), i < 3)));
    let same = temp_jsonl((0..30).map(|i| row("How do I reset my password?", i % 3 == 0)));
    for (_dir, path) in [&five, &same] {
        let path = path.to_str().unwrap();
        let all = report(&["slices", path, "--format", "json", "--all"]);
        assert_eq!(all["num_candidates"], 0, "{path}");
        assert_eq!(all["slices"].as_array().unwrap().len(), 0, "{path}");
        let out = faultmap(&["slices", path, "--fail-on-slice"]);
        assert_eq!(out.status.code(), Some(0), "{path}: {}", stderr(&out));
    }
    // With --min-slice-size 2 the five rows make a small tree, still consistent.
    check_tree(&report(&[
        "slices",
        five.1.to_str().unwrap(),
        "--format",
        "json",
        "--all",
        "--min-slice-size",
        "2",
    ]));

    // Two distinct prompts, ten copies each, one always failing: that prompt's rows exactly
    // (the PCA finds one component here; its projection used to scramble the rows).
    let two = temp_jsonl(
        (0..20).map(|i| row(["refund my order", "reset my password"][i % 2], i % 2 == 1)),
    );
    let report = report(&["slices", two.1.to_str().unwrap(), "--format", "json"]);
    let slices = report["slices"].as_array().unwrap();
    assert_eq!(slices.len(), 1, "{slices:#?}");
    assert_eq!(rows(&slices[0]), (1..20).step_by(2).collect());
}
