//! The JSON Schemas in docs/schemas/ describe the reports the binary really writes (issue 17):
//! each command's JSON report and each JSONL line are validated against them, and the schemas
//! are strict (`additionalProperties: false`), so a field added to a report without its schema
//! fails here.

use crate::common;

use common::schema::{validate, Schema, SCHEMAS};
use common::{faultmap, stderr};
use serde_json::Value;

/// Runs `faultmap` and validates its stdout: one JSON document, or one per line. Returns the
/// documents.
fn check(args: &[&str], schema: &str, lines: bool) -> Vec<Value> {
    let out = faultmap(args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        stderr(&out)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let what = format!("`faultmap {}`", args.join(" "));
    let compiled = Schema::load(schema);
    let documents: Vec<Value> = if lines {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap()]
    };
    assert!(!documents.is_empty(), "{what} wrote nothing");
    for document in &documents {
        compiled.check(document, &what);
    }
    if !lines {
        // The schema pins the version the binary writes.
        let file: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{SCHEMAS}/{}", schema.split('#').next().unwrap()))
                .unwrap(),
        )
        .unwrap();
        if let Some(version) = file.pointer("/properties/schema_version/const") {
            assert_eq!(&documents[0]["schema_version"], version, "{what}");
        }
    }
    documents
}

#[test]
fn every_schema_is_a_valid_draft_2020_12_schema_with_descriptions() {
    for entry in std::fs::read_dir(SCHEMAS).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.ends_with(".schema.json"), "{name}");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        // Compiling checks the schema against the draft's meta-schema.
        let mut schemas = boon::Schemas::new();
        boon::Compiler::new()
            .compile(path.to_str().unwrap(), &mut schemas)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        // Every property says what it is, and every object is closed.
        fn walk(node: &Value, at: &str, name: &str) {
            if let Some(properties) = node.get("properties").and_then(Value::as_object) {
                assert_eq!(
                    node.get("additionalProperties"),
                    Some(&Value::Bool(false)),
                    "{name}{at}: objects are closed"
                );
                for (key, property) in properties {
                    assert!(
                        property.get("description").is_some(),
                        "{name}{at}/properties/{key} has no description"
                    );
                }
            }
            match node {
                Value::Object(map) => {
                    for (key, child) in map {
                        walk(child, &format!("{at}/{key}"), name);
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        walk(child, &format!("{at}/{i}"), name);
                    }
                }
                _ => {}
            }
        }
        walk(&schema, "#", &name);
    }
}

#[test]
fn slices_reports_match_their_schema() {
    let json = "slices.schema.json";
    let line = "slices.schema.json#/$defs/slice";
    for (input, extra, schema, lines) in [
        ("support_tickets", &["--format", "json"][..], json, false),
        (
            "support_tickets",
            &["--format", "json", "--coords"],
            json,
            false,
        ),
        (
            "support_tickets",
            &["--format", "json", "--all", "--group-by", "metadata.topic"],
            json,
            false,
        ),
        (
            "support_tickets",
            &["--format", "jsonl", "--all"],
            line,
            true,
        ),
        (
            "support_tickets",
            &["--format", "json", "--all", "--clustering", "hdbscan"],
            json,
            false,
        ),
        (
            "support_tickets",
            &[
                "--format",
                "json",
                "--all",
                "--clustering",
                "kmeans",
                "--k",
                "6",
            ],
            json,
            false,
        ),
        (
            "support_tickets",
            &["--format", "json", "--all", "--clustering", "graph"],
            json,
            false,
        ),
        (
            "support_tickets",
            &[
                "--format",
                "json",
                "--all",
                "--no-scan",
                "--test",
                "textbook",
            ],
            json,
            false,
        ),
        (
            "support_tickets",
            &[
                "--format",
                "json",
                "--all",
                "--score-field",
                "score",
                "--failure-threshold",
                "0.7",
            ],
            json,
            false,
        ),
        (
            "support_tickets",
            &[
                "--format",
                "json",
                "--representatives",
                "0",
                "--examples",
                "0",
            ],
            json,
            false,
        ),
        ("planted_slices", &["--format", "json"], json, false),
        ("planted_null", &["--format", "json", "--all"], json, false),
        // Outcomes derived from reference answers.
        (
            "reference_answers",
            &["--format", "json", "--all"],
            json,
            false,
        ),
        (
            "reference_answers",
            &["--format", "jsonl", "--all", "--group-by", "metadata.topic"],
            line,
            true,
        ),
    ] {
        let input = format!("fixtures/{input}.jsonl");
        check(
            &[&["slices", input.as_str(), "-q"][..], extra].concat(),
            schema,
            lines,
        );
    }
}

