//! What the benchmarks that run the real `faultmap` binary on seeded files share (`--planted`,
//! `--planted-gaps`): their common options (`--seeds`, `--first-seed`, `--config`, `--binary`,
//! `--data`, `--details`, `--keep`/`--no-keep`), one run of a configuration as a child process
//! with its wall time and peak RSS, and the formatting of shares in their tables.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

use faultmap::stats::wilson_interval;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub fn fail(message: String) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

/// One configuration: a `faultmap` binary and the arguments appended to its command.
pub struct Config {
    pub name: String,
    pub binary: PathBuf,
    pub args: Vec<String>,
}

/// The options every seeded benchmark takes.
pub struct SeedOptions {
    pub data: PathBuf,
    pub seeds: u64,
    pub first_seed: u64,
    pub keep: bool,
    pub details: Option<PathBuf>,
    pub configs: Vec<Config>,
}

/// Options read but not yet checked: [`Parsed::finish`] resolves the configurations.
pub struct Parsed {
    options: SeedOptions,
    binary: PathBuf,
    raw_configs: Vec<(String, Option<PathBuf>, Vec<String>)>,
}

/// Reads the common options of `args` (from index 1). `own` are the benchmark's other options
/// (a `--config`'s ARGS run up to the next option of the benchmark); `other(i)` handles
/// `args[i]` when it is one of them and returns the index of the last argument it used, or
/// `None` for an unknown option (an error naming `flag`).
pub fn parse_options(
    args: &[String],
    flag: &str,
    own: &[&str],
    mut other: impl FnMut(usize) -> Option<usize>,
) -> Parsed {
    const COMMON: [&str; 8] = [
        "--seeds",
        "--first-seed",
        "--keep",
        "--no-keep",
        "--details",
        "--data",
        "--binary",
        "--config",
    ];
    let is_own = |a: &str| COMMON.contains(&a) || own.contains(&a);
    let mut p = Parsed {
        options: SeedOptions {
            data: std::env::var_os("FAULTMAP_SHARED_DATA")
                .map_or_else(|| PathBuf::from("../shared/data"), PathBuf::from),
            seeds: 20,
            first_seed: 1,
            keep: true,
            details: None,
            configs: Vec::new(),
        },
        binary: std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("faultmap")))
            .unwrap_or_else(|| PathBuf::from("faultmap")),
        raw_configs: Vec::new(),
    };
    let o = &mut p.options;
    let mut i = 1;
    let value = |i: usize| -> String {
        args.get(i + 1)
            .filter(|v| !v.starts_with("--"))
            .cloned()
            .unwrap_or_else(|| fail(format!("{} takes a value", args[i])))
    };
    let number = |i: usize| -> u64 {
        value(i)
            .parse()
            .unwrap_or_else(|_| fail(format!("{} takes a number", args[i])))
    };
    while i < args.len() {
        match args[i].as_str() {
            "--seeds" => (o.seeds, i) = (number(i), i + 1),
            "--first-seed" => (o.first_seed, i) = (number(i), i + 1),
            "--keep" => o.keep = true,
            "--no-keep" => o.keep = false,
            "--details" => (o.details, i) = (Some(value(i).into()), i + 1),
            "--data" => (o.data, i) = (value(i).into(), i + 1),
            "--binary" => (p.binary, i) = (value(i).into(), i + 1),
            "--config" => {
                let spec = args
                    .get(i + 1)
                    .unwrap_or_else(|| fail("--config takes NAME=ARGS".into()));
                let (head, first) = spec
                    .split_once('=')
                    .unwrap_or_else(|| fail(format!("--config {spec:?}: expected NAME=ARGS")));
                let mut extra: Vec<String> = first.split_whitespace().map(str::to_string).collect();
                i += 1;
                while let Some(next) = args.get(i + 1).filter(|a| !is_own(a)) {
                    extra.extend(next.split_whitespace().map(str::to_string));
                    i += 1;
                }
                let (name, bin) = match head.split_once('@') {
                    Some((n, b)) => (n.to_string(), Some(PathBuf::from(b))),
                    None => (head.to_string(), None),
                };
                p.raw_configs.push((name, bin, extra));
            }
            a => match other(i) {
                Some(last) => i = last,
                None => fail(format!("unknown option {a:?} for {flag}")),
            },
        }
        i += 1;
    }
    p
}

