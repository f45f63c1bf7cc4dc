//! A mutation fuzzer for the parsers that read untrusted files: the JSONL/CSV reader (as every
//! subcommand configures it), the baseline loader and the score configuration loader. Each
//! case mutates a real fixture (bit flips, byte edits, spliced tokens, chunk copies, cuts) and
//! must come back `Ok` or as an error with a message: never a panic.
//!
//! `cargo test` runs a fixed-seed pass of a few thousand cases (seconds). Longer runs:
//!
//!     FAULTMAP_FUZZ_SECONDS=3600 cargo test --release --test fuzz_inputs -- --nocapture
//!
//! runs each target for that many seconds (the seed is the time unless FAULTMAP_FUZZ_SEED is
//! set) and prints the number of executions; a failing case is written to
//! `target/fuzz-failure-*` and its seed printed, so it can be replayed with
//! FAULTMAP_FUZZ_SEED. A case that runs over 30 seconds is a hang: its input is written to
//! `target/fuzz-hang-*` and the test process exits with an error. `.ci/run` runs 20 seconds
//! per target with a fixed seed.
//!
//! Stable Rust, no cargo-fuzz: the harness must run wherever the tests do. Written by hand
//! because the mutations are a screenful; coverage guidance is what cargo-fuzz would add.

use faultmap::analysis::regress::baseline::Baseline;
use faultmap::analysis::score::config::ScoreConfig;
use faultmap::input::{read_from_reader, InputFormat, ReadOptions, Requirements};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cases per target in the default (fixed-seed) pass.
const DEFAULT_CASES: usize = 1500;

