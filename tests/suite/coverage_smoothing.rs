//! The distance rule's smoothing and its calibration, checked against a brute-force computation
//! written independently here: on precomputed embeddings (so the vectors are known), every
//! production prompt's `smoothed_distance` and the calibrated `distance_threshold` must be what
//! the definitions in `src/analysis/coverage/rules.rs` give.

use crate::common;

use common::{faultmap, json, stderr};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::io::Write;

const DIMS: usize = 8;
/// Prompts averaged over (the default `--smooth-over`).
const SMOOTHING: usize = 10;
/// The distance rule's share of the default alpha (both rules run).
const RULE_ALPHA: f64 = 0.025;

fn unit(v: Vec<f64>) -> Vec<f64> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>()
}

/// The ⌈(n + 1)(1 − α)⌉-th smallest value, the largest when that rank passes n.
fn conformal(values: &[f64], alpha: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() + 1) as f64 * (1.0 - alpha)).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn write_rows(path: &std::path::Path, rows: &[(String, Vec<f64>)]) {
    let mut f = std::fs::File::create(path).unwrap();
    for (prompt, v) in rows {
        let line = json!({"prompt": prompt, "embedding": v});
        writeln!(f, "{line}").unwrap();
    }
}

/// Each row of `from`'s `k` nearest rows of `to` (indices), skipping `skip(i, j)`.
fn k_nearest(from: &[f64], to: &[Vec<f64>], k: usize, skip: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..to.len()).filter(|&j| !skip(j)).collect();
    order.sort_by(|&a, &b| distance(from, &to[a]).total_cmp(&distance(from, &to[b])));
    order.truncate(k);
    order
}

#[test]
fn smoothed_distances_and_threshold_match_a_brute_force_computation() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let centres: Vec<Vec<f64>> = (0..12)
        .map(|_| unit((0..DIMS).map(|_| rng.gen_range(-1.0..1.0)).collect()))
        .collect();
    let mut near = |c: usize, spread: f64| -> Vec<f64> {
        unit(
            centres[c]
                .iter()
                .map(|x| x + rng.gen_range(-spread..spread))
                .collect(),
        )
    };
    // Tests cover 9 of the 12 topics; one test is written twice.
    let mut tests: Vec<Vec<f64>> = (0..60).map(|i| near(i % 9, 0.5)).collect();
    tests.push(tests[7].clone());
    // Production asks about all 12; some prompts are asked twice (same text, same vector).
    let mut production: Vec<(String, Vec<f64>)> = (0..150)
        .map(|i| (format!("prompt {i}"), near(i % 12, 0.5)))
        .collect();
    for i in [3, 40, 41] {
        production.push(production[i].clone());
    }

    let dir = tempfile::tempdir().unwrap();
    let (tests_path, production_path) = (dir.path().join("t.jsonl"), dir.path().join("p.jsonl"));
    let test_rows: Vec<(String, Vec<f64>)> = tests
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("test {i}"), v.clone()))
        .collect();
    write_rows(&tests_path, &test_rows);
    write_rows(&production_path, &production);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "coverage",
            "--tests",
            tests_path.to_str().unwrap(),
            "--production",
            production_path.to_str().unwrap(),
            "-q",
        ];
        args.extend(extra);
        let out = faultmap(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        out
    };
    let prompt_rows = |extra: &[&str]| -> Vec<Value> {
        String::from_utf8(run(&[&["--format", "jsonl"], extra].concat()).stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let report = json(&run(&["--format", "json"]));
    let rows = prompt_rows(&[]);

    // The tests' spacing (no copy counts), its median and the plain threshold: the floor.
    let copy = |a: &[f64], b: &[f64]| a == b;
    let spacing: Vec<f64> = (0..tests.len())
        .map(|t| {
            (0..tests.len())
                .filter(|&u| u != t && !copy(&tests[t], &tests[u]))
                .map(|u| distance(&tests[t], &tests[u]))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut sorted = spacing.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[(sorted.len() - 1) / 2];
    let plain = conformal(&spacing, RULE_ALPHA);
    let reported_plain = report["nearest_distance_threshold"].as_f64().unwrap();
    assert!(
        (reported_plain - plain).abs() < 1e-5,
        "{reported_plain} against {plain}"
    );
    let floor = median.min(plain);

    // Distinct production prompts, each one's nearest test and its nearest test once that one
    // (and its copies) is gone.
    let distinct: Vec<Vec<f64>> = production[..150].iter().map(|(_, v)| v.clone()).collect();
    let nearest_test = |v: &[f64], without: Option<&[f64]>| -> f64 {
        tests
            .iter()
            .filter(|t| without.is_none_or(|w| !copy(t, w)))
            .map(|t| distance(v, t))
            .fold(f64::INFINITY, f64::min)
    };
    let d1: Vec<f64> = distinct.iter().map(|v| nearest_test(v, None)).collect();

    // Each test scored as a prompt with itself left out.
    let scores: Vec<f64> = (0..tests.len())
        .map(|t| {
            if spacing[t] <= floor {
                return spacing[t];
            }
            let neighbours = k_nearest(&tests[t], &distinct, SMOOTHING - 1, |_| false);
            let sum: f64 = neighbours
                .iter()
                .map(|&q| nearest_test(&distinct[q], Some(&tests[t])))
                .sum();
            (spacing[t] + sum) / (1 + neighbours.len()) as f64
        })
        .collect();
    let threshold = conformal(&scores, RULE_ALPHA);
    let reported = report["distance_threshold"].as_f64().unwrap();
    assert!(
        (reported - threshold).abs() < 1e-5,
        "threshold {reported}, brute force {threshold}"
    );
    assert_eq!(
        report["parameters"]["threshold"]["smoothed_over"],
        SMOOTHING as u64
    );

    // Each production prompt's score: beyond the floor, averaged with its nearest other
    // distinct prompts'.
    let mut flagged = 0;
    for (i, row) in rows.iter().enumerate() {
        let d = if i < 150 { i } else { [3, 40, 41][i - 150] };
        let want = if d1[d] <= floor {
            d1[d]
        } else {
            let neighbours = k_nearest(&distinct[d], &distinct, SMOOTHING - 1, |q| q == d);
            (d1[d] + neighbours.iter().map(|&q| d1[q]).sum::<f64>()) / (1 + neighbours.len()) as f64
        };
        let got = row["smoothed_distance"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-5, "row {i}: {got} against {want}");
        assert!((row["distance"].as_f64().unwrap() - d1[d]).abs() < 1e-5);
        if want > threshold + 1e-5 {
            assert_eq!(row["reason"], "distance", "row {i}");
            flagged += 1;
        }
    }
    // The untested topics are there to be flagged.
    assert!(flagged > 10, "{flagged} prompts beyond the threshold");

    // Without smoothing the score is the plain distance, and so is the threshold.
    for row in prompt_rows(&["--smooth-over", "1"]) {
        assert_eq!(row["smoothed_distance"], row["distance"]);
    }
    let plain_report = json(&run(&["--format", "json", "--smooth-over", "1"]));
    assert_eq!(
        plain_report["distance_threshold"],
        plain_report["nearest_distance_threshold"]
    );
    assert_eq!(
        plain_report["nearest_distance_threshold"],
        report["nearest_distance_threshold"]
    );
}