#[test]
fn coverage_reports_match_their_schema() {
    let fixtures = [
        "--tests",
        "fixtures/coverage_tests.jsonl",
        "--production",
        "fixtures/coverage_production.jsonl",
    ];
    // Tests = production: everything covered.
    let covered = [
        "--tests",
        "fixtures/coverage_production.jsonl",
        "--production",
        "fixtures/coverage_production.jsonl",
    ];
    let json = "coverage.schema.json";
    let line = "coverage.schema.json#/$defs/production_row";
    for (files, extra, schema, lines) in [
        (fixtures, &["--format", "json"][..], json, false),
        (fixtures, &["--format", "jsonl"], line, true),
        (covered, &["--format", "json"], json, false),
        (covered, &["--format", "jsonl"], line, true),
        (
            fixtures,
            &["--format", "json", "--min-coverage", "0.99"],
            json,
            false,
        ),
        (
            fixtures,
            &["--format", "json", "--rule", "distance"],
            json,
            false,
        ),
        (
            fixtures,
            &["--format", "json", "--distance-threshold", "0.3"],
            json,
            false,
        ),
        (
            fixtures,
            &["--format", "json", "--clustering", "kmeans", "--k", "4"],
            json,
            false,
        ),
        (
            fixtures,
            &["--format", "json", "--weight-field", "count"],
            json,
            false,
        ),
        (
            fixtures,
            &["--format", "jsonl", "--weight-field", "count"],
            line,
            true,
        ),
    ] {
        check(
            &[&["coverage", "-q"][..], &files, extra].concat(),
            schema,
            lines,
        );
    }
}

#[test]
fn score_reports_match_their_schema() {
    let row_fields: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{SCHEMAS}/score.schema.json")).unwrap(),
    )
    .unwrap();
    let row_fields = row_fields["$defs"]["row"]["properties"]
        .as_object()
        .unwrap();
    for input in ["rag_answers", "reference_answers", "support_tickets"] {
        let path = format!("fixtures/{input}.jsonl");
        check(
            &["score", &path, "--format", "json", "-q"],
            "score.schema.json",
            false,
        );
        let rows = check(
            &["score", &path, "--format", "jsonl", "-q"],
            "score.schema.json#/$defs/row",
            true,
        );
        // A row echoes its input: every field is the schema's, the input's, or an input field
        // kept aside as `input_*`; so a field added to the scores cannot slip past the schema.
        let inputs: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for (scored, input) in rows.iter().zip(&inputs) {
            for key in scored.as_object().unwrap().keys() {
                assert!(
                    row_fields.contains_key(key)
                        || input.get(key).is_some()
                        || key.starts_with("input_"),
                    "{path}: `{key}` is neither in the row schema nor in the input"
                );
            }
        }
    }
    let rag = "fixtures/rag_answers.jsonl";
    for extra in [
        &["--max-reject-rate", "0.05"][..],
        &["--config", "fixtures/score_judge_gates.toml"],
        &["--dims", "2", "--seed", "7"],
    ] {
        check(
            &[&["score", rag, "--format", "json", "-q"][..], extra].concat(),
            "score.schema.json",
            false,
        );
    }
    check(
        &[
            "score",
            "fixtures/support_tickets.jsonl",
            "--calibrate",
            "--format",
            "json",
            "-q",
        ],
        "score.schema.json#/$defs/calibration",
        false,
    );
}

