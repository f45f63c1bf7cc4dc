//! What a new user hits in the first hour (issue 17): a field named by a flag that no row has
//! stops the run with a suggestion, gates say which gate tripped, and so on.

use crate::common;

use common::{faultmap, stderr};

const RAG: &str = "fixtures/rag_answers.jsonl";
const TICKETS: &str = "fixtures/support_tickets.jsonl";
const LEAN_BASELINE: &str = "fixtures/regress_lean_baseline.jsonl";
const PROMPTS: &str = "fixtures/regress_prompts.jsonl";
/// `faultmap coverage` on the fixtures; options follow.
const COVERAGE: [&str; 5] = [
    "coverage",
    "--tests",
    "fixtures/coverage_tests.jsonl",
    "--production",
    "fixtures/coverage_production.jsonl",
];

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
    let out = faultmap(&[&COVERAGE[..], &["--id-field", "ident", "-q"]].concat());
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

#[test]
fn every_gate_says_on_stderr_which_gate_tripped_even_when_quiet() {
    let out = faultmap(&[
        "slices",
        TICKETS,
        "--fail-on-slice",
        "-q",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("gate: --fail-on-slice: ") && err.contains("significantly more often"),
        "{err}"
    );
    let out = faultmap(
        &[
            &COVERAGE[..],
            &["--min-coverage", "0.99", "-q", "--format", "json"],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("gate: coverage 0.") && err.contains("below --min-coverage 0.99"),
        "{err}"
    );
    let out = faultmap(&[
        "score",
        RAG,
        "--max-reject-rate",
        "0.05",
        "-q",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("gate: 8 of 17 rows"),
        "{}",
        stderr(&out)
    );
    let out = faultmap(&[
        "regress",
        "compare",
        "fixtures/regress_baseline.jsonl",
        "fixtures/regress_candidate_slice.jsonl",
        "-q",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("gate: REGRESSION (gates: slice)") && err.contains("Regressed slices: \""),
        "{err}"
    );
    // A run that passes says nothing.
    let out = faultmap(&["slices", TICKETS, "-q", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
}

#[test]
fn the_output_extension_chooses_the_format() {
    let dir = tempfile::tempdir().unwrap();
    for (name, starts) in [
        ("r.md", "## faultmap"),
        ("r.json", "{"),
        ("r.jsonl", "{\"name\""),
        ("r.txt", "375 prompts"),
    ] {
        let path = dir.path().join(name);
        let out = faultmap(&["slices", TICKETS, "-q", "-o", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(starts),
            "{name}: {}",
            &text[..80.min(text.len())]
        );
    }
    // --format wins, and an unknown extension is warned about.
    let path = dir.path().join("r.md");
    let out = faultmap(&[
        "slices",
        TICKETS,
        "-q",
        "--format",
        "json",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(&path).unwrap().starts_with('{'));
    let path = dir.path().join("r.out");
    let out = faultmap(&["slices", TICKETS, "-o", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("no report format is known by `.out`; writing json"));
}

#[test]
fn fail_on_missing_fails_an_incomplete_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string("fixtures/regress_baseline.jsonl").unwrap();
    // The same run without its last 60 cases: nothing regressed, 60 cases missing.
    let lines: Vec<&str> = full.lines().collect();
    let partial = dir.path().join("partial.jsonl");
    std::fs::write(&partial, lines[..lines.len() - 60].join("\n")).unwrap();
    let partial = partial.to_str().unwrap();
    let base = [
        "regress",
        "compare",
        "fixtures/regress_baseline.jsonl",
        partial,
        "-q",
    ];
    let out = faultmap(&[&base[..], &["--format", "json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let junit = dir.path().join("junit.xml");
    let out = faultmap(
        &[
            &base[..],
            &["--format", "json", "--fail-on", "global,slice,missing"],
            &["--junit", junit.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["gates_tripped"], serde_json::json!(["missing"]));
    assert!(stderr(&out).contains("60 baseline cases are missing from the candidate"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("classname=\"faultmap.regress.missing\""),
        "{xml}"
    );
    assert!(xml.contains("60 baseline cases are missing"), "{xml}");
}

#[test]
fn compressed_input_and_semicolon_csv_are_recognized() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("t.jsonl.gz");
    // A gzip member by hand (stored, no compression): magic, method 8, no flags.
    let mut f = std::fs::File::create(&gz).unwrap();
    f.write_all(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")
        .unwrap();
    f.write_all(&[0u8; 16]).unwrap();
    drop(f);
    let out = faultmap(&["slices", gz.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("gzip-compressed input")
            && stderr(&out).contains("decompress it first"),
        "{}",
        stderr(&out)
    );
    let mut csv = String::from("id;prompt;label\n");
    for i in 0..40 {
        let label = if i % 4 == 0 { "fail" } else { "pass" };
        csv.push_str(&format!(
            "{i};\"question {i}, about topic {}\";{label}\n",
            i % 5
        ));
    }
    let (_dir, path) = temp_file("semi.csv", &csv);
    let out = faultmap(&["slices", &path, "-q", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["total_prompts"], 40);
    assert_eq!(report["total_failures"], 10);
    // --delimiter overrides the sniffing.
    let out = faultmap(&["slices", &path, "-q", "--delimiter", ","]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no `prompt` column"));
}

#[test]
fn counts_out_of_range_are_refused_in_words() {
    let out = faultmap(&["slices", TICKETS, "--min-slice-size", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("'--min-slice-size <N>': must be at least 2"),
        "{}",
        stderr(&out)
    );
    let out = faultmap(&["slices", TICKETS, "--dims", "5000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("must be from 2 to 4096"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn scores_out_of_a_hundred_get_the_remedy_and_read_with_score_scale() {
    let (_dir, path) = temp_file(
        "s.jsonl",
        "{\"prompt\": \"a\", \"score\": 85}\n{\"prompt\": \"b\", \"score\": 40}\n",
    );
    let out = faultmap(&["slices", &path, "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("found number 85; scores from 0 to 100? give --score-scale 100"),
        "{}",
        stderr(&out)
    );
    let out = faultmap(&[
        "slices",
        &path,
        "-q",
        "--score-scale",
        "100",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 0.85 passes and 0.40 fails at the default threshold of 0.5.
    assert_eq!(report["total_failures"], 1);
}

#[test]
fn a_run_file_given_as_the_baseline_is_named_as_such() {
    let out = faultmap(&[
        "regress",
        "check",
        "fixtures/regress_baseline.jsonl",
        "fixtures/regress_candidate_drop.jsonl",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("this looks like a run file") && err.contains("faultmap regress record"),
        "{err}"
    );
}

#[test]
fn an_unreachable_naming_endpoint_is_reported_on_stderr() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let out = common::faultmap_env(
        &[
            "slices",
            TICKETS,
            "--name-with-llm",
            "--llm-model",
            "m",
            "--api-base",
            &base,
            "--max-retries",
            "0",
            "--format",
            "json",
        ],
        &[("FAULTMAP_API_KEY", "sk-test")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: --name-with-llm: 5 of 5 kept their keyword names; first error: API request to"),
        "{err}"
    );
    assert!(!err.contains("sk-test"));
}

#[test]
fn an_input_where_nothing_can_be_found_says_why() {
    let rows = |label: &dyn Fn(usize) -> &'static str, n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"prompt\": \"question {i} about thing {}\", \"label\": \"{}\"}}\n",
                    i % 5,
                    label(i)
                )
            })
            .collect()
    };
    for (content, says) in [
        (rows(&|_| "pass", 50), "no row fails (0 of 50)"),
        (rows(&|_| "fail", 50), "every row fails (50 of 50)"),
        (
            rows(&|i| if i < 2 { "fail" } else { "pass" }, 5),
            "5 rows: a slice needs at least --min-slice-size 10 rows",
        ),
    ] {
        let (_dir, path) = temp_file("in.jsonl", &content);
        let out = faultmap(&["slices", &path, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{says}: {}", stderr(&out));
    }
}

#[test]
fn calibrating_on_a_handful_of_rows_is_warned_about() {
    let out = faultmap(&["score", RAG, "--calibrate", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("--calibrate checked its thresholds on 4 held-out rows (3 bad, 1 good)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn options_a_subcommand_ignores_are_neither_listed_nor_accepted() {
    let help = String::from_utf8(faultmap(&["coverage", "--help"]).stdout).unwrap();
    for flag in [
        "--failure-threshold",
        "--score-field",
        "--label-field",
        "--context-field",
    ] {
        assert!(!help.contains(&format!("{flag} ")), "coverage lists {flag}");
        let out = faultmap(&[&COVERAGE[..], &[flag, "x"]].concat());
        assert_eq!(out.status.code(), Some(2), "coverage accepts {flag}");
        assert!(
            stderr(&out).contains("unexpected argument"),
            "{}",
            stderr(&out)
        );
    }
    let help = String::from_utf8(faultmap(&["score", "--help"]).stdout).unwrap();
    assert!(!help.contains("--embedding-field "));
    assert!(help.contains("--context-field "));
    // score asks a chat model (--judge) but embeds nothing through the API.
    assert!(!help.contains("--embedding-model ") && !help.contains("--embedder "));
    assert!(help.contains("--llm-model "));
    // regress embeds prompts (--embedder api) but asks no LLM.
    let help = String::from_utf8(faultmap(&["regress", "record", "--help"]).stdout).unwrap();
    assert!(help.contains("--embedding-model ") && !help.contains("--llm-model "));
    let help = String::from_utf8(faultmap(&["slices", "--help"]).stdout).unwrap();
    assert!(!help.contains("--context-field "));
    assert!(help.contains("--failure-threshold "));
}

#[test]
fn completions_and_man_pages_come_from_the_same_definitions_as_help() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = faultmap(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["slices", "coverage", "min-slice-size", "fail-on-slice"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = faultmap(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.contains(".TH faultmap 1") && page.contains("slices"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = faultmap(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in [
        "faultmap.1",
        "faultmap-slices.1",
        "faultmap-regress-check.1",
    ] {
        let page = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(page.contains(".TH"), "{name}");
    }
    let page = std::fs::read_to_string(dir.path().join("faultmap-coverage.1")).unwrap();
    assert!(page.contains("min\\-coverage"), "{page}");
    let bad = faultmap(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// (tests, failures) of a JUnit document, checked to be well-formed XML.
fn junit_counts(path: &std::path::Path) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    let count = |name: &str| root.attribute(name).unwrap().parse::<usize>().unwrap();
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(failures, count("failures"), "{text}");
    (count("tests"), failures)
}

#[test]
fn every_gate_can_write_junit_and_it_fails_exactly_when_the_gate_trips() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let j = junit.to_str().unwrap();
    // Runs a command with --junit, checks its exit code, returns its JSON report.
    let run = |args: &[&str], code: i32| -> serde_json::Value {
        let out = faultmap(&[args, &["-q", "--format", "json", "--junit", j]].concat());
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let report = run(&["slices", TICKETS, "--fail-on-slice"], 1);
    let reported = report["slices"].as_array().unwrap().len();
    assert_eq!(junit_counts(&junit), (reported, reported));
    // Without the gate nothing fails, and the exit code agrees.
    run(&["slices", TICKETS], 0);
    assert_eq!(junit_counts(&junit), (reported, 0));

    let report = run(&[&COVERAGE[..], &["--min-coverage", "0.99"]].concat(), 1);
    let gaps = report["num_gaps"].as_u64().unwrap() as usize;
    assert_eq!(junit_counts(&junit), (1 + gaps, 1));
    run(&[&COVERAGE[..], &["--min-coverage", "0.1"]].concat(), 0);
    assert_eq!(junit_counts(&junit), (1 + gaps, 0));

    run(&["score", RAG, "--max-reject-rate", "0.05"], 1);
    assert_eq!(junit_counts(&junit), (1, 1));
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("8 of 17 rows"));
    run(&["score", RAG, "--max-reject-rate", "0.9"], 0);
    assert_eq!(junit_counts(&junit), (1, 0));
}

#[test]
fn every_json_report_starts_with_its_schema_and_tool_version() {
    let runs: [Vec<&str>; 5] = [
        vec!["slices", TICKETS],
        vec!["score", RAG],
        vec!["score", RAG, "--calibrate"],
        [&COVERAGE[..]].concat(),
        vec![
            "regress",
            "compare",
            "fixtures/regress_baseline.jsonl",
            "fixtures/regress_rerun.jsonl",
        ],
    ];
    for run in runs {
        let out = faultmap(&[&run[..], &["--format", "json", "-q"]].concat());
        assert_eq!(out.status.code(), Some(0), "{run:?}: {}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with(&format!(
                "{{\n  \"schema_version\": 1,\n  \"tool_version\": \"{}\",",
                env!("CARGO_PKG_VERSION")
            )),
            "{run:?}: {}",
            &text[..100]
        );
    }
}

#[test]
fn verdicts_are_coloured_only_when_asked_or_on_a_terminal() {
    let run = |extra: &[&str]| {
        let args = [
            &["regress", "compare", "fixtures/regress_baseline.jsonl"][..],
            &[
                "fixtures/regress_candidate_slice.jsonl",
                "--format",
                "table",
                "-q",
            ],
            extra,
        ]
        .concat();
        String::from_utf8(faultmap(&args).stdout).unwrap()
    };
    assert!(run(&["--color", "always"]).starts_with("\u{1b}[1;31mREGRESSION\u{1b}[0m"));
    // Piped (not a terminal): plain, as with --color never.
    assert!(run(&[]).starts_with("REGRESSION (gates: slice)"));
    assert!(!run(&["--color", "never"]).contains('\u{1b}'));
}
