//! What a new user hits in the first hour (issue 17): a field named by a flag that no row has
//! stops the run with a suggestion, gates say which gate tripped, and so on.

mod common;

use common::{faultmap, stderr};

const RAG: &str = "fixtures/rag_answers.jsonl";
const TICKETS: &str = "fixtures/support_tickets.jsonl";
const LEAN_BASELINE: &str = "fixtures/regress_lean_baseline.jsonl";
const PROMPTS: &str = "fixtures/regress_prompts.jsonl";

fn temp_file(name: &str, content: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path.to_str().unwrap().to_string())
}

#[test]
fn a_misspelled_field_stops_the_run_and_names_the_field_meant() {
    let out = faultmap(&["score", RAG, "--context-field", "ctx", "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for part in [
        "`--context-field ctx`",
        "no row of fixtures/rag_answers.jsonl",
        "`context`",
        "did you mean `--context-field context`?",
        "--allow-missing-fields",
    ] {
        assert!(err.contains(part), "{part:?} missing from {err}");
    }
    // The same for a nested group-by path.
    let out = faultmap(&["slices", TICKETS, "--group-by", "metadata.topc", "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did you mean `--group-by metadata.topic`?"),
        "{}",
        stderr(&out)
    );
    // And for a file read beside another: coverage reads tests and production.
    let out = faultmap(&[
        "coverage",
        "--tests",
        "fixtures/coverage_tests.jsonl",
        "--production",
        "fixtures/coverage_production.jsonl",
        "--id-field",
        "ident",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`--id-field ident`"));
}

#[test]
fn allow_missing_fields_reads_on_with_a_warning() {
    let out = faultmap(&[
        "score",
        RAG,
        "--context-field",
        "ctx",
        "--allow-missing-fields",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: `--context-field ctx`: no row"));
    // Every row lost its context.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows_without_context"], report["total_rows"]);
}

#[test]
fn a_field_in_either_file_of_a_regress_run_is_found() {
    // The lean run has ids and labels only; the topic is in the prompts file.
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.json");
    let out = faultmap(&[
        "regress",
        "record",
        baseline.to_str().unwrap(),
        LEAN_BASELINE,
        "--prompts",
        PROMPTS,
        "--group-by",
        "metadata.topic",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = faultmap(&[
        "regress",
        "record",
        dir.path().join("c.json").to_str().unwrap(),
        LEAN_BASELINE,
        "--prompts",
        PROMPTS,
        "--group-by",
        "metadata.topik",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(
        "no row of fixtures/regress_lean_baseline.jsonl or fixtures/regress_prompts.jsonl"
    ));
}

#[test]
fn a_row_without_the_prompt_field_lists_its_fields_and_the_likely_one() {
    let (_dir, path) = temp_file(
        "q.jsonl",
        "{\"id\": 1, \"question\": \"How do I reset it?\", \"label\": \"pass\"}\n",
    );
    let out = faultmap(&["slices", &path, "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("rows have fields `id`, `question`, `label`"),
        "{err}"
    );
    assert!(
        err.contains("did you mean `--prompt-field question`?"),
        "{err}"
    );
    let (_dir, path) = temp_file("q.csv", "id,question,label\n1,How do I reset it?,pass\n");
    let out = faultmap(&["slices", &path, "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("did you mean `--prompt-field question`?"));
}

#[test]
fn field_names_from_the_file_are_escaped_in_messages() {
    let (_dir, path) = temp_file(
        "esc.jsonl",
        "{\"prompt\": \"a\", \"label\": \"pass\", \"ev\\u001b]0;owned\\u0007il\": 1}\n",
    );
    let out = faultmap(&["slices", &path, "--group-by", "evil", "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(err.contains("\\u{1b}"), "{err}");
}
