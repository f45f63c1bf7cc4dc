//! The baseline file: a recorded run with its slices, as versioned JSON.
//!
//! A baseline is written only by `regress record` (never updated by a check), atomically by the
//! caller. It stores every case (id, prompt, score, pass) and each case's slices, so a check
//! compares the same slices the baseline was recorded with, whatever the embedder or
//! clustering would do on the candidate.

use super::cases::{Case, KeyKind, Run};
use super::slicing::{SliceDef, Slicing, SlicingParameters};
use crate::analysis::scan::{NeighbourGraph, StoredGraph};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The `format` field: tells a baseline from any other JSON.
pub const FORMAT: &str = "faultmap-regress-baseline";
/// Bumped on any change a reader of the previous version could misread.
pub const FORMAT_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub format: String,
    pub format_version: u64,
    /// The faultmap version that recorded it.
    pub tool_version: String,
    /// The run file it was recorded from.
    pub source: String,
    /// What pairs its cases with a candidate's.
    pub key: KeyKind,
    /// A case failed when its score was below this.
    pub failure_threshold: f64,
    /// Rows of the run file skipped as invalid when recording.
    pub skipped_rows: usize,
    pub slicing: SlicingParameters,
    pub slices: Vec<SliceDef>,
    pub cases: Vec<BaselineCase>,
    /// The regression scan's neighbour graph over `cases` (absent: recorded with `--no-scan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_graph: Option<StoredGraph>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineCase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub pass: bool,
    /// Indices into `slices`.
    pub slices: Vec<usize>,
}

impl Baseline {
    pub fn new(run: &Run, key: KeyKind, slicing: &Slicing, failure_threshold: f64) -> Self {
        let mut case_slices = vec![Vec::new(); run.cases.len()];
        for (s, members) in slicing.members.iter().enumerate() {
            for &i in members {
                case_slices[i].push(s);
            }
        }
        Baseline {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            source: run.source.clone(),
            key,
            failure_threshold,
            skipped_rows: run.skipped_rows,
            slicing: slicing.parameters.clone(),
            slices: slicing.slices.clone(),
            cases: run
                .cases
                .iter()
                .zip(case_slices)
                .map(|(c, slices)| BaselineCase {
                    id: c.id.clone(),
                    prompt: c.prompt.clone(),
                    score: c.score,
                    pass: c.pass,
                    slices,
                })
                .collect(),
            scan_graph: slicing.graph.as_ref().map(NeighbourGraph::to_stored),
        }
    }