/// Tokens worth splicing into JSON, CSV and TOML: delimiters, escapes, extreme numbers,
/// control and multi-byte characters, field names the readers look for.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"=",
    b"null",
    b"true",
    b"1e308",
    b"-1e308",
    b"1e-320",
    b"NaN",
    b"-0",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"\x00",
    b"\x1b[31m",
    b"\xff\xfe",
    b"\xe2\x80\xae",
    b"\"prompt\"",
    b"\"label\"",
    b"\"score\"",
    b"\"embedding\":[1,2]",
    b"\"embedding\":[]",
    b"\"response\"",
    b"\"context\"",
    b"\"id\"",
    b"\"cases\"",
    b"\"slices\"",
    b"\"scan_graph\"",
    b"pass",
    b"fail",
];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// One mutation of `input`, or a few stacked.
fn mutate(input: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = data.len();
        let at = if len == 0 { 0 } else { rng.gen_range(0..len) };
        match rng.gen_range(0..8) {
            0 if len > 0 => data[at] ^= 1 << rng.gen_range(0..8),
            1 if len > 0 => data[at] = rng.gen(),
            2 if len > 0 => {
                let end = (at + rng.gen_range(1..64)).min(len);
                data.drain(at..end);
            }
            3 => {
                let token = TOKENS[rng.gen_range(0..TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            4 if len > 0 => {
                // copy a chunk elsewhere (repeats fields, rows, brackets)
                let end = (at + rng.gen_range(1..256)).min(len);
                let chunk = data[at..end].to_vec();
                let to = rng.gen_range(0..=data.len());
                data.splice(to..to, chunk);
            }
            5 => data.truncate(at),
            6 if len > 0 => {
                // a long run of one byte (long lines, deep nesting)
                let byte = [b'[', b'{', b'a', b' ', b'9'][rng.gen_range(0..5)];
                let n = rng.gen_range(1..4096);
                data.splice(at..at, std::iter::repeat_n(byte, n));
            }
            _ => {
                let token = TOKENS[rng.gen_range(0..TOKENS.len())];
                let end = (at + token.len()).min(len);
                data.splice(at..end, token.iter().copied());
            }
        }
    }
    data
}

/// The read options of each subcommand's inputs.
fn reader_options() -> Vec<ReadOptions> {
    let slices = ReadOptions {
        requirements: Requirements {
            outcome: true,
            ..Requirements::default()
        },
        ..ReadOptions::default()
    };
    let score = ReadOptions {
        requirements: Requirements {
            response: true,
            ..Requirements::default()
        },
        skip_outcomes: true,
        ..ReadOptions::default()
    };
    let coverage = ReadOptions::default().with_weight_field("count");
    let csv = ReadOptions {
        format: Some(InputFormat::Csv),
        skip_invalid: true,
        ..slices.clone()
    };
    let lenient = ReadOptions {
        skip_invalid: true,
        label_words: vec![("attributable".into(), true)],
        ..slices.clone()
    };
    vec![slices, score, coverage, csv, lenient]
}

/// A case running longer than this is a hang.
const HANG_SECONDS: u64 = 30;

/// What the watchdog sees: how many cases started, the current input, whether fuzzing ended.
#[derive(Default)]
struct Watch {
    started: AtomicUsize,
    input: Mutex<Vec<u8>>,
    finished: AtomicBool,
}

impl Watch {
    fn start(&self, input: &[u8]) {
        *self.input.lock().unwrap() = input.to_vec();
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    /// Polls until fuzzing ends; if one case runs past [`HANG_SECONDS`], saves its input to
    /// `target/fuzz-hang-<name>` and exits the test process with an error.
    fn run(&self, name: &str, seed: u64) {
        let mut last = (usize::MAX, Instant::now());
        while !self.finished.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            let started = self.started.load(Ordering::SeqCst);
            if started != last.0 {
                last = (started, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(HANG_SECONDS) {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("fuzz-hang-{name}"));
                let _ = std::fs::write(&path, &*self.input.lock().unwrap());
                println!("{name}: case {started} (seed {seed}) ran over {HANG_SECONDS} s; input in {path:?}");
                std::process::exit(1);
            }
        }
    }
}

/// Runs `target` on mutations of `seeds` until the case budget or the time is spent; panics
/// (with the seed and a saved input) on the first case that panics.
fn fuzz(name: &str, seeds: &[Vec<u8>], target: impl Fn(&[u8])) {
    let seconds: Option<u64> = std::env::var("FAULTMAP_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed: u64 = std::env::var("FAULTMAP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| match seconds {
            Some(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            None => 20261206,
        });
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut executions = 0usize;
    // A hang is a finding too: a watchdog saves the current input and exits when one case
    // runs past HANG_SECONDS.
    let watch = Arc::new(Watch::default());
    let watchdog = {
        let watch = Arc::clone(&watch);
        let name = name.to_string();
        std::thread::spawn(move || watch.run(&name, seed))
    };
    // Panics are the finding; keep the default hook from printing each caught one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failure = None;
    loop {
        let done = match deadline {
            Some(d) => Instant::now() >= d,
            None => executions >= DEFAULT_CASES,
        };
        if done {
            break;
        }
        let input = mutate(&seeds[rng.gen_range(0..seeds.len())], &mut rng);
        executions += 1;
        watch.start(&input);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failure = Some((input, message));
            break;
        }
    }
    std::panic::set_hook(hook);
    watch.finished.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    if let Some((input, message)) = failure {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("fuzz-failure-{name}"));
        let _ = std::fs::write(&path, &input);
        panic!("{name}: case {executions} (seed {seed}) panicked ({message}); input in {path:?}");
    }
    println!("fuzz {name}: {executions} executions without a panic (seed {seed})");
}

#[test]
fn the_input_reader_never_panics() {
    let seeds: Vec<Vec<u8>> = [
        "fixtures/support_tickets.jsonl",
        "fixtures/rag_answers.jsonl",
        "fixtures/coverage_production.jsonl",
        "fixtures/regress_lean_baseline.jsonl",
    ]
    .iter()
    .map(|f| fixture(f).into_iter().take(6000).collect())
    .chain([b"prompt,label,score\nhello,pass,0.9\n\"a, \"\"b\"\"\",fail,0.1\n".to_vec()])
    .collect();
    let options = reader_options();
    fuzz("reader", &seeds, |bytes| {
        for o in &options {
            if let Err(e) = read_from_reader(bytes, "fuzz", o) {
                assert!(!e.to_string().is_empty());
            }
        }
    });
}

#[test]
fn the_baseline_loader_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultmap"))
        .args(["regress", "record", path.to_str().unwrap()])
        .arg("fixtures/regress_lean_baseline.jsonl")
        .args(["--prompts", "fixtures/regress_prompts.jsonl", "-q"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let seeds = vec![std::fs::read(&path).unwrap()];
    fuzz("baseline", &seeds, |bytes| {
        if let Err(e) = Baseline::from_slice(bytes, "fuzz") {
            assert!(!e.to_string().is_empty());
        }
    });
}

#[test]
fn the_score_config_loader_never_panics() {
    let seeds = vec![
        fixture("fixtures/score_judge_gates.toml"),
        ScoreConfig::default()
            .to_toml("# fuzz seed")
            .unwrap()
            .into_bytes(),
    ];
    fuzz("score-config", &seeds, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        if let Err(e) = ScoreConfig::from_toml(&text, "fuzz") {
            assert!(!e.to_string().is_empty());
        }
    });
}

/// The harness itself: a target that panics on some inputs is caught and reported.
#[test]
#[should_panic(expected = "panicked (a long input); input in")]
fn the_harness_reports_a_panicking_target() {
    fuzz("self-check", &[b"{\"a\": 1}".to_vec()], |bytes| {
        assert!(bytes.len() < 12, "a long input");
    });
}
