//! The shared input reader: formats, field typing, bad-row errors, skipping, cross-row checks.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

use faultmap::input::{
    read_dataset, read_from_reader, summarize_skipped, Dataset, InputFormat, ReadOptions,
    Requirements, SkippedRow,
};
use faultmap::Error;
use serde_json::{json, Value};
use std::io::Write;
use tempfile::TempDir;

/// Writes `content` to a temp file named `input.<ext>`; keep the dir alive while reading.
fn temp_file(ext: &str, content: &[u8]) -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("input.{ext}"));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(content)
        .unwrap();
    (dir, path.to_str().unwrap().to_string())
}

fn read(ext: &str, content: &str, options: &ReadOptions) -> faultmap::Result<Dataset> {
    read_bytes(ext, content.as_bytes(), options)
}

fn read_bytes(ext: &str, content: &[u8], options: &ReadOptions) -> faultmap::Result<Dataset> {
    let (_dir, path) = temp_file(ext, content);
    read_dataset(&path, options)
}

fn ok(ext: &str, content: &str, options: &ReadOptions) -> Dataset {
    read(ext, content, options).unwrap_or_else(|e| panic!("expected success, got: {e}"))
}

fn outcome() -> ReadOptions {
    ReadOptions {
        requirements: Requirements {
            outcome: true,
            response: false,
            ..Requirements::default()
        },
        ..ReadOptions::default()
    }
}

fn skipping() -> ReadOptions {
    ReadOptions {
        skip_invalid: true,
        ..ReadOptions::default()
    }
}

/// Unwraps an `Error::Input`, checking line and field; returns the message.
#[track_caller]
fn input_error(
    result: faultmap::Result<Dataset>,
    want_line: Option<usize>,
    want_field: Option<&str>,
) -> String {
    match result {
        Err(Error::Input {
            file,
            line,
            field,
            message,
        }) => {
            assert!(!file.is_empty(), "file should be named");
            assert_eq!(line, want_line, "line; message: {message}");
            assert_eq!(field.as_deref(), want_field, "field; message: {message}");
            message
        }
        Err(other) => panic!("expected Error::Input, got {other:?}"),
        Ok(ds) => panic!("expected Error::Input, got {} records", ds.records.len()),
    }
}

#[track_caller]
fn contains_all(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "message {message:?} should contain {part:?}"
        );
    }
}

// ---------------------------------------------------------------- JSONL basics

#[test]
fn jsonl_types_every_field() {
    let ds = ok(
        "jsonl",
        concat!(
            r#"{"id": 7, "prompt": "p1", "response": "r1", "score": 0.2, "context": ["a", "b"], "reference": "ref"}"#,
            "\n",
            r#"{"id": "x-2", "prompt": "p2", "score": 0.9, "context": "ctx", "reference": 42}"#,
            "\n",
            r#"{"prompt": "p3", "score": 0.5}"#,
            "\n",
        ),
        &ReadOptions::default(),
    );
    assert_eq!(ds.records.len(), 3);
    let r = &ds.records[0];
    assert_eq!(r.id.as_deref(), Some("7"));
    assert_eq!(r.prompt, "p1");
    assert_eq!(r.response.as_deref(), Some("r1"));
    assert_eq!(r.score, Some(0.2));
    assert_eq!(r.failed, Some(true));
    assert_eq!(r.context, Some(json!(["a", "b"])));
    assert_eq!(r.reference.as_deref(), Some("ref"));
    assert_eq!(r.embedding, None);
    assert!(r.raw.is_empty(), "raw is empty unless keep_raw");
    let r = &ds.records[1];
    assert_eq!(r.id.as_deref(), Some("x-2"));
    assert_eq!(r.response, None);
    assert_eq!(r.failed, Some(false));
    assert_eq!(r.context, Some(json!("ctx")));
    assert_eq!(r.reference.as_deref(), Some("42"));
    // score == threshold passes: a row fails only when score < threshold.
    assert_eq!(ds.records[2].failed, Some(false));
    assert!(ds.warnings.is_empty());
    assert!(ds.skipped.is_empty());
    assert!(ds.source.ends_with("input.jsonl"));
}

