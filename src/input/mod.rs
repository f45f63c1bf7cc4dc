//! The shared reader: JSONL or CSV (or stdin) into typed [`Record`]s, with precise errors.
//!
//! Every subcommand reads through [`read_dataset`]; what a subcommand needs from each row
//! (an outcome, a response, ...) is stated in [`Requirements`].

use crate::error::Result;
use serde_json::{Map, Value};

/// Where each field lives in a row: a column name or a dotted path (`metadata.category`).
#[derive(Debug, Clone)]
pub struct FieldNames {
    pub id: String,
    pub prompt: String,
    pub response: String,
    pub score: String,
    pub label: String,
    pub embedding: String,
    pub context: String,
    pub reference: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            id: "id".into(),
            prompt: "prompt".into(),
            response: "response".into(),
            score: "score".into(),
            label: "label".into(),
            embedding: "embedding".into(),
            context: "context".into(),
            reference: "reference".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Jsonl,
    Csv,
}

/// What every row must carry for the subcommand at hand.
#[derive(Debug, Clone, Copy, Default)]
pub struct Requirements {
    /// A pass/fail outcome from `score` or `label` (slices, regress).
    pub outcome: bool,
    /// A non-null `response` (score).
    pub response: bool,
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub fields: FieldNames,
    /// `None`: chosen from the extension (`.csv`, `.tsv` → CSV, else JSONL); for stdin, sniffed.
    pub format: Option<InputFormat>,
    /// A row fails when `score < failure_threshold`.
    pub failure_threshold: f64,
    /// Skip bad rows (counted in [`Dataset::skipped`]) instead of stopping at the first.
    pub skip_invalid: bool,
    pub requirements: Requirements,
    /// Keep the whole row in `Record::raw` (costs memory; `score` echoes rows).
    pub keep_raw: bool,
    /// Dotted paths extracted into `Record::extra`, in this order (`--group-by`).
    pub extra_fields: Vec<String>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            fields: FieldNames::default(),
            format: None,
            failure_threshold: 0.5,
            skip_invalid: false,
            requirements: Requirements::default(),
            keep_raw: false,
            extra_fields: vec![],
        }
    }
}

/// One input row, typed.
#[derive(Debug, Clone)]
pub struct Record {
    /// 0-based position among the data rows of the input (header excluded, blank JSONL lines
    /// excluded, skipped invalid rows *included*), so indices in reports point back into the file.
    pub row: usize,
    /// 1-based line in the file where the row starts.
    pub line: usize,
    pub id: Option<String>,
    pub prompt: String,
    pub response: Option<String>,
    /// In [0, 1], higher is better.
    pub score: Option<f64>,
    /// `Some(true)` = pass.
    pub label: Option<bool>,
    /// Pass/fail after applying the threshold to `score` (wins) or taking `label`.
    pub failed: Option<bool>,
    /// A string or an array of passages, as given.
    pub context: Option<Value>,
    pub reference: Option<String>,
    pub embedding: Option<Vec<f32>>,
    /// The whole row as an object (CSV: column name → string), for `--group-by` and pass-through.
    pub raw: Map<String, Value>,
    /// Values of `ReadOptions::extra_fields`, in order (`None` when absent).
    pub extra: Vec<Option<Value>>,
}

/// A bad row that `--skip-invalid` passed over.
#[derive(Debug, Clone)]
pub struct SkippedRow {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    /// Display name of the source (`path` or `<stdin>`).
    pub source: String,
    pub records: Vec<Record>,
    pub skipped: Vec<SkippedRow>,
    /// Warnings to show once on stderr (e.g. "both score and label present: score wins").
    pub warnings: Vec<String>,
}

impl Dataset {
    /// True when every record carries an embedding (all of the same dimension, checked on read).
    pub fn has_embeddings(&self) -> bool {
        !self.records.is_empty() && self.records.iter().all(|r| r.embedding.is_some())
    }
}

/// Reads `path` (`-` for stdin) into a [`Dataset`].
///
/// Errors name the file, line and field and say what was expected. An input with no rows is
/// an error.
pub fn read_dataset(path: &str, options: &ReadOptions) -> Result<Dataset> {
    let _ = (path, options);
    todo!("implemented by the input module")
}

/// Looks up a dotted path (`metadata.category`) in a JSON object. A key that itself contains
/// dots (`"metadata.category": ...`) is found first.
pub fn lookup<'a>(row: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = row.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = row.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}