impl Parsed {
    /// The options with their configurations (one `default` with no arguments when none was
    /// given), after checking that every binary and the data directory exist.
    pub fn finish(mut self) -> SeedOptions {
        if self.raw_configs.is_empty() {
            self.raw_configs.push(("default".into(), None, Vec::new()));
        }
        for (name, bin, args) in self.raw_configs {
            let binary = bin.unwrap_or_else(|| self.binary.clone());
            if !binary.exists() {
                fail(format!(
                    "no binary at {} (cargo build --release, or --binary PATH)",
                    binary.display()
                ));
            }
            self.options.configs.push(Config { name, binary, args });
        }
        if !self.options.data.is_dir() {
            fail(format!(
                "no corpus directory at {} (give --data DIR or set FAULTMAP_SHARED_DATA)",
                self.options.data.display()
            ));
        }
        self.options
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut text);
        }
        text
    })
}

/// A finished run of a configuration.
pub struct Finished {
    pub secs: f64,
    pub peak_mib: f64,
    pub stdout: String,
}

/// Runs `config`'s binary with `command`, then the config's own arguments, then `extra`; an
/// error unless it exits with 0.
pub fn run<S: AsRef<OsStr>>(
    config: &Config,
    command: impl IntoIterator<Item = S>,
    extra: &[&str],
) -> Result<Finished, String> {
    let started = Instant::now();
    let mut child = Command::new(&config.binary)
        .args(command)
        .args(&config.args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", config.binary.display()))?;
    // Read both pipes while the child runs (a large report would fill a pipe and block it).
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data (all zeros is valid); wait4 reaps our own child, whose
    // `Child` is never waited on again, and writes only through the two valid pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = started.elapsed().as_secs_f64();
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    if waited != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("exit status {status}: {}", stderr.trim()));
    }
    Ok(Finished {
        secs,
        // Linux reports ru_maxrss in KiB.
        peak_mib: usage.ru_maxrss as f64 / 1024.0,
        stdout,
    })
}

/// k/n with its 95% Wilson interval.
pub fn wilson(k: u64, n: u64) -> String {
    if n == 0 {
        return "-".into();
    }
    let (lo, hi) = wilson_interval(k, n, 0.95);
    format!("{:.2} [{lo:.2}, {hi:.2}]", k as f64 / n as f64)
}

pub fn share(k: usize, n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{:.2}", k as f64 / n as f64)
    }
}

/// A markdown table row.
pub fn row(cells: &[String]) -> String {
    format!("| {} |", cells.join(" | "))
}

/// A labelled corpus read from JSONL: the prompts, and for each group (`metadata.<key>`, in
/// sorted order) its parent (`metadata.<parent_key>`) and rows. CLINC150's out-of-scope rows
/// (`metadata.in_scope` not true) are left out when `in_scope_only`.
pub struct Grouped {
    pub prompts: Vec<String>,
    pub groups: BTreeMap<String, (String, Vec<usize>)>,
}

pub fn read_grouped(path: &Path, key: &str, parent_key: &str, in_scope_only: bool) -> Grouped {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", path.display())));
    let mut prompts = Vec::new();
    let mut groups: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| fail(format!("{}:{}: {e}", path.display(), line_no + 1)));
        let meta = &row["metadata"];
        if in_scope_only && meta["in_scope"] != Value::Bool(true) {
            continue;
        }
        let (Some(prompt), Some(group), Some(parent)) = (
            row["prompt"].as_str(),
            meta[key].as_str(),
            meta[parent_key].as_str(),
        ) else {
            fail(format!(
                "{}:{}: needs prompt, metadata.{key} and metadata.{parent_key}",
                path.display(),
                line_no + 1
            ))
        };
        let entry = groups
            .entry(group.to_string())
            .or_insert_with(|| (parent.to_string(), Vec::new()));
        entry.1.push(prompts.len());
        prompts.push(prompt.to_string());
    }
    Grouped { prompts, groups }
}