#[test]
fn jsonl_threshold_is_configurable() {
    let options = ReadOptions {
        failure_threshold: 0.95,
        ..ReadOptions::default()
    };
    let ds = ok("jsonl", r#"{"prompt": "p", "score": 0.9}"#, &options);
    assert_eq!(ds.records[0].failed, Some(true));
}

#[test]
fn jsonl_blank_lines_are_not_rows() {
    let ds = ok(
        "jsonl",
        "\n{\"prompt\": \"a\"}\n   \n\t\n{\"prompt\": \"b\"}\n\n",
        &ReadOptions::default(),
    );
    let got: Vec<(usize, usize)> = ds.records.iter().map(|r| (r.row, r.line)).collect();
    assert_eq!(got, vec![(0, 2), (1, 5)]);
}

#[test]
fn jsonl_last_line_without_newline() {
    let ds = ok(
        "jsonl",
        "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}",
        &ReadOptions::default(),
    );
    assert_eq!(ds.records.len(), 2);
    assert_eq!(ds.records[1].line, 2);
}

#[test]
fn jsonl_crlf_line_endings() {
    let ds = ok(
        "jsonl",
        "{\"prompt\": \"a\", \"label\": \"pass\"}\r\n\r\n{\"prompt\": \"b\", \"label\": \"fail\"}\r\n",
        &ReadOptions::default(),
    );
    assert_eq!(ds.records.len(), 2);
    assert_eq!(ds.records[1].line, 3);
    assert_eq!(ds.records[1].prompt, "b");
    assert_eq!(ds.records[1].failed, Some(true));
}

#[test]
fn jsonl_utf8_bom() {
    let ds = ok(
        "jsonl",
        "\u{feff}{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n",
        &ReadOptions::default(),
    );
    assert_eq!(ds.records.len(), 2);
    assert_eq!(ds.records[0].prompt, "a");
    assert_eq!(ds.records[0].line, 1);
}

#[test]
fn json_and_ndjson_and_unknown_extensions_read_as_jsonl() {
    for ext in ["json", "ndjson", "txt", "JSONL"] {
        let ds = ok(ext, "{\"prompt\": \"a\"}\n", &ReadOptions::default());
        assert_eq!(ds.records.len(), 1, "{ext}");
    }
}

#[test]
fn nested_dotted_paths() {
    let options = ReadOptions {
        fields: faultmap::input::FieldNames {
            prompt: "input.text".into(),
            score: "eval.scores.0".into(),
            id: "meta.id".into(),
            ..Default::default()
        },
        extra_fields: vec!["metadata.category".into(), "flat.key".into()],
        ..ReadOptions::default()
    };
    let ds = ok(
        "jsonl",
        concat!(
            r#"{"input": {"text": "hi"}, "eval": {"scores": [0.1, 0.9]}, "meta": {"id": 5}, "metadata": {"category": "billing"}, "flat.key": "literal"}"#,
            "\n"
        ),
        &options,
    );
    let r = &ds.records[0];
    assert_eq!(r.prompt, "hi");
    assert_eq!(r.score, Some(0.1));
    assert_eq!(r.id.as_deref(), Some("5"));
    assert_eq!(
        r.extra,
        vec![Some(json!("billing")), Some(json!("literal"))]
    );
}

#[test]
fn renamed_fields() {
    let options = ReadOptions {
        fields: faultmap::input::FieldNames {
            prompt: "question".into(),
            response: "answer".into(),
            label: "verdict".into(),
            ..Default::default()
        },
        requirements: Requirements {
            outcome: true,
            response: true,
            ..Requirements::default()
        },
        ..ReadOptions::default()
    };
    let ds = ok(
        "jsonl",
        "{\"question\": \"q\", \"answer\": \"a\", \"verdict\": \"incorrect\"}\n",
        &options,
    );
    assert_eq!(ds.records[0].prompt, "q");
    assert_eq!(ds.records[0].response.as_deref(), Some("a"));
    assert_eq!(ds.records[0].failed, Some(true));
    let err = input_error(
        read(
            "jsonl",
            "{\"question\": \"q\", \"answer\": \"a\"}\n",
            &options,
        ),
        Some(1),
        Some("score"),
    );
    contains_all(&err, &["`verdict`", "found neither"]);
}

#[test]
fn label_spellings_jsonl() {
    let pass = [
        json!(true),
        json!(1),
        json!("1"),
        json!("pass"),
        json!("PASS"),
        json!(" Pass "),
        json!("true"),
        json!("True"),
        json!("correct"),
        json!("CORRECT"),
        json!("yes"),
        json!("Yes\t"),
    ];
    let fail = [
        json!(false),
        json!(0),
        json!("0"),
        json!("fail"),
        json!("FAIL"),
        json!("false"),
        json!("incorrect"),
        json!("Incorrect"),
        json!("no"),
        json!(" NO "),
    ];
    let mut content = String::new();
    for v in pass.iter().chain(&fail) {
        content.push_str(&json!({"prompt": "p", "label": v}).to_string());
        content.push('\n');
    }
    let ds = ok("jsonl", &content, &outcome());
    let labels: Vec<Option<bool>> = ds.records.iter().map(|r| r.label).collect();
    let want: Vec<Option<bool>> = pass
        .iter()
        .map(|_| Some(true))
        .chain(fail.iter().map(|_| Some(false)))
        .collect();
    assert_eq!(labels, want);
    for r in &ds.records {
        assert_eq!(r.failed, r.label.map(|l| !l));
        assert_eq!(r.score, None);
    }
}

#[test]
fn label_spellings_csv() {
    let content =
        "prompt,label\na,pass\nb, FAIL \nc,True\nd,no\ne,1\nf,0\ng,Correct\nh,INCORRECT\ni,yes\nj,false\n";
    let ds = ok("csv", content, &outcome());
    let labels: Vec<bool> = ds.records.iter().map(|r| r.label.unwrap()).collect();
    assert_eq!(
        labels,
        vec![true, false, true, false, true, false, true, false, true, false]
    );
}

#[test]
fn score_wins_over_label_with_one_warning() {
    let ds = ok(
        "jsonl",
        concat!(
            r#"{"prompt": "a", "label": "fail"}"#,
            "\n",
            r#"{"prompt": "b", "score": 0.9, "label": "fail"}"#,
            "\n",
            r#"{"prompt": "c", "score": 0.1, "label": "pass"}"#,
            "\n",
        ),
        &outcome(),
    );
    assert_eq!(ds.records[0].failed, Some(true));
    assert_eq!(
        ds.records[1].failed,
        Some(false),
        "score 0.9 wins over fail"
    );
    assert_eq!(ds.records[1].label, Some(false));
    assert_eq!(ds.records[2].failed, Some(true), "score 0.1 wins over pass");
    assert_eq!(ds.warnings.len(), 1, "{:?}", ds.warnings);
    contains_all(&ds.warnings[0], &["score", "label", ":2"]);
}

// ---------------------------------------------------------------- JSONL bad rows

#[test]
fn bad_malformed_json() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"ok\"}\n\n{\"prompt\": \"x\" \"score\": 1}\n",
            &ReadOptions::default(),
        ),
        Some(3),
        None,
    );
    contains_all(
        &msg,
        &["malformed JSON", "column", "one JSON object per line"],
    );
}

#[test]
fn bad_not_an_object() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"ok\"}\n[1, 2, 3]\n",
            &ReadOptions::default(),
        ),
        Some(2),
        None,
    );
    contains_all(&msg, &["expected a JSON object", "found array [1,2,3]"]);
}

#[test]
fn bad_missing_prompt() {
    let msg = input_error(
        read("jsonl", "{\"question\": \"hi\"}\n", &ReadOptions::default()),
        Some(1),
        Some("prompt"),
    );
    contains_all(
        &msg,
        &["missing", "expected the prompt text", "no such field"],
    );
}