#[test]
fn regress_reports_and_baselines_match_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let record = |name: &str, run: &str, extra: &[&str]| -> String {
        let baseline = dir.path().join(name).to_str().unwrap().to_string();
        let args = [
            &["regress", "record", baseline.as_str(), run, "-q"][..],
            extra,
        ]
        .concat();
        let out = faultmap(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let stored: Value =
            serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
        validate("baseline.schema.json", &stored, &format!("{args:?}"));
        baseline
    };
    let full = record("full.json", "fixtures/regress_baseline.jsonl", &[]);
    let grouped = record(
        "grouped.json",
        "fixtures/regress_baseline.jsonl",
        &["--group-by", "metadata.topic", "--no-scan"],
    );
    let lean = record(
        "lean.json",
        "fixtures/regress_lean_baseline.jsonl",
        &["--prompts", "fixtures/regress_prompts.jsonl"],
    );
    let scored = record("scored.json", "fixtures/regress_scores_baseline.jsonl", &[]);
    // Tree slices carry their depth.
    let tree = record(
        "tree.json",
        "fixtures/regress_baseline.jsonl",
        &["--clustering", "tree", "--group-by", "metadata.topic"],
    );
    let json = "regress.schema.json";
    let line = "regress.schema.json#/$defs/case";
    for (baseline, candidate, extra) in [
        (&full, "regress_candidate_slice", &[][..]),
        (&full, "regress_candidate_drop", &[]),
        (&full, "regress_rerun", &[]),
        (&tree, "regress_candidate_slice", &[]),
        (
            &grouped,
            "regress_candidate_slice",
            &["--fail-on", "global,slice,case"],
        ),
        (&lean, "regress_lean_candidate", &[]),
        (&scored, "regress_scores_candidate", &[]),
        (
            &scored,
            "regress_scores_candidate",
            &["--metric", "pass-rate"],
        ),
    ] {
        let candidate = format!("fixtures/{candidate}.jsonl");
        for (format, schema, lines) in [("json", json, false), ("jsonl", line, true)] {
            let args = [
                "regress", "check", baseline, &candidate, "--format", format, "-q",
            ];
            check(&[&args[..], extra].concat(), schema, lines);
        }
    }
    // A candidate missing cases and bringing new ones.
    let mut partial: String = std::fs::read_to_string("fixtures/regress_candidate_drop.jsonl")
        .unwrap()
        .lines()
        .take(300)
        .map(|l| format!("{l}\n"))
        .collect();
    partial.push_str(r#"{"id": "new-1", "prompt": "A case the baseline lacks", "label": "pass"}"#);
    let partial_path = dir.path().join("partial.jsonl");
    std::fs::write(&partial_path, partial).unwrap();
    let partial_path = partial_path.to_str().unwrap();
    for (format, schema, lines) in [("json", json, false), ("jsonl", line, true)] {
        let args = [
            "regress",
            "check",
            &full,
            partial_path,
            "--fail-on",
            "missing",
            "--format",
            format,
            "-q",
        ];
        check(&args, schema, lines);
        let args = [
            "regress",
            "compare",
            "fixtures/regress_baseline.jsonl",
            partial_path,
            "--format",
            format,
            "-q",
        ];
        check(&args, schema, lines);
    }
    for (a, b, extra) in [
        (
            "regress_baseline",
            "regress_candidate_slice",
            &["--group-by", "metadata.topic"][..],
        ),
        (
            "regress_lean_baseline",
            "regress_lean_candidate",
            &["--prompts", "fixtures/regress_prompts.jsonl"],
        ),
        ("regress_scores_baseline", "regress_scores_candidate", &[]),
    ] {
        let (a, b) = (format!("fixtures/{a}.jsonl"), format!("fixtures/{b}.jsonl"));
        let args = ["regress", "compare", &a, &b, "--format", "json", "-q"];
        check(&[&args[..], extra].concat(), json, false);
    }
}
