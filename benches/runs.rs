//! Repeated benchmark runs: each in a child process (so peak memory is the run's own), whose
//! `RESULT key=value ...` line is parsed into fields, and the median of each field.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

use std::ffi::OsStr;
use std::process::Command;

/// The `key=value` pairs of one run, in the order printed.
pub type Fields = Vec<(String, f64)>;

/// The value of `key`, NaN when absent.
pub fn field(fields: &Fields, key: &str) -> f64 {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map_or(f64::NAN, |f| f.1)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs this benchmark binary again with `args` and parses its `RESULT` line; `None` (with
/// the child's stderr on ours) when it printed none. `label` names the run in messages.
pub fn run_child<S: AsRef<OsStr>>(args: &[S], label: &str) -> Option<Fields> {
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(exe).args(args).output().expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
        eprintln!(
            "{label} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    };
    eprintln!("{label}: {line}");
    Some(
        line.split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
            .collect(),
    )
}

/// The runs of one size, then their median (of each column separately).
pub fn with_median(runs: &[Fields]) -> Vec<(String, Fields)> {
    let mut out: Vec<(String, Fields)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| ((i + 1).to_string(), r.clone()))
        .collect();
    if runs.len() > 1 {
        let median_fields = runs[0]
            .iter()
            .map(|(k, _)| {
                (
                    k.clone(),
                    median(runs.iter().map(|r| field(r, k)).collect()),
                )
            })
            .collect();
        out.push((format!("**median of {}**", runs.len()), median_fields));
    }
    out
}