#[test]
fn bad_null_prompt() {
    let msg = input_error(
        read("jsonl", "{\"prompt\": null}\n", &ReadOptions::default()),
        Some(1),
        Some("prompt"),
    );
    contains_all(&msg, &["expected the prompt text (a string)", "found null"]);
}

#[test]
fn bad_prompt_not_a_string() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\"}\n{\"prompt\": {\"text\": \"b\"}}\n",
            &ReadOptions::default(),
        ),
        Some(2),
        Some("prompt"),
    );
    contains_all(
        &msg,
        &["expected the prompt text (a string)", "found object"],
    );
}

#[test]
fn bad_score_not_a_number() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"score\": \"high\"}\n",
            &ReadOptions::default(),
        ),
        Some(1),
        Some("score"),
    );
    contains_all(
        &msg,
        &["expected a number in [0, 1]", "found string \"high\""],
    );
}

#[test]
fn bad_score_out_of_range() {
    for (score, found) in [("1.5", "found number 1.5"), ("-0.25", "found number -0.25")] {
        let content = format!(
            "{{\"prompt\": \"a\", \"score\": 0.5}}\n{{\"prompt\": \"a\", \"score\": {score}}}\n"
        );
        let msg = input_error(
            read("jsonl", &content, &ReadOptions::default()),
            Some(2),
            Some("score"),
        );
        contains_all(&msg, &["expected a number in [0, 1]", found]);
    }
}

#[test]
fn bad_score_nan_in_csv() {
    let msg = input_error(
        read(
            "csv",
            "prompt,score\na,0.5\nb,NaN\n",
            &ReadOptions::default(),
        ),
        Some(3),
        Some("score"),
    );
    contains_all(&msg, &["expected a number in [0, 1]", "found \"NaN\""]);
}

#[test]
fn bad_score_text_in_csv() {
    let msg = input_error(
        read("csv", "prompt,score\na,good\n", &ReadOptions::default()),
        Some(2),
        Some("score"),
    );
    contains_all(&msg, &["expected a number", "found \"good\""]);
}

#[test]
fn bad_unknown_label() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"label\": \"maybe\"}\n",
            &ReadOptions::default(),
        ),
        Some(1),
        Some("label"),
    );
    contains_all(
        &msg,
        &["pass/fail", "correct/incorrect", "found string \"maybe\""],
    );
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"label\": 2}\n",
            &ReadOptions::default(),
        ),
        Some(1),
        Some("label"),
    );
    contains_all(&msg, &["found number 2"]);
}

#[test]
fn bad_missing_outcome_when_required() {
    let content = "{\"prompt\": \"a\", \"score\": 0.3}\n{\"prompt\": \"b\", \"score\": null}\n";
    let msg = input_error(read("jsonl", content, &outcome()), Some(2), Some("score"));
    contains_all(
        &msg,
        &["missing outcome", "`score`", "`label`", "found neither"],
    );
    // Not required: fine, failed is None.
    let ds = ok("jsonl", content, &ReadOptions::default());
    assert_eq!(ds.records[1].failed, None);
}

#[test]
fn bad_missing_outcome_csv_empty_cells() {
    let msg = input_error(
        read("csv", "prompt,score,label\na,0.3,\nb,,\n", &outcome()),
        Some(3),
        Some("score"),
    );
    contains_all(&msg, &["missing outcome", "found neither"]);
}

#[test]
fn bad_csv_without_outcome_columns_when_required() {
    let msg = input_error(
        read("csv", "prompt,response\na,b\n", &outcome()),
        Some(1),
        Some("score"),
    );
    contains_all(&msg, &["no outcome column", "`prompt`, `response`"]);
}

#[test]
fn bad_missing_response_when_required() {
    let options = ReadOptions {
        requirements: Requirements {
            outcome: false,
            response: true,
            ..Requirements::default()
        },
        ..ReadOptions::default()
    };
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"response\": \"r\"}\n{\"prompt\": \"b\"}\n",
            &options,
        ),
        Some(2),
        Some("response"),
    );
    contains_all(&msg, &["missing response", "`response`"]);
    let msg = input_error(
        read("csv", "prompt,response\na,r\nb,\n", &options),
        Some(3),
        Some("response"),
    );
    contains_all(&msg, &["missing response"]);
    let msg = input_error(
        read("csv", "prompt\na\n", &options),
        Some(1),
        Some("response"),
    );
    contains_all(&msg, &["no `response` column"]);
}

#[test]
fn bad_response_not_a_string() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"response\": [1]}\n",
            &ReadOptions::default(),
        ),
        Some(1),
        Some("response"),
    );
    contains_all(&msg, &["expected a string", "found array"]);
}

#[test]
fn bad_id_type() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"id\": {\"k\": 1}}\n",
            &ReadOptions::default(),
        ),
        Some(1),
        Some("id"),
    );
    contains_all(&msg, &["expected a string or a number", "found object"]);
}

#[test]
fn bad_invalid_utf8_jsonl() {
    let mut content = b"{\"prompt\": \"a\"}\n{\"prompt\": \"b".to_vec();
    content.extend_from_slice(b"\xff\xfe\"}\n");
    let msg = input_error(
        read_bytes("jsonl", &content, &ReadOptions::default()),
        Some(2),
        None,
    );
    contains_all(&msg, &["invalid UTF-8", "byte 14"]);
}

#[test]
fn bad_invalid_utf8_csv() {
    let mut content = b"prompt,score\na,0.5\n".to_vec();
    content.extend_from_slice(b"b\xc3(,0.5\n");
    let msg = input_error(
        read_bytes("csv", &content, &ReadOptions::default()),
        Some(3),
        Some("prompt"),
    );
    contains_all(&msg, &["invalid UTF-8"]);
    let msg = input_error(
        read_bytes("csv", b"prompt,sc\xffore\na,1\n", &ReadOptions::default()),
        Some(1),
        None,
    );
    contains_all(&msg, &["invalid UTF-8 in header column 2"]);
}

