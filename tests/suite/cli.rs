//! End-to-end tests of the `faultmap` binary: exit codes, formats, determinism, bad input.

use crate::common;

use common::{faultmap, faultmap_stdin, json, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEMO: &str = "fixtures/support_tickets.jsonl";

fn temp_file(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

/// The demo file's topic for each row index, from its metadata.
fn demo_topics() -> Vec<String> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["metadata"]["topic"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn demo_finds_the_failing_topics() {
    let out = faultmap(&["slices", DEMO, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let topics = demo_topics();
    assert_eq!(report["total_prompts"], 375);
    let slices = report["slices"].as_array().unwrap();
    assert!(!slices.is_empty(), "no slices found");
    // Each reported slice is dominated by one of the three topics built to fail.
    let bad = ["vat_tax", "api_limits", "data_residency"];
    let mut found = std::collections::BTreeSet::new();
    for slice in slices {
        let rows: Vec<usize> = slice["sample_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let in_bad = rows
            .iter()
            .filter(|&&i| bad.contains(&topics[i].as_str()))
            .count();
        assert!(
            in_bad * 2 > rows.len(),
            "slice {} is not dominated by a failing topic",
            slice["name"]
        );
        for &i in &rows {
            if bad.contains(&topics[i].as_str()) {
                found.insert(topics[i].clone());
            }
        }
        assert!(slice["adjusted_p_value"].as_f64().unwrap() <= 0.05);
        assert_eq!(
            slice["ids"].as_array().unwrap().len(),
            rows.len(),
            "one id per row"
        );
    }
    assert!(
        found.len() >= 2,
        "expected at least two failing topics, got {found:?}"
    );
}

#[test]
fn group_by_flags_failing_metadata_values() {
    let out = faultmap(&[
        "slices",
        DEMO,
        "--format",
        "json",
        "--group-by",
        "metadata.topic,metadata.channel",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let flagged: Vec<String> = report["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["source"] == "metadata.topic")
        .map(|s| s["value"].as_str().unwrap().to_string())
        .collect();
    for topic in ["vat_tax", "api_limits", "data_residency"] {
        assert!(
            flagged.contains(&topic.to_string()),
            "{topic} not flagged: {flagged:?}"
        );
    }
    assert!(!flagged.contains(&"password".to_string()));
}

#[test]
fn fail_on_slice_exits_one() {
    let out = faultmap(&["slices", DEMO, "--format", "json", "--fail-on-slice"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(json(&out)["num_significant"].as_u64().unwrap() > 0);
}

#[test]
fn fail_on_slice_passes_when_nothing_fails_more() {
    let rows: String = (0..60)
        .map(|i| {
            format!(
                "{{\"prompt\": \"question number {i} about topic {}\", \"score\": 0.9}}\n",
                i % 3
            )
        })
        .collect();
    let (_dir, path) = temp_file("ok.jsonl", rows.as_bytes());
    let out = faultmap(&[
        "slices",
        path.to_str().unwrap(),
        "--fail-on-slice",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["num_significant"], 0);
}

#[test]
fn same_seed_gives_byte_identical_json() {
    let a = faultmap(&["slices", DEMO, "--format", "json", "--seed", "7"]);
    let b = faultmap(&["slices", DEMO, "--format", "json", "--seed", "7"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    for method in [
        ["--clustering", "agglomerative"],
        ["--clustering", "kmeans"],
    ] {
        let mut args = vec!["slices", DEMO, "--format", "json"];
        args.extend(method);
        if method[1] == "kmeans" {
            args.extend(["--k", "12"]);
        }
        let a = faultmap(&args);
        let b = faultmap(&args);
        assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
        assert_eq!(a.stdout, b.stdout, "{method:?} is not deterministic");
    }
}

#[test]
fn json_does_not_depend_on_the_thread_count() {
    let run = |threads: &str| {
        Command::new(env!("CARGO_BIN_EXE_faultmap"))
            .args(["slices", DEMO, "--format", "json"])
            .env("RAYON_NUM_THREADS", threads)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run faultmap")
            .stdout
    };
    let one = run("1");
    assert!(!one.is_empty());
    assert_eq!(one, run("3"));
}

#[test]
fn stdin_and_csv_give_the_same_report_as_the_file() {
    let file = faultmap(&["slices", DEMO, "--format", "json"]);
    let content = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO)).unwrap();
    let piped = faultmap_stdin(&["slices", "-", "--format", "json"], &content);
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    let (a, b) = (json(&file), json(&piped));
    assert!(
        a["slices"] == b["slices"],
        "stdin report differs from the file's"
    );

    // The same rows as CSV.
    let mut csv = String::from("id,prompt,response,score\n");
    for line in String::from_utf8(content).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let quote = |field: &str| v[field].as_str().unwrap().replace('"', "\"\"");
        csv.push_str(&format!(
            "{},\"{}\",\"{}\",{}\n",
            v["id"].as_str().unwrap(),
            quote("prompt"),
            quote("response"),
            v["score"]
        ));
    }
    let (_dir, path) = temp_file("demo.csv", csv.as_bytes());
    let out = faultmap(&["slices", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        json(&out)["slices"] == a["slices"],
        "CSV report differs from JSONL's"
    );
}

#[test]
fn output_file_is_written_and_stdout_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = faultmap(&[
        "slices",
        DEMO,
        "--format",
        "json",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(report["total_prompts"], 375);
    // Only the report is left in the directory: no temporary files.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn table_jsonl_and_markdown_render() {
    let table = faultmap(&["slices", DEMO, "--format", "table"]);
    assert_eq!(table.status.code(), Some(0));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("Failure rate"), "{text}");
    let md = faultmap(&["slices", DEMO, "--format", "markdown"]);
    let text = String::from_utf8(md.stdout).unwrap();
    assert!(text.starts_with("## faultmap"), "{text}");
    assert!(text.contains("|---:|"), "{text}");
    let jsonl = faultmap(&["slices", DEMO, "--format", "jsonl"]);
    let text = String::from_utf8(jsonl.stdout).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["size"].as_u64().unwrap() >= 10);
    }
}

#[test]
fn untrusted_text_is_escaped_in_table_and_markdown() {
    let mut rows = String::new();
    for i in 0..40 {
        rows.push_str(&format!(
            "{{\"prompt\": \"evil \\u001b[31mred\\u001b[0m <script>x</script> | pipe {i}\", \"score\": 0.1}}\n"
        ));
        rows.push_str(&format!(
            "{{\"prompt\": \"ordinary calm question about gardening tomatoes {i}\", \"score\": 0.9}}\n"
        ));
    }
    let (_dir, path) = temp_file("evil.jsonl", rows.as_bytes());
    let p = path.to_str().unwrap();
    let table = faultmap(&["slices", p, "--format", "table", "--min-slice-size", "5"]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("evil"), "{text}");
    assert!(!text.contains('\u{1b}'), "raw escape in table output");
    let md = faultmap(&["slices", p, "--format", "markdown", "--min-slice-size", "5"]);
    let text = String::from_utf8(md.stdout).unwrap();
    assert!(text.contains("evil"), "{text}");
    assert!(!text.contains("<script>"), "raw HTML in markdown output");
    assert!(!text.contains('\u{1b}'));
}

/// Each bad input stops the run with exit code 2 and names the line and the field.
#[test]
fn bad_rows_exit_2_with_line_and_field() {
    let good = "{\"prompt\": \"fine\", \"score\": 0.5}\n";
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "malformed JSON",
            "{\"prompt\": \"x\", \"score\": 0.5",
            "jsonl",
            "",
        ),
        ("not an object", "[1, 2]", "jsonl", ""),
        ("missing prompt", "{\"score\": 0.5}", "jsonl", "prompt"),
        (
            "null prompt",
            "{\"prompt\": null, \"score\": 0.5}",
            "jsonl",
            "prompt",
        ),
        (
            "score not a number",
            "{\"prompt\": \"x\", \"score\": \"high\"}",
            "jsonl",
            "score",
        ),
        (
            "score above 1",
            "{\"prompt\": \"x\", \"score\": 1.5}",
            "jsonl",
            "score",
        ),
        (
            "unknown label",
            "{\"prompt\": \"x\", \"label\": \"maybe\"}",
            "jsonl",
            "label",
        ),
        ("no outcome", "{\"prompt\": \"x\"}", "jsonl", ""),
        (
            "embedding with text",
            "{\"prompt\": \"x\", \"score\": 0.5, \"embedding\": [1, \"a\"]}",
            "jsonl",
            "embedding",
        ),
    ];
    for (name, bad, ext, field) in cases {
        let content = format!("{good}{good}{bad}\n{good}");
        let (_dir, path) = temp_file(&format!("bad.{ext}"), content.as_bytes());
        let out = faultmap(&["slices", path.to_str().unwrap(), "--format", "json"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(":3"), "{name}: no line number in {err}");
        assert!(
            err.contains(field),
            "{name}: field `{field}` not named in {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "{name}: report printed despite the error"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn bad_csv_rows_exit_2() {
    let cases: &[(&str, &[u8])] = &[
        ("ragged row", b"prompt,score\nfine,0.5\nfine,0.5\nshort\n"),
        ("NaN score", b"prompt,score\nfine,0.5\nfine,0.5\nx,NaN\n"),
        (
            "invalid UTF-8",
            b"prompt,score\nfine,0.5\nfine,0.5\n\xff\xfe,0.5\n",
        ),
    ];
    for (name, content) in cases {
        let (_dir, path) = temp_file("bad.csv", content);
        let out = faultmap(&["slices", path.to_str().unwrap(), "--format", "json"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(":4"), "{name}: no line number in {err}");
    }
}

#[test]
fn embedding_dimension_mismatch_exits_2() {
    let content = "{\"prompt\": \"a\", \"score\": 0.5, \"embedding\": [1, 0]}\n{\"prompt\": \"b\", \"score\": 0.5, \"embedding\": [1, 0, 0]}\n";
    let (_dir, path) = temp_file("emb.jsonl", content.as_bytes());
    let out = faultmap(&["slices", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(":2"), "{}", stderr(&out));
}

#[test]
fn all_zero_embedding_exits_2_with_line() {
    let mut content = String::new();
    for i in 0..30 {
        let v = if i == 7 { "[0, 0]" } else { "[1, 0.5]" };
        content.push_str(&format!(
            "{{\"prompt\": \"p{i}\", \"score\": 0.5, \"embedding\": {v}}}\n"
        ));
    }
    let (_dir, path) = temp_file("zero.jsonl", content.as_bytes());
    let out = faultmap(&["slices", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(":8") && err.contains("embedding"), "{err}");
}

#[test]
fn skip_invalid_reports_count_and_lines() {
    let mut content =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO)).unwrap();
    content.push_str("{\"prompt\": \"x\", \"score\": 7}\nnot json\n");
    let (_dir, path) = temp_file("skip.jsonl", content.as_bytes());
    let out = faultmap(&[
        "slices",
        path.to_str().unwrap(),
        "--skip-invalid",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains('2') && err.contains("376") && err.contains("377"),
        "{err}"
    );
    let report = json(&out);
    assert_eq!(report["total_prompts"], 375);
    assert_eq!(report["parameters"]["skipped_rows"], 2);
}

#[test]
fn empty_input_exits_2() {
    let (_dir, path) = temp_file("empty.jsonl", b"");
    let out = faultmap(&["slices", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).to_lowercase().contains("no rows"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = faultmap(&["slices", DEMO, "--clustering", "kmeans"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--k"), "{}", stderr(&out));
    let out = faultmap(&["slices", DEMO, "--alpha", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let out = faultmap(&["slices", "no/such/file.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no/such/file.jsonl"));
    let out = faultmap(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
}

#[test]
fn precomputed_embeddings_are_used() {
    let mut content = String::new();
    for i in 0..120 {
        let (v, score) = if i % 3 == 0 {
            ("[1.0, 0.0, 0.05]", 0.1)
        } else {
            ("[0.0, 1.0, 0.05]", 0.9)
        };
        let v = v.replace("0.05", &format!("{:.3}", (i % 7) as f64 / 100.0));
        content.push_str(&format!(
            "{{\"prompt\": \"row {i}\", \"score\": {score}, \"embedding\": {v}}}\n"
        ));
    }
    let (_dir, path) = temp_file("pre.jsonl", content.as_bytes());
    let out = faultmap(&[
        "slices",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--cluster-dims",
        "2",
        "--max-cluster-share",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert!(report["parameters"]["embedder"]
        .as_str()
        .unwrap()
        .contains("precomputed"));
    let top = &report["slices"][0];
    assert_eq!(top["size"], 40);
    assert_eq!(top["failures"], 40);
}

#[test]
fn static_embedder_from_a_model2vec_directory() {
    let out = faultmap(&[
        "slices",
        DEMO,
        "--embedder",
        "static:fixtures/tiny-model2vec",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["parameters"]["embedder"], "static:tiny-model2vec");
    assert!(report["slices"].is_array());

    // The built-in model, in coverage too.
    let out = faultmap(&[
        "coverage",
        "--tests",
        "fixtures/coverage_tests.jsonl",
        "--production",
        "fixtures/coverage_production.jsonl",
        "--embedder",
        "static",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(json(&out)["parameters"]["embedder"]
        .as_str()
        .unwrap()
        .starts_with("static-minilm-l6-"));

    // Bad values and directories are usage errors naming what was expected.
    for (args, needle) in [
        (vec!["--embedder", "bogus"], "static:DIR"),
        (vec!["--embedder", "static:"], "needs a directory"),
        (
            vec!["--embedder", "static:fixtures/no-such-model"],
            "expected a model2vec directory",
        ),
        (
            vec!["--embedder", "static:fixtures"],
            "config.json: not found",
        ),
    ] {
        let mut all = vec!["slices", DEMO];
        all.extend(args);
        let out = faultmap(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(stderr(&out).contains(needle), "{all:?}: {}", stderr(&out));
    }

    // --help lists the choices.
    let out = faultmap(&["slices", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for choice in ["auto:", "hash:", "static:", "static:DIR:", "precomputed:"] {
        assert!(help.contains(choice), "{choice} missing from --help");
    }
}

/// Every subcommand keeps its exit code when stderr is a full device: diagnostics that cannot
/// be written are dropped, not a panic (exit 101). Each command is run twice, with stderr
/// captured and on /dev/full, and must exit the same way both times.
#[test]
fn a_full_stderr_keeps_the_exit_code() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        println!("no /dev/full: skipped");
        return;
    };
    let cases: [(&[&str], i32); 8] = [
        (&["slices", "missing.jsonl"], 2),
        (&["slices", DEMO, "--no-such-flag"], 2),
        (&["slices", DEMO, "--format", "json"], 0),
        (&["score", "fixtures/rag_answers.jsonl"], 0),
        (
            &[
                "score",
                "fixtures/rag_answers.jsonl",
                "--max-reject-rate",
                "0",
            ],
            1,
        ),
        (
            &[
                "coverage",
                "--tests",
                "fixtures/coverage_tests.jsonl",
                "--production",
                "fixtures/coverage_production.jsonl",
            ],
            0,
        ),
        (
            &[
                "regress",
                "compare",
                "fixtures/regress_baseline.jsonl",
                "fixtures/regress_candidate_drop.jsonl",
            ],
            1,
        ),
        (&["regress", "check", "missing.json", DEMO], 2),
    ];
    for (args, code) in cases {
        let normal = faultmap(args);
        assert_eq!(
            normal.status.code(),
            Some(code),
            "{args:?}: {}",
            stderr(&normal)
        );
        let on_full = Command::new(env!("CARGO_BIN_EXE_faultmap"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(full.try_clone().unwrap())
            .output()
            .unwrap();
        assert_eq!(
            on_full.status.code(),
            Some(code),
            "{args:?} with stderr on /dev/full"
        );
        assert_eq!(on_full.stdout, normal.stdout, "{args:?}: the same report");
    }
}

/// Absurd sizes are usage errors (exit 2, naming the flag), not allocations of gigabytes.
#[test]
fn absurd_flag_values_are_usage_errors() {
    const HUGE: &str = "1000000000";
    let (t, p) = (
        "fixtures/coverage_tests.jsonl",
        "fixtures/coverage_production.jsonl",
    );
    let (a, b) = (
        "fixtures/regress_baseline.jsonl",
        "fixtures/regress_candidate_drop.jsonl",
    );
    let cases: [(&[&str], &str); 10] = [
        (
            &["slices", DEMO, "--representatives", HUGE],
            "--representatives",
        ),
        (&["slices", DEMO, "--examples", HUGE], "--examples"),
        (&["slices", DEMO, "--dims", HUGE], "--dims"),
        (&["slices", DEMO, "--cluster-dims", HUGE], "--cluster-dims"),
        (
            &["slices", DEMO, "--clustering", "kmeans", "--k", HUGE],
            "--k",
        ),
        (
            &["score", "fixtures/rag_answers.jsonl", "--dims", HUGE],
            "--dims",
        ),
        (
            &[
                "coverage",
                "--tests",
                t,
                "--production",
                p,
                "--representatives",
                HUGE,
            ],
            "--representatives",
        ),
        (
            &["regress", "compare", a, b, "--representatives", HUGE],
            "--representatives",
        ),
        (
            &["regress", "compare", a, b, "--resamples", HUGE],
            "--resamples",
        ),
        (
            &["slices", DEMO, "--representatives=-1"],
            "--representatives",
        ),
    ];
    for (args, flag) in cases {
        let started = std::time::Instant::now();
        let out = faultmap(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(started.elapsed().as_secs() < 10, "{args:?} took long");
    }
}

/// `--output` through a symlink writes the file it points to and keeps the link; `/dev/stdout`
/// is written in place (a rename would have replaced the device link with a regular file);
/// errors name the user's path, never a temporary file.
#[cfg(unix)]
#[test]
fn output_follows_symlinks_and_writes_streams_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("report.json");
    let link = dir.path().join("latest.json");
    std::fs::write(&real, "old").unwrap();
    std::os::unix::fs::symlink("report.json", &link).unwrap();
    let out = faultmap(&[
        "slices",
        DEMO,
        "--format",
        "json",
        "-q",
        "-o",
        link.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    assert_eq!(written["total_prompts"], 375);

    let out = faultmap(&[
        "slices",
        DEMO,
        "--format",
        "json",
        "-q",
        "-o",
        "/dev/stdout",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(&out)["total_prompts"],
        375,
        "the report went to stdout"
    );
    assert!(std::fs::symlink_metadata("/dev/stdout")
        .map(|m| m.file_type().is_symlink() || !m.is_file())
        .unwrap_or(true));

    let missing = dir.path().join("no/such/dir/report.json");
    let out = faultmap(&["slices", DEMO, "-q", "-o", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no/such/dir/report.json"), "{err}");
    assert!(!err.contains("faultmap-tmp"), "{err}");
}

/// A line longer than --max-record-bytes stops the read with an error naming it (exit 2):
/// `/dev/zero` used to grow until the allocator aborted.
#[test]
fn an_endless_line_is_an_error_naming_it() {
    let good = "{\"prompt\": \"hello\", \"label\": \"pass\"}\n".repeat(3);
    let long = format!(
        "{good}{{\"prompt\": \"{}\", \"label\": \"fail\"}}\n",
        "x".repeat(5000)
    );
    let (_dir, jsonl) = temp_file("long.jsonl", long.as_bytes());
    let csv = format!("prompt,label\na,pass\n{},fail\n", "y".repeat(5000));
    let (_dir2, csv_path) = temp_file("long.csv", csv.as_bytes());
    for (path, line) in [
        (jsonl.to_str().unwrap(), 4),
        (csv_path.to_str().unwrap(), 3),
    ] {
        let out = faultmap(&["slices", path, "--max-record-bytes", "1000"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("line {line} is longer than 1000 bytes")),
            "{err}"
        );
        // the default reads it
        assert_ne!(faultmap(&["slices", path, "-q"]).status.code(), Some(2));
    }
    let out = faultmap_stdin(
        &["slices", "-", "--max-record-bytes", "1000"],
        long.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("<stdin>: line 4"), "{}", stderr(&out));
    if Path::new("/dev/zero").exists() {
        let out = faultmap(&["slices", "/dev/zero", "--max-record-bytes", "100000"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("line 1 is longer"),
            "{}",
            stderr(&out)
        );
    }
}
