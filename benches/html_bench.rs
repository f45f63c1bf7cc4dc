//! The HTML report's cost at scale (issue 19's aims at 100k rows: written in < 3 s beyond the
//! analysis, ≤ 10 MB, open in Chromium in < 2 s).
//!
//! On the synthetic support-ticket rows of the `slices` benchmark (`bench-data/rowsN.jsonl`),
//! each of `--runs` rounds runs the real binary (`--binary PATH`, default `faultmap` next to
//! this one) twice, `slices FILE -q --format json -o F.json` and `slices FILE -q -o F.html`:
//! the difference of the wall times is what the page costs beyond the analysis (the JSON
//! writer's own time is small). With `FAULTMAP_CHROMIUM` set (`.ci/chromium` sets it), each
//! round then opens the page and a tiny page in headless Chromium (`--dump-dom`, which waits
//! until the page's script ran): the difference is the page's own load, the browser's start
//! excluded. Medians of the rounds; the rounds alternate the commands so a busy spell on the
//! shared machine hits both.

use crate::runs::median;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Chromium headless, with nothing that reaches the network (as tests/browser.rs).
const CHROMIUM_FLAGS: &str = "--headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync";

/// CPU seconds (user and system) of the children this process has waited for.
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Wall and CPU seconds of `cmd` (its descendants included), which must succeed.
fn timed(cmd: &mut Command, what: &str) -> [f64; 2] {
    let (started, cpu) = (Instant::now(), children_cpu());
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let times = [started.elapsed().as_secs_f64(), children_cpu() - cpu];
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    times
}

/// Wall and CPU seconds for Chromium to open `page` and print its DOM.
fn open_in_chromium(browser: &Path, page: &Path) -> [f64; 2] {
    let profile = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}", page.canonicalize().expect("page").display());
    timed(
        Command::new(browser)
            .args(CHROMIUM_FLAGS.split(' '))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--dump-dom", &url]),
        &format!("chromium --dump-dom {url}"),
    )
}

pub fn main(rows: usize, runs: usize, binary: &Path) {
    let dir = PathBuf::from("bench-data");
    std::fs::create_dir_all(&dir).expect("create bench-data/");
    let input = dir.join(format!("rows{rows}.jsonl"));
    if !input.exists() {
        crate::generate(&input, rows, None).expect("write benchmark data");
    }
    let (json, html) = (
        dir.join(format!("html{rows}.json")),
        dir.join(format!("html{rows}.html")),
    );
    let tiny = dir.join("tiny.html");
    std::fs::write(&tiny, "<!DOCTYPE html>\n<title>t</title><p>x</p>\n").expect("write");
    let browser = std::env::var_os("FAULTMAP_CHROMIUM")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if browser.is_none() {
        eprintln!(
            "FAULTMAP_CHROMIUM is not set: the page is not opened (run through .ci/chromium)"
        );
    }
    let slices = |out: &Path| {
        let mut cmd = Command::new(binary);
        cmd.arg("slices").arg(&input).arg("-q").arg("-o").arg(out);
        if out.extension().is_some_and(|e| e == "json") {
            cmd.args(["--format", "json"]);
        }
        cmd
    };
    println!(
        "| round | json s | html s | html - json s | json CPU s | html CPU s | html - json CPU s \
         | page MB | Chromium page s | Chromium tiny s | open s | open CPU s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut columns: [Vec<f64>; COLUMNS] = Default::default();
    for round in 1..=runs {
        let json_t = timed(&mut slices(&json), "slices --format json");
        let html_t = timed(&mut slices(&html), "slices -o .html");
        let mb = std::fs::metadata(&html).expect("page").len() as f64 / 1e6;
        let (page_t, tiny_t) = match &browser {
            Some(b) => (open_in_chromium(b, &html), open_in_chromium(b, &tiny)),
            None => ([f64::NAN; 2], [f64::NAN; 2]),
        };
        let row = [
            json_t[0],
            html_t[0],
            html_t[0] - json_t[0],
            json_t[1],
            html_t[1],
            html_t[1] - json_t[1],
            mb,
            page_t[0],
            tiny_t[0],
            page_t[0] - tiny_t[0],
            page_t[1] - tiny_t[1],
        ];
        print_row(&round.to_string(), &row);
        for (c, v) in columns.iter_mut().zip(row) {
            c.push(v);
        }
    }
    if runs > 1 {
        print_row(&format!("**median of {runs}**"), &columns.map(median));
    }
}

const COLUMNS: usize = 11;

fn print_row(label: &str, row: &[f64; COLUMNS]) {
    let cells: Vec<String> = row.iter().map(|v| format!("{v:.2}")).collect();
    println!("| {label} | {} |", cells.join(" | "));
}