#[test]
fn found_values_are_truncated() {
    let long = "x".repeat(500);
    let content = format!("{{\"prompt\": \"a\", \"label\": \"{long}\"}}\n");
    let msg = input_error(
        read("jsonl", &content, &ReadOptions::default()),
        Some(1),
        Some("label"),
    );
    assert!(msg.contains('…'), "{msg}");
    assert!(msg.len() < 300, "message too long ({}): {msg}", msg.len());
    let content = format!("{{\"prompt\": \"{long}\" oops}}\n");
    let msg = input_error(
        read("jsonl", &content, &ReadOptions::default()),
        Some(1),
        None,
    );
    assert!(msg.len() < 300, "message too long ({}): {msg}", msg.len());
}

#[test]
fn error_display_names_file_line_and_field() {
    let err = read(
        "jsonl",
        "{\"prompt\": \"a\", \"score\": 3}\n",
        &ReadOptions::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    contains_all(&text, &["input.jsonl:1: field `score`: expected a number"]);
}

// ---------------------------------------------------------------- embeddings

#[test]
fn embeddings_are_kept() {
    let ds = ok(
        "jsonl",
        "{\"prompt\": \"a\", \"embedding\": [1, 0.5, -2]}\n{\"prompt\": \"b\", \"embedding\": [0, 0, 1e-3]}\n",
        &ReadOptions::default(),
    );
    assert!(ds.has_embeddings());
    assert_eq!(ds.records[0].embedding, Some(vec![1.0, 0.5, -2.0]));
    let ds = ok(
        "csv",
        "prompt,embedding\na,\"[1, 2]\"\nb,\"[3,4]\"\n",
        &ReadOptions::default(),
    );
    assert_eq!(ds.records[1].embedding, Some(vec![3.0, 4.0]));
}

#[test]
fn bad_embedding_dimension_mismatch() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"embedding\": [1, 2, 3]}\n{\"prompt\": \"b\", \"embedding\": [1, 2, 3]}\n{\"prompt\": \"c\", \"embedding\": [1, 2]}\n",
            &ReadOptions::default(),
        ),
        Some(3),
        Some("embedding"),
    );
    contains_all(&msg, &["dimension 3", "line 1", "found 2"]);
}

#[test]
fn bad_embedding_non_numbers() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"embedding\": [1, \"two\", 3]}\n",
            &ReadOptions::default(),
        ),
        Some(1),
        Some("embedding"),
    );
    contains_all(
        &msg,
        &["array of numbers", "found string \"two\" at index 1"],
    );
    let msg = input_error(
        read(
            "csv",
            "prompt,embedding\na,\"[1,2]\"\nb,not json\n",
            &ReadOptions::default(),
        ),
        Some(3),
        Some("embedding"),
    );
    contains_all(&msg, &["array of numbers", "found \"not json\""]);
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"embedding\": []}\n",
            &ReadOptions::default(),
        ),
        Some(1),
        Some("embedding"),
    );
    contains_all(&msg, &["non-empty"]);
}

#[test]
fn bad_embedding_missing_on_some_rows() {
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\", \"embedding\": [1, 2]}\n{\"prompt\": \"b\", \"embedding\": [1, 2]}\n{\"prompt\": \"c\"}\n",
            &ReadOptions::default(),
        ),
        Some(3),
        Some("embedding"),
    );
    contains_all(
        &msg,
        &[
            "missing embedding",
            "expected an array of 2 numbers",
            "line 1",
        ],
    );
    let msg = input_error(
        read(
            "jsonl",
            "{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"embedding\": [1, 2]}\n",
            &ReadOptions::default(),
        ),
        Some(2),
        Some("embedding"),
    );
    contains_all(&msg, &["unexpected embedding", "line 1 has none"]);
}

#[test]
fn skip_invalid_drops_rows_with_wrong_embedding_dimension() {
    let ds = ok(
        "jsonl",
        "{\"prompt\": \"a\", \"embedding\": [1, 2]}\n{\"prompt\": \"b\", \"embedding\": [1]}\n{\"prompt\": \"c\", \"embedding\": [3, 4]}\n",
        &skipping(),
    );
    assert_eq!(ds.records.len(), 2);
    assert!(ds.has_embeddings());
    assert_eq!(ds.skipped[0].line, 2);
    assert!(ds.skipped[0].message.contains("field `embedding`"));
}

// ---------------------------------------------------------------- skipping and empty input

#[test]
fn skip_invalid_counts_rows_and_lines() {
    let content = concat!(
        "{\"prompt\": \"a\", \"score\": 0.1}\n",
        "not json\n",
        "\n",
        "{\"prompt\": \"c\", \"score\": 7}\n",
        "{\"prompt\": \"d\", \"score\": 0.9}\n",
        "{\"score\": 0.9}\n",
        "{\"prompt\": \"f\", \"score\": 0.2}\n",
    );
    let ds = ok("jsonl", content, &skipping());
    let kept: Vec<(usize, usize, &str)> = ds
        .records
        .iter()
        .map(|r| (r.row, r.line, r.prompt.as_str()))
        .collect();
    // Rows count skipped rows (not blank lines): a=0, bad=1, c=2, d=3, bad=4, f=5.
    assert_eq!(kept, vec![(0, 1, "a"), (3, 5, "d"), (5, 7, "f")]);
    let lines: Vec<usize> = ds.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![2, 4, 6]);
    assert!(ds.skipped[0].message.contains("malformed JSON"));
    assert!(ds.skipped[1].message.starts_with("field `score`: "));
    assert!(ds.skipped[2].message.contains("field `prompt`"));
    assert_eq!(
        summarize_skipped(&ds.skipped),
        "skipped 3 invalid rows (lines 2, 4, 6)"
    );
    // Without skipping, the first bad line stops the run.
    input_error(
        read("jsonl", content, &ReadOptions::default()),
        Some(2),
        None,
    );
}

#[test]
fn skip_invalid_csv() {
    let ds = ok(
        "csv",
        "prompt,score\na,0.5\nb,0.5,extra\nc,2\nd,0.1\n",
        &skipping(),
    );
    let kept: Vec<(usize, usize)> = ds.records.iter().map(|r| (r.row, r.line)).collect();
    assert_eq!(kept, vec![(0, 2), (3, 5)]);
    let lines: Vec<usize> = ds.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![3, 4]);
}

