//! Helpers shared by the integration tests: running the built binary, reading its output,
//! and finding the datasets in `../shared/data`.
// Each test crate uses a different subset of these.
#![allow(dead_code)]

pub mod fake_api;
pub mod html;
pub mod schema;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// The strings of a JSON array (panics on anything else: a test's report is malformed).
pub fn string_array(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Runs `faultmap` from the crate root.
pub fn faultmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultmap"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run faultmap")
}

/// Runs `faultmap` with extra environment variables (and no API key or base from the
/// caller's environment).
pub fn faultmap_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultmap"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("FAULTMAP_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("FAULTMAP_API_BASE")
        .env_remove("FAULTMAP_EMBEDDING_API_BASE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run faultmap")
}

/// Runs `faultmap` with `stdin` as its standard input.
pub fn faultmap_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultmap"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run faultmap");
    // A command that fails before reading stdin (a usage error) closes the pipe: not a failure
    // of the test, which then checks the exit code.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    child.wait_with_output().expect("wait for faultmap")
}

/// Runs `faultmap`, asserts exit code 0, and returns stdout and the wall time in seconds.
pub fn faultmap_ok_timed(args: &[&str]) -> (Vec<u8>, f64) {
    let started = Instant::now();
    let out = faultmap(args);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(
        out.status.code(),
        Some(0),
        "faultmap {args:?} failed: {}",
        stderr(&out)
    );
    (out.stdout, secs)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr: {}\nstdout: {}",
            stderr(out),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `../shared/data/<rel>` when it exists (CI has it beside the clone; a fresh clone may not).
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    path.exists().then_some(path)
}
