//! Project defaults (issue 17): `faultmap.toml` in the working directory, or `--defaults FILE`,
//! sets options per command; the command line wins; mistakes in the file are errors that name
//! its line.

use crate::common;

use common::stderr;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `faultmap` in a fresh directory holding `faultmap.toml` with `toml`.
fn run_with(toml: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("faultmap.toml"), toml).unwrap();
    Command::new(env!("CARGO_BIN_EXE_faultmap"))
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("run faultmap")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

const SLICES_GATE: &str =
    "[slices]\nmin-slice-size = 25\nfail-on-slice = true\nformat = \"json\"\n";

#[test]
fn the_project_file_sets_options_and_says_so() {
    let tickets = fixture("support_tickets.jsonl");
    let out = run_with(SLICES_GATE, &["slices", &tickets]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("faultmap: options from faultmap.toml: --fail-on-slice --format=json --min-slice-size=25"),
        "{err}"
    );
    assert!(err.contains("gate: --fail-on-slice"), "{err}");
    let report = json(&out);
    for slice in report["slices"].as_array().unwrap() {
        assert!(slice["size"].as_u64().unwrap() >= 25, "{slice}");
    }
    // -q keeps the gate line and drops the announcement.
    let out = run_with(SLICES_GATE, &["slices", &tickets, "-q"]);
    assert!(!stderr(&out).contains("options from"), "{}", stderr(&out));
}

#[test]
fn the_command_line_wins_and_no_defaults_ignores_the_file() {
    let tickets = fixture("support_tickets.jsonl");
    let out = run_with(
        SLICES_GATE,
        &["slices", &tickets, "--min-slice-size", "60", "-q"],
    );
    for slice in json(&out)["slices"].as_array().unwrap() {
        assert!(slice["size"].as_u64().unwrap() >= 60, "{slice}");
    }
    let out = run_with(
        SLICES_GATE,
        &["--no-defaults", "slices", &tickets, "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("options from"), "{}", stderr(&out));
    // A file named on the command line instead of the project one.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("ci.toml");
    std::fs::write(&other, "[slices]\nformat = \"markdown\"\n").unwrap();
    let out = run_with(
        SLICES_GATE,
        &[
            "slices",
            &tickets,
            "--defaults",
            other.to_str().unwrap(),
            "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with('#'));
}

#[test]
fn tables_layer_from_general_to_specific() {
    let baseline = fixture("regress_baseline.jsonl");
    let candidate = fixture("regress_candidate_drop.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let stored = dir.path().join("base.json");
    let stored = stored.to_str().unwrap();
    // Top level: every command with --format; [regress]: every action with the option;
    // [regress.check]: check only, and it wins over the top level.
    let toml = "format = \"markdown\"\n[regress]\nmin-slice-size = 12\n\
                [regress.check]\nformat = \"json\"\nfail-on = [\"global\", \"missing\"]\n";
    let out = run_with(toml, &["regress", "record", stored, &baseline]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--min-slice-size=12"),
        "{}",
        stderr(&out)
    );
    let out = run_with(toml, &["regress", "check", stored, &candidate]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "options from faultmap.toml: --fail-on=global --fail-on=missing --format=json"
        ),
        "{err}"
    );
    assert_eq!(json(&out)["verdict"], "regression");
}

#[test]
fn mistakes_in_the_file_name_its_line() {
    let tickets = fixture("support_tickets.jsonl");
    let cases = [
        (
            "[slices]\nmin-slice-sise = 4\n",
            "faultmap.toml:2: `min-slice-sise` is not an option of faultmap slices; did you mean `min-slice-size`?",
        ),
        (
            "[slicez]\n",
            "faultmap.toml:1: [slicez] is not a faultmap command with options",
        ),
        (
            // Checked on every run, not only by the command it is for.
            "[coverage]\nfailure-threshold = 0.5\n",
            "faultmap.toml:2: `failure-threshold` is not an option of faultmap coverage",
        ),
        (
            "[slices]\nfail-on-slice = \"yes\"\n",
            "faultmap.toml:2: `fail-on-slice` is a switch",
        ),
        (
            "[slices]\nmin-slice-size = [4, 5]\n",
            "faultmap.toml:2: `min-slice-size` takes one value, not a list",
        ),
        ("[slices\n", "faultmap.toml:1: unclosed table"),
        (
            // A value clap refuses: its message, then where the value came from.
            "\n[slices]\nmin-slice-size = 0\n",
            "note: --min-slice-size comes from faultmap.toml line 3 ([slices] min-slice-size)",
        ),
        (
            "[slices]\nembedder = \"nope\"\n",
            "note: --embedder comes from faultmap.toml line 2",
        ),
    ];
    for (toml, expected) in cases {
        let out = run_with(toml, &["slices", &tickets, "-q"]);
        assert_eq!(out.status.code(), Some(2), "{toml}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{toml}: {}", stderr(&out));
    }
    // A value error: clap's own message comes first.
    let out = run_with("[slices]\nmin-slice-size = 0\n", &["slices", &tickets]);
    assert!(
        stderr(&out).contains("must be at least 2"),
        "{}",
        stderr(&out)
    );
}