#[test]
fn empty_input_is_an_error() {
    for (ext, content) in [
        ("jsonl", ""),
        ("jsonl", "\n  \n\r\n"),
        ("csv", ""),
        ("csv", "prompt,score\n"),
    ] {
        let msg = input_error(read(ext, content, &ReadOptions::default()), None, None);
        assert!(msg.starts_with("no rows in "), "{ext} {content:?}: {msg}");
    }
}

#[test]
fn all_rows_invalid_is_an_error() {
    let msg = input_error(
        read("jsonl", "{}\n[]\n{\"prompt\": 3}\n", &skipping()),
        None,
        None,
    );
    contains_all(&msg, &["all 3 rows were invalid", "line 1"]);
}

#[test]
fn unreadable_path_is_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    match read_dataset(missing.to_str().unwrap(), &ReadOptions::default()) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("nope.jsonl")),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    // A directory opens on Unix but cannot be read.
    match read_dataset(dir.path().to_str().unwrap(), &ReadOptions::default()) {
        Err(Error::Io { .. }) => {}
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn summarize_skipped_formats() {
    let rows = |lines: &[usize]| -> Vec<SkippedRow> {
        lines
            .iter()
            .map(|&line| SkippedRow {
                line,
                message: "bad".into(),
            })
            .collect()
    };
    assert_eq!(summarize_skipped(&rows(&[])), "");
    assert_eq!(
        summarize_skipped(&rows(&[4])),
        "skipped 1 invalid row (line 4)"
    );
    assert_eq!(
        summarize_skipped(&rows(&[4, 9, 17])),
        "skipped 3 invalid rows (lines 4, 9, 17)"
    );
    assert_eq!(
        summarize_skipped(&rows(&[1, 2, 3, 4, 5, 6, 7])),
        "skipped 7 invalid rows (lines 1, 2, 3, 4, 5, ...)"
    );
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_types_fields_and_empty_cells() {
    let ds = ok(
        "csv",
        "id,prompt,response,score,label,context,reference\n1,p1,r1,0.25,,ctx,ref\n,p2,,,pass,\"[\"\"a\"\",\"\"b\"\"]\",\n",
        &ReadOptions::default(),
    );
    let r = &ds.records[0];
    assert_eq!(r.id.as_deref(), Some("1"));
    assert_eq!(r.response.as_deref(), Some("r1"));
    assert_eq!(r.score, Some(0.25));
    assert_eq!(r.label, None);
    assert_eq!(r.failed, Some(true));
    assert_eq!(r.context, Some(json!("ctx")));
    assert_eq!(r.reference.as_deref(), Some("ref"));
    let r = &ds.records[1];
    assert_eq!(r.id, None);
    assert_eq!(r.response, None);
    assert_eq!(r.score, None);
    assert_eq!(r.failed, Some(false));
    assert_eq!(r.context, Some(json!(["a", "b"])));
    assert_eq!(r.reference, None);
}

#[test]
fn csv_crlf_line_endings() {
    let ds = ok(
        "csv",
        "prompt,score\r\na,0.1\r\nb,0.9\r\n",
        &ReadOptions::default(),
    );
    assert_eq!(ds.records.len(), 2);
    assert_eq!(ds.records[1].prompt, "b");
    assert_eq!(ds.records[1].score, Some(0.9));
    assert_eq!(ds.records[1].line, 3);
}

#[test]
fn csv_utf8_bom() {
    let options = ReadOptions {
        keep_raw: true,
        ..ReadOptions::default()
    };
    let ds = ok("csv", "\u{feff}prompt,score\na,0.1\n", &options);
    assert_eq!(ds.records[0].prompt, "a");
    assert_eq!(ds.records[0].line, 2);
    assert!(ds.records[0].raw.contains_key("prompt"));
}

#[test]
fn csv_quoted_newlines_keep_line_numbers() {
    let content = "prompt,score\n\"line one\nline two\",0.2\n\"x\r\ny\r\nz\",0.3\nplain,2\n";
    let ds = ok("csv", content, &skipping());
    assert_eq!(ds.records[0].prompt, "line one\nline two");
    assert_eq!(ds.records[0].line, 2);
    assert_eq!(ds.records[1].line, 4);
    assert_eq!(ds.skipped[0].line, 7);
    input_error(
        read("csv", content, &ReadOptions::default()),
        Some(7),
        Some("score"),
    );
}

#[test]
fn csv_blank_lines_and_crlf_keep_line_numbers() {
    for newline in ["\n", "\r\n"] {
        let content = [
            "prompt,score",
            "",
            "a,0.1",
            "\"x",
            "y\",0.2",
            "",
            "",
            "b,0.3",
            "c,7",
            "",
        ]
        .join(newline);
        let ds = ok("csv", &content, &skipping());
        let got: Vec<(usize, usize, &str)> = ds
            .records
            .iter()
            .map(|r| (r.row, r.line, r.prompt.as_str()))
            .collect();
        let multi = format!("x{newline}y");
        assert_eq!(
            got,
            vec![(0, 3, "a"), (1, 4, multi.as_str()), (2, 8, "b")],
            "{newline:?}"
        );
        assert_eq!(ds.skipped[0].line, 9, "{newline:?}");
    }
}

#[test]
fn bad_ragged_csv_row() {
    let msg = input_error(
        read(
            "csv",
            "prompt,score\na,0.1\nb,0.2,oops\n",
            &ReadOptions::default(),
        ),
        Some(3),
        None,
    );
    contains_all(&msg, &["expected 2", "found 3"]);
    let msg = input_error(
        read(
            "csv",
            "prompt,score,label\na,0.1,pass\nb\n",
            &ReadOptions::default(),
        ),
        Some(3),
        None,
    );
    contains_all(&msg, &["expected 3", "found 1"]);
}

#[test]
fn bad_csv_empty_prompt_cell() {
    let msg = input_error(
        read("csv", "prompt,score\n,0.1\n", &ReadOptions::default()),
        Some(2),
        Some("prompt"),
    );
    contains_all(&msg, &["expected the prompt text", "empty cell"]);
}

#[test]
fn bad_csv_missing_prompt_column() {
    let msg = input_error(
        read("csv", "question,score\na,0.1\n", &skipping()),
        Some(1),
        Some("prompt"),
    );
    contains_all(&msg, &["no `prompt` column", "`question`, `score`"]);
}

#[test]
fn tsv_by_extension() {
    let ds = ok(
        "tsv",
        "prompt\tscore\nhello, world\t0.4\n",
        &ReadOptions::default(),
    );
    assert_eq!(ds.records[0].prompt, "hello, world");
    assert_eq!(ds.records[0].score, Some(0.4));
}

#[test]
fn format_option_overrides_extension() {
    let options = ReadOptions {
        format: Some(InputFormat::Csv),
        ..ReadOptions::default()
    };
    let ds = ok("txt", "prompt,score\na,0.4\n", &options);
    assert_eq!(ds.records[0].score, Some(0.4));
    // Forced CSV on an unknown extension sniffs the delimiter.
    let ds = ok("txt", "prompt\tscore\na, b\t0.4\n", &options);
    assert_eq!(ds.records[0].prompt, "a, b");
    let options = ReadOptions {
        format: Some(InputFormat::Jsonl),
        ..ReadOptions::default()
    };
    let ds = ok("csv", "{\"prompt\": \"a\"}\n", &options);
    assert_eq!(ds.records[0].prompt, "a");
}

#[test]
fn csv_literal_dotted_header() {
    let options = ReadOptions {
        fields: faultmap::input::FieldNames {
            prompt: "input.text".into(),
            ..Default::default()
        },
        extra_fields: vec!["metadata.category".into()],
        ..ReadOptions::default()
    };
    let ds = ok(
        "csv",
        "input.text,metadata.category,score\nhi,billing,0.1\n",
        &options,
    );
    assert_eq!(ds.records[0].prompt, "hi");
    assert_eq!(ds.records[0].extra, vec![Some(json!("billing"))]);
}

// ---------------------------------------------------------------- raw and extra fields

#[test]
fn extra_fields_jsonl() {
    let options = ReadOptions {
        extra_fields: vec![
            "metadata.category".into(),
            "lang".into(),
            "missing.everywhere".into(),
        ],
        ..ReadOptions::default()
    };
    let ds = ok(
        "jsonl",
        concat!(
            r#"{"prompt": "a", "metadata": {"category": "billing"}, "lang": "en"}"#,
            "\n",
            r#"{"prompt": "b", "metadata": {"category": null}, "lang": 3}"#,
            "\n",
            r#"{"prompt": "c"}"#,
            "\n",
        ),
        &options,
    );
    assert_eq!(
        ds.records[0].extra,
        vec![Some(json!("billing")), Some(json!("en")), None]
    );
    assert_eq!(ds.records[1].extra, vec![None, Some(json!(3)), None]);
    assert_eq!(ds.records[2].extra, vec![None, None, None]);
    // A field in no row is reported to the command (which stops, or warns with
    // --allow-missing-fields), not warned about by the reader.
    assert!(ds.warnings.is_empty(), "{:?}", ds.warnings);
    let unseen: Vec<&str> = ds
        .named_fields
        .iter()
        .filter(|n| !n.seen)
        .map(|n| n.path.as_str())
        .collect();
    assert_eq!(unseen, vec!["missing.everywhere"]);
    assert_eq!(
        ds.field_names,
        vec!["prompt", "metadata", "metadata.category", "lang"]
    );
}

#[test]
fn extra_fields_csv_keep_empty_cells() {
    let options = ReadOptions {
        extra_fields: vec!["category".into(), "nope".into()],
        ..ReadOptions::default()
    };
    let ds = ok("csv", "prompt,category\na,billing\nb,\n", &options);
    assert_eq!(ds.records[0].extra, vec![Some(json!("billing")), None]);
    assert_eq!(ds.records[1].extra, vec![Some(json!("")), None]);
    let seen: Vec<(&str, bool)> = ds
        .named_fields
        .iter()
        .map(|n| (n.path.as_str(), n.seen))
        .collect();
    assert_eq!(seen, vec![("category", true), ("nope", false)]);
    assert_eq!(ds.field_names, vec!["prompt", "category"]);
}

#[test]
fn keep_raw_holds_whole_row() {
    let options = ReadOptions {
        keep_raw: true,
        ..ReadOptions::default()
    };
    let line = r#"{"prompt": "a", "zeta": 1, "meta": {"k": [1, 2]}, "alpha": null}"#;
    let ds = ok("jsonl", line, &options);
    let raw = Value::Object(ds.records[0].raw.clone());
    assert_eq!(raw, serde_json::from_str::<Value>(line).unwrap());
    let keys: Vec<&String> = ds.records[0].raw.keys().collect();
    assert_eq!(
        keys,
        ["prompt", "zeta", "meta", "alpha"],
        "input order kept"
    );

    let ds = ok("csv", "prompt,score,note\na,0.5,\n", &options);
    assert_eq!(
        Value::Object(ds.records[0].raw.clone()),
        json!({"prompt": "a", "score": "0.5", "note": ""})
    );
    let ds = ok(
        "csv",
        "prompt,score,note\na,0.5,\n",
        &ReadOptions::default(),
    );
    assert!(ds.records[0].raw.is_empty());
}

/// Typed fields of a record, `raw` left out, for comparing the two JSONL parse paths.
fn typed(ds: &Dataset) -> Vec<String> {
    ds.records
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                r.row,
                r.line,
                r.id,
                r.prompt,
                r.response,
                r.score,
                r.label,
                r.failed,
                r.context,
                r.reference,
                r.embedding,
                r.extra
            )
        })
        .collect()
}