    /// Pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Analysis(format!("cannot serialize the baseline: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Reads and checks a baseline: the format marker, a supported version, and slice indices
    /// in range. Errors name the file (and line, for malformed JSON).
    pub fn read(path: &str) -> Result<Baseline> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_slice(&bytes, path)
    }

    /// As [`Baseline::read`], from bytes; `source` names them in errors.
    pub fn from_slice(bytes: &[u8], source: &str) -> Result<Baseline> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            if looks_like_a_run(bytes) {
                return Error::input(source, None, None, RUN_NOT_BASELINE);
            }
            Error::input(
                source,
                Some(e.line()),
                None,
                format!("expected a faultmap baseline (JSON): {e}"),
            )
        })?;
        let not_baseline = |what: &str| {
            Error::input(
                source,
                None,
                Some("format"),
                format!(
                    "expected a faultmap baseline written by `faultmap regress record`, {what}"
                ),
            )
        };
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(not_baseline(&format!("found format `{other}`"))),
            None if looks_like_a_run(bytes) => {
                return Err(Error::input(source, None, None, RUN_NOT_BASELINE))
            }
            None => return Err(not_baseline("found no `format` field")),
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(Error::input(
                    source,
                    None,
                    Some("format_version"),
                    format!(
                        "baseline format version {v} is not supported: faultmap {} reads version {FORMAT_VERSION}; re-record the baseline with this version (`faultmap regress record`)",
                        env!("CARGO_PKG_VERSION")
                    ),
                ))
            }
            None => {
                return Err(Error::input(
                    source,
                    None,
                    Some("format_version"),
                    "expected a format version (a whole number)",
                ))
            }
        }
        // Read again from the bytes with the path tracked, so a schema error names its line and
        // JSON path (`cases[200].pass`), not only what serde expected.
        drop(value);
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let baseline: Baseline = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            Error::input(
                source,
                Some(inner.line()),
                Some(&path),
                format!("malformed baseline: {}", plain_serde_message(&inner)),
            )
        })?;
        for (i, case) in baseline.cases.iter().enumerate() {
            if let Some(&s) = case.slices.iter().find(|&&s| s >= baseline.slices.len()) {
                return Err(Error::input(
                    source,
                    None,
                    Some("cases"),
                    format!(
                        "malformed baseline: case {i} is in slice {s}, but there are {} slices",
                        baseline.slices.len()
                    ),
                ));
            }
            if baseline.key == KeyKind::Id && case.id.is_none() {
                return Err(Error::input(
                    source,
                    None,
                    Some("cases"),
                    format!("malformed baseline: cases are keyed by id, but case {i} has none"),
                ));
            }
        }
        if let Some(stored) = &baseline.scan_graph {
            NeighbourGraph::from_stored(stored.clone(), baseline.cases.len()).map_err(|e| {
                Error::input(
                    source,
                    None,
                    Some("scan_graph"),
                    format!("malformed baseline: {e}"),
                )
            })?;
        }
        Ok(baseline)
    }

    /// The baseline as a run, and its slices over that run's cases.
    pub fn into_run(self, source: &str) -> (Run, Slicing) {
        let mut members = vec![Vec::new(); self.slices.len()];
        for (i, case) in self.cases.iter().enumerate() {
            for &s in &case.slices {
                members[s].push(i);
            }
        }
        let run = Run {
            source: source.to_string(),
            skipped_rows: self.skipped_rows,
            cases: self
                .cases
                .into_iter()
                .map(|c| Case {
                    id: c.id,
                    prompt: c.prompt,
                    response: None,
                    score: c.score,
                    pass: c.pass,
                    groups: Vec::new(),
                    row: None,
                    line: None,
                })
                .collect(),
        };
        let cases = run.cases.len();
        let slicing = Slicing {
            slices: self.slices,
            members,
            parameters: self.slicing,
            // checked by `from_slice`
            graph: self
                .scan_graph
                .and_then(|g| NeighbourGraph::from_stored(g, cases).ok()),
        };
        (run, slicing)
    }
}

/// serde's message in words, without Rust type names or the position (given apart):
/// `invalid type: floating point `0.5`, expected a boolean`, with `struct BaselineCase` read as
/// `an object` and `u64`/`usize` as `a whole number`.
fn plain_serde_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => &message,
    };
    let mut words: Vec<String> = Vec::new();
    let mut tokens = message.split(' ').peekable();
    while let Some(t) = tokens.next() {
        match t {
            "struct" | "enum" if tokens.peek().is_some() => {
                let name = tokens.next().unwrap_or_default();
                let tail: String = name.chars().skip_while(|c| c.is_alphanumeric()).collect();
                if words.last().is_some_and(|w| w == "a" || w == "an") {
                    words.pop();
                }
                let what = if t == "struct" {
                    "an object"
                } else {
                    "one of the known values"
                };
                words.push(format!("{what}{tail}"));
            }
            _ => {
                let trimmed = t.trim_end_matches([',', '.']);
                let tail = &t[trimmed.len()..];
                let plain = match trimmed {
                    "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
                    "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
                    "f32" | "f64" => "a number",
                    other => other,
                };
                words.push(format!("{plain}{tail}"));
            }
        }
    }
    words.join(" ")
}

/// The message for a run file given where the baseline belongs.
const RUN_NOT_BASELINE: &str = "this looks like a run file (one case per row), not a baseline: \
     record one first with `faultmap regress record BASELINE RUN`, or compare two runs directly \
     with `faultmap regress compare BASELINE_RUN CANDIDATE_RUN`";

/// A run (JSON Lines whose first row is an object with a case's fields, or CSV with such a
/// header) rather than a baseline document.
fn looks_like_a_run(bytes: &[u8]) -> bool {
    const CASE_FIELDS: &[&str] = &["id", "prompt", "score", "label", "response"];
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(1 << 20)]);
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    let first = first.trim_start_matches('\u{feff}');
    if first.starts_with('{') {
        return match serde_json::from_str::<serde_json::Value>(first) {
            Ok(serde_json::Value::Object(row)) => {
                !row.contains_key("format") && CASE_FIELDS.iter().any(|f| row.contains_key(*f))
            }
            _ => false,
        };
    }
    // A CSV header naming case fields.
    first
        .split([',', '\t', ';'])
        .any(|c| CASE_FIELDS.contains(&c.trim().trim_matches('"')))
}