#[test]
fn keep_raw_does_not_change_typed_fields_or_errors() {
    // With keep_raw off, JSONL rows are parsed keeping only the needed keys; with it on, the
    // whole object is kept. Both must type fields and report errors identically.
    let lines = [
        r#"{"prompt": "a", "score": 0.2, "id": 1, "other": {"deep": [1, 2, {"x": null}]}}"#,
        r#"{"prompt": "first", "prompt": "last duplicate wins", "label": "pass"}"#,
        r#"{"pro\u006dpt": "escaped key", "lab\"el": 1, "label": "no"}"#,
        r#"{"prompt": "p", "meta": {"cat": "nested"}, "meta.cat": "literal wins"}"#,
        r#"{"prompt": "p", "meta": {"cat": ["x", "y"]}, "scores": [0.3, 0.7], "context": ["c"]}"#,
        r#"{"prompt": "p", "meta": null, "reference": 12.5, "response": null}"#,
        r#"{"prompt": "p", "score": 0.5} trailing"#,
        r#"{"prompt": "p", "score": 0.5"#,
        r#"["not", "an", "object"]"#,
        r#""just a string""#,
        r#"{"prompt": "p", "embedding": [1, 2]}"#,
        r#"{"prompt": "p", "score": 3}"#,
        r#"{"prompt": 5}"#,
        r#"{"id": [1], "prompt": "p"}"#,
        r#"{"prompt": "p", "label": "perhaps"}"#,
        r#"{"prompt": "p", "unused": [1, 2, 3 }"#,
    ];
    let extra = vec![
        "meta.cat".to_string(),
        "scores.1".to_string(),
        "missing".to_string(),
    ];
    for skip in [false, true] {
        let options = |keep_raw| ReadOptions {
            keep_raw,
            skip_invalid: skip,
            extra_fields: extra.clone(),
            ..ReadOptions::default()
        };
        for line in lines {
            let content = format!("{{\"prompt\": \"first row\"}}\n{line}\n");
            let fast = read_from_reader(content.as_bytes(), "rows.jsonl", &options(false));
            let full = read_from_reader(content.as_bytes(), "rows.jsonl", &options(true));
            match (&fast, &full) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(typed(a), typed(b), "{line}");
                    assert_eq!(a.warnings, b.warnings, "{line}");
                    let skipped = |d: &Dataset| -> Vec<(usize, String)> {
                        d.skipped
                            .iter()
                            .map(|s| (s.line, s.message.clone()))
                            .collect()
                    };
                    assert_eq!(skipped(a), skipped(b), "{line}");
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{line}"),
                _ => panic!("{line}: fast {fast:?} vs full {full:?}"),
            }
        }
    }
    // Spot checks on the values themselves.
    let ds = ok(
        "jsonl",
        &lines[1..6].join("\n"),
        &ReadOptions {
            extra_fields: extra.clone(),
            ..ReadOptions::default()
        },
    );
    assert_eq!(ds.records[0].prompt, "last duplicate wins");
    assert_eq!(ds.records[1].prompt, "escaped key");
    assert_eq!(ds.records[1].label, Some(false));
    assert_eq!(ds.records[2].extra[0], Some(json!("literal wins")));
    assert_eq!(ds.records[3].extra[0], Some(json!(["x", "y"])));
    assert_eq!(ds.records[3].extra[1], Some(json!(0.7)));
    assert_eq!(ds.records[4].reference.as_deref(), Some("12.5"));
}

// ---------------------------------------------------------------- readers and sniffing

#[test]
fn reader_sniffs_jsonl() {
    let input = b"\xEF\xBB\xBF\n  {\"prompt\": \"a\", \"score\": 0.1}\n{\"prompt\": \"b\"}\n";
    let ds = read_from_reader(&input[..], "<stdin>", &ReadOptions::default()).unwrap();
    assert_eq!(ds.source, "<stdin>");
    let got: Vec<(usize, &str)> = ds
        .records
        .iter()
        .map(|r| (r.line, r.prompt.as_str()))
        .collect();
    assert_eq!(got, vec![(2, "a"), (3, "b")]);
}

#[test]
fn reader_sniffs_csv_and_tsv() {
    let ds = read_from_reader(
        &b"prompt,score\na,0.1\n"[..],
        "<stdin>",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(ds.records[0].score, Some(0.1));
    let ds = read_from_reader(
        &b"prompt\tscore\na,b\t0.1\n"[..],
        "<stdin>",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(ds.records[0].prompt, "a,b");
    let err = read_from_reader(&b"prompt\n"[..], "<stdin>", &ReadOptions::default());
    let msg = input_error(err, None, None);
    assert_eq!(msg, "no rows in <stdin>");
}

/// A reader that hands out one byte per call, to exercise the sniffing loop.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[0];
        self.0 = &self.0[1..];
        Ok(1)
    }
}

#[test]
fn reader_sniffs_from_short_reads() {
    let input = b"\n\n{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n";
    let ds = read_from_reader(Trickle(input), "<stdin>", &ReadOptions::default()).unwrap();
    assert_eq!(ds.records.len(), 2);
    assert_eq!(ds.records[0].line, 3);
    let ds = read_from_reader(
        Trickle(b"prompt\tscore\nx\t1\n"),
        "<stdin>",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(ds.records[0].score, Some(1.0));
}

/// Not a test on its own: `stdin_dash_reads_standard_input` runs this in a child process with
/// a piped stdin.
#[test]
#[ignore]
fn stdin_child() {
    if std::env::var_os("FAULTMAP_STDIN_CHILD").is_none() {
        return;
    }
    match read_dataset("-", &ReadOptions::default()) {
        Ok(ds) => {
            for r in &ds.records {
                println!("ROW {} {} {} {:?}", ds.source, r.line, r.prompt, r.score);
            }
        }
        Err(e) => println!("ERR {e}"),
    }
}

#[test]
fn stdin_dash_reads_standard_input() {
    let run = |input: &[u8]| -> Vec<String> {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                // The test's name in the suite binary (tests/suite/main.rs).
                "input_reader::stdin_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FAULTMAP_STDIN_CHILD", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            // libtest prints "test stdin_child ... " before the first line.
            .filter_map(|l| {
                l.find("ROW ")
                    .or_else(|| l.find("ERR "))
                    .map(|at| l[at..].to_string())
            })
            .collect()
    };
    assert_eq!(
        run(b"\n{\"prompt\": \"a\", \"score\": 0.5}\n"),
        vec!["ROW <stdin> 2 a Some(0.5)"]
    );
    assert_eq!(
        run(b"prompt\tscore\nb\t0.25\n"),
        vec!["ROW <stdin> 2 b Some(0.25)"]
    );
    assert_eq!(run(b""), vec!["ERR <stdin>: no rows in <stdin>"]);
}

// ---------------------------------------------------------------- large inputs (several chunks)

#[test]
fn many_jsonl_rows_keep_order_and_first_error() {
    // ~11 MB: more than one parallel chunk.
    let n = 100_000;
    let mut content = String::with_capacity(n * 180);
    for i in 0..n {
        content.push_str(&format!(
            "{{\"id\": {i}, \"prompt\": \"prompt number {i} with some padding text to make the line longer\", \"score\": {}}}\n",
            (i % 10) as f64 / 10.0
        ));
        if i % 1000 == 0 {
            content.push('\n');
        }
    }
    let ds = ok("jsonl", &content, &ReadOptions::default());
    assert_eq!(ds.records.len(), n);
    for (i, r) in ds.records.iter().enumerate() {
        assert_eq!(r.row, i);
        assert_eq!(r.id.as_deref(), Some(i.to_string().as_str()));
        // One blank line after rows 0, 1000, 2000, ...
        assert_eq!(r.line, i + 1 + i.div_ceil(1000));
    }
    // Two bad lines far apart (the second in a later chunk): the first is reported.
    let mut lines: Vec<&str> = content.lines().collect();
    let late_bad = lines.len() - 20;
    lines[late_bad] = "{\"prompt\": 1}";
    lines[55_000] = "{\"prompt\": \"p\", \"score\": 9}";
    let joined = lines.join("\n");
    input_error(
        read("jsonl", &joined, &ReadOptions::default()),
        Some(55_001),
        Some("score"),
    );
    let ds = ok("jsonl", &joined, &skipping());
    let skipped: Vec<usize> = ds.skipped.iter().map(|s| s.line).collect();
    assert_eq!(skipped, vec![55_001, late_bad + 1]);
}

#[test]
fn many_csv_rows_keep_order() {
    let n = 40_000;
    let mut content = String::from("id,prompt,score\n");
    for i in 0..n {
        if i == 30_000 {
            content.push_str(&format!("{i},\"multi\nline\",0.5\n"));
        } else {
            content.push_str(&format!("{i},prompt {i},0.5\n"));
        }
    }
    let ds = ok("csv", &content, &ReadOptions::default());
    assert_eq!(ds.records.len(), n);
    for (i, r) in ds.records.iter().enumerate() {
        assert_eq!(r.row, i);
        assert_eq!(r.id.as_deref(), Some(i.to_string().as_str()));
        let want_line = if i > 30_000 { i + 3 } else { i + 2 };
        assert_eq!(r.line, want_line, "row {i}");
    }
}

// ---------------------------------------------------------------- timing (manual)

/// Manual timing: `FAULTMAP_INPUT_BENCH=/tmp/big.jsonl cargo test --release --test suite
/// -- --ignored --nocapture input_reader::timing`. Optional `FAULTMAP_INPUT_BENCH_RAW=1` keeps
/// raw rows.
#[test]
#[ignore]
fn timing_read_large_file() {
    let Ok(path) = std::env::var("FAULTMAP_INPUT_BENCH") else {
        eprintln!("set FAULTMAP_INPUT_BENCH to a file to time");
        return;
    };
    let options = ReadOptions {
        requirements: Requirements {
            outcome: true,
            response: false,
            ..Requirements::default()
        },
        keep_raw: std::env::var_os("FAULTMAP_INPUT_BENCH_RAW").is_some(),
        extra_fields: vec!["metadata.category".into()],
        ..ReadOptions::default()
    };
    let start = std::time::Instant::now();
    let ds = read_dataset(&path, &options).unwrap();
    let elapsed = start.elapsed();
    let failed = ds.records.iter().filter(|r| r.failed == Some(true)).count();
    eprintln!(
        "read {} rows ({failed} failed) in {:.3} s (keep_raw: {})",
        ds.records.len(),
        elapsed.as_secs_f64(),
        options.keep_raw
    );
}

fn optional_prompt() -> ReadOptions {
    ReadOptions {
        requirements: Requirements {
            outcome: true,
            optional_prompt: true,
            ..Requirements::default()
        },
        ..ReadOptions::default()
    }
}

#[test]
fn optional_prompt_reads_missing_and_null_as_empty() {
    let data = ok(
        "jsonl",
        "{\"id\":\"a\",\"prompt\":null,\"score\":1}\n{\"id\":\"b\",\"score\":0}\n{\"id\":\"c\",\"prompt\":\"hi\",\"score\":0}\n",
        &optional_prompt(),
    );
    let prompts: Vec<&str> = data.records.iter().map(|r| r.prompt.as_str()).collect();
    assert_eq!(prompts, ["", "", "hi"]);
    // A prompt of the wrong type is still an error.
    input_error(
        read(
            "jsonl",
            "{\"id\":\"a\",\"prompt\":3,\"score\":1}\n",
            &optional_prompt(),
        ),
        Some(1),
        Some("prompt"),
    );
    // Without the option, a null prompt is a bad row.
    input_error(
        read(
            "jsonl",
            "{\"id\":\"a\",\"prompt\":null,\"score\":1}\n",
            &outcome(),
        ),
        Some(1),
        Some("prompt"),
    );
}

#[test]
fn optional_prompt_csv_without_prompt_column() {
    let data = ok("csv", "id,score\na,1\nb,0\n", &optional_prompt());
    assert_eq!(data.records.len(), 2);
    assert!(data.records.iter().all(|r| r.prompt.is_empty()));
    let data = ok("csv", "id,prompt,score\na,,1\nb,x,0\n", &optional_prompt());
    assert_eq!(data.records[0].prompt, "");
    assert_eq!(data.records[1].prompt, "x");
}
