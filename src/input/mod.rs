//! The shared reader: JSONL or CSV (or stdin) into typed [`Record`]s, with precise errors.
//!
//! Every subcommand reads through [`read_dataset`]; what a subcommand needs from each row
//! (an outcome, a response, ...) is stated in [`Requirements`].
//!
//! Rules, for both formats:
//! - Fields are found by name ([`FieldNames`]); JSONL names may be dotted paths into nested
//!   objects (see [`lookup`]), CSV names match a (trimmed) header literally, dots included.
//! - `null` (JSONL) or an empty cell (CSV) is an absent value. `id` and `reference` may be
//!   strings or numbers (numbers kept as their JSON text). `context` is a string or an array;
//!   a CSV cell holding a JSON array of strings becomes that array.
//! - Pass/fail: `score` (number in [0, 1]; CSV cells are parsed, whitespace ignored) fails when
//!   below [`ReadOptions::failure_threshold`]; else `label` (boolean, 0/1, or pass/fail,
//!   true/false, correct/incorrect, yes/no, good/bad, faithful/hallucinated in any case). Both present: the score decides, and
//!   one warning says so. A label is still checked when a score is present.
//! - Embeddings: the first valid row decides whether rows carry one and of what dimension;
//!   a later row that differs is a bad row (skippable) naming that first line.
//! - A bad row stops the read with an [`Error::Input`] naming file, line and field, unless
//!   [`ReadOptions::skip_invalid`]; a bad CSV header (no prompt column, or no column a
//!   requirement needs) always stops it. [`Record::row`] counts skipped rows too.
//! - `raw` / `extra` from CSV hold cells as JSON strings; an empty cell is `""` (not `null`),
//!   so group-by keeps "empty" as its own group. From JSONL, `extra` is `None` for missing or
//!   `null`. An extra field found in no row gives a warning.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::io::Read;
use values::Bad;

mod csv;
mod jsonl;
mod sniff;
mod values;

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

/// A field a command-line flag can name (`--context-field`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Prompt,
    Response,
    Score,
    Label,
    Embedding,
    Context,
    Reference,
}

impl Field {
    /// The flag that names it.
    pub fn flag(self) -> &'static str {
        match self {
            Field::Id => "--id-field",
            Field::Prompt => "--prompt-field",
            Field::Response => "--response-field",
            Field::Score => "--score-field",
            Field::Label => "--label-field",
            Field::Embedding => "--embedding-field",
            Field::Context => "--context-field",
            Field::Reference => "--reference-field",
        }
    }

    /// Where its path is kept, to set it.
    pub fn path_mut(self, names: &mut FieldNames) -> &mut String {
        match self {
            Field::Id => &mut names.id,
            Field::Prompt => &mut names.prompt,
            Field::Response => &mut names.response,
            Field::Score => &mut names.score,
            Field::Label => &mut names.label,
            Field::Embedding => &mut names.embedding,
            Field::Context => &mut names.context,
            Field::Reference => &mut names.reference,
        }
    }

    fn path(self, names: &FieldNames) -> &str {
        match self {
            Field::Id => &names.id,
            Field::Prompt => &names.prompt,
            Field::Response => &names.response,
            Field::Score => &names.score,
            Field::Label => &names.label,
            Field::Embedding => &names.embedding,
            Field::Context => &names.context,
            Field::Reference => &names.reference,
        }
    }

    /// The record holds a value for it.
    fn has_value(self, r: &Record) -> bool {
        match self {
            Field::Id => r.id.is_some(),
            Field::Prompt => !r.prompt.is_empty(),
            Field::Response => r.response.is_some(),
            Field::Score => r.score.is_some(),
            Field::Label => r.label.is_some(),
            Field::Embedding => r.embedding.is_some(),
            Field::Context => r.context.is_some(),
            Field::Reference => r.reference.is_some(),
        }
    }
}

/// A field some flag named, and whether any row of the file held a value for it. The command
/// checks these over all the files it read ([`Dataset::named_fields`]): a misspelled name
/// would otherwise read as "no row has it" and quietly weaken the analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedField {
    /// The flag (`--context-field`, `--group-by`).
    pub flag: String,
    /// The path it gave.
    pub path: String,
    pub seen: bool,
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
    /// With `outcome`: a row without score or label may carry a `reference` and a `response`
    /// instead; its outcome is derived later from their similarity (slices).
    pub outcome_from_reference: bool,
    /// With `outcome`: a row without score, label or reference may carry a `response`
    /// instead; its outcome is derived later by sampling the LLM (slices --sample).
    pub outcome_from_sampling: bool,
    /// A non-null `response` (score).
    pub response: bool,
    /// The prompt may be missing or null (JSONL) or the column absent or empty (CSV); it is
    /// then read as empty text. Regress runs may carry only ids and join the prompt text from
    /// another file.
    pub optional_prompt: bool,
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub fields: FieldNames,
    /// `None`: chosen from the extension (`.csv`, `.tsv` → CSV, else JSONL); for stdin, sniffed.
    pub format: Option<InputFormat>,
    /// A row fails when `score < failure_threshold`.
    pub failure_threshold: f64,
    /// Scores run from 0 to this (`--score-scale`); each is divided by it on reading.
    pub score_scale: f64,
    /// Skip bad rows (counted in [`Dataset::skipped`]) instead of stopping at the first.
    pub skip_invalid: bool,
    pub requirements: Requirements,
    /// Keep the whole row in [`Record::raw`] (for commands that echo input rows). Off by
    /// default: `raw` stays empty, which roughly halves memory on large inputs.
    pub keep_raw: bool,
    /// Dotted paths (CSV: column names) to extract into [`Record::extra`], in this order
    /// (`--group-by` columns).
    pub extra_fields: Vec<String>,
    /// Index into `extra_fields` of the traffic-weight field (`--weight-field`), parsed into
    /// [`Record::weight`]; see [`ReadOptions::with_weight_field`].
    pub weight: Option<usize>,
    /// Label words besides the built-in ones, and whether each means pass (`--label-map`).
    pub label_words: Vec<(String, bool)>,
    /// Leave `score` and `label` unread, for commands that use no outcome (`score` without
    /// `--calibrate`, `coverage`): a file labelled in another vocabulary still reads.
    pub skip_outcomes: bool,
    /// The longest line the reader accepts, in bytes (`--max-record-bytes`): past it the read
    /// stops with an error naming the line, instead of growing without bound (`/dev/zero`).
    pub max_line_bytes: u64,
    /// The CSV delimiter (`--delimiter`); `None`: tab for `.tsv`, else sniffed from the header
    /// line (the commonest of comma, tab and semicolon).
    pub delimiter: Option<u8>,
    /// Fields named on the command line: whether any row holds them is reported in
    /// [`Dataset::named_fields`] (with the extra fields, which are always named).
    pub named: Vec<Field>,
}

/// Default of [`ReadOptions::max_line_bytes`]: 256 MiB.
pub const MAX_LINE_BYTES: u64 = 256 << 20;

impl ReadOptions {
    /// Reads `path` as every row's traffic weight: a non-negative number (CSV: its text),
    /// required on every row.
    pub fn with_weight_field(mut self, path: &str) -> Self {
        self.weight = Some(self.extra_fields.len());
        self.extra_fields.push(path.to_string());
        self
    }
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            fields: FieldNames::default(),
            format: None,
            failure_threshold: 0.5,
            score_scale: 1.0,
            skip_invalid: false,
            requirements: Requirements::default(),
            keep_raw: false,
            extra_fields: Vec::new(),
            weight: None,
            label_words: Vec::new(),
            max_line_bytes: MAX_LINE_BYTES,
            skip_outcomes: false,
            named: Vec::new(),
            delimiter: None,
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
    /// Pass/fail after applying the threshold to `score` (wins) or taking `label`. `None` for
    /// a row whose outcome is still to be derived (see [`Record::outcome_source`]).
    pub failed: Option<bool>,
    /// Where `failed` comes from: `Score` or `Label` as read, or an outcome to derive
    /// (reference similarity, sampling agreement) when [`Requirements`] allow it and the row
    /// has no score or label. `None`: no outcome.
    pub outcome_source: Option<OutcomeSource>,
    /// A string or an array of passages, as given.
    pub context: Option<Value>,
    pub reference: Option<String>,
    pub embedding: Option<Vec<f32>>,
    /// The whole row as an object (CSV: column name → string, an empty cell is `""`) when
    /// [`ReadOptions::keep_raw`] is set; empty otherwise.
    pub raw: Map<String, Value>,
    /// One entry per [`ReadOptions::extra_fields`] path, same order. JSONL: the value as given,
    /// `None` when missing or `null`. CSV: the cell as a JSON string (an empty cell is `""`),
    /// `None` when there is no such column.
    pub extra: Vec<Option<Value>>,
    /// Traffic weight from [`ReadOptions::with_weight_field`]; `None` when not asked for.
    pub weight: Option<f64>,
}

/// Where a row's pass/fail comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeSource {
    /// The row's `score` against the failure threshold.
    Score,
    /// The row's `label`.
    Label,
    /// Cosine similarity of the row's `response` and `reference` embeddings.
    ReferenceSimilarity,
    /// Agreement of answers sampled from the LLM with each other and with the `response`.
    SamplingAgreement,
}

impl OutcomeSource {
    /// True for the sources derived after reading (not in the row itself).
    pub fn is_derived(self) -> bool {
        matches!(
            self,
            OutcomeSource::ReferenceSimilarity | OutcomeSource::SamplingAgreement
        )
    }
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
    /// The fields named by flags ([`ReadOptions::named`], then the extra fields) and whether
    /// any row held each.
    pub named_fields: Vec<NamedField>,
    /// The fields a row has, for messages: the CSV header, or the first JSONL row's keys (and
    /// the keys of its nested objects, dotted).
    pub field_names: Vec<String>,
}

impl Dataset {
    /// True when every record carries an embedding (all of the same dimension, checked on read).
    pub fn has_embeddings(&self) -> bool {
        !self.records.is_empty() && self.records.iter().all(|r| r.embedding.is_some())
    }
}

/// Reads `path` (`-` for stdin) into a [`Dataset`].
///
/// The format is [`ReadOptions::format`] if set, else chosen from the extension (`.csv` →
/// CSV with `,`, `.tsv` → CSV with tabs, anything else → JSONL); stdin is sniffed (first
/// non-whitespace byte `{` → JSONL, else CSV). A CSV whose extension is neither `.csv` nor
/// `.tsv` (stdin, or `format` forced) gets tabs when its header line has more tabs than commas.
///
/// Errors name the file, line and field and say what was expected. An input with no rows is
/// an error, and so is one whose rows were all skipped as invalid.
pub fn read_dataset(path: &str, options: &ReadOptions) -> Result<Dataset> {
    if path == "-" {
        let stdin = std::io::stdin();
        return read_from_reader(stdin.lock(), STDIN_NAME, options);
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let ext = std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let by_extension = match ext.as_deref() {
        Some("csv") => Some(None),
        Some("tsv") => Some(Some(b'\t')),
        _ => None,
    };
    let format = options.format.unwrap_or(if by_extension.is_some() {
        InputFormat::Csv
    } else {
        InputFormat::Jsonl
    });
    // `.csv` files use `;` in much of Europe: their delimiter is sniffed like stdin's.
    let delimiter = options.delimiter.or(by_extension.flatten());
    read_source(file, path, Some(format), delimiter, options)
}

/// Display name of standard input in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// Reads rows from any reader (stdin, a test buffer, ...); `source` names it in messages.
///
/// The format is [`ReadOptions::format`] if set, else sniffed: first non-whitespace byte `{`
/// → JSONL, else CSV (tab-separated when the header line has more tabs than commas).
pub fn read_from_reader<R: Read>(
    reader: R,
    source: &str,
    options: &ReadOptions,
) -> Result<Dataset> {
    read_source(reader, source, options.format, options.delimiter, options)
}

/// Reads with a known or sniffed format; `delimiter` is `None` when it must be sniffed.
fn read_source<R: Read>(
    reader: R,
    source: &str,
    format: Option<InputFormat>,
    delimiter: Option<u8>,
    options: &ReadOptions,
) -> Result<Dataset> {
    let mut reader = LineLimit::new(reader, options.max_line_bytes);
    // Always peeked: compressed input is recognized whatever the format.
    let prefix = sniff::peek(&mut reader).map_err(|e| Error::io(source, e))?;
    if let Some(compression) = sniff::compression(&prefix) {
        return Err(Error::input(
            source,
            None,
            None,
            format!(
                "{compression}-compressed input: expected JSONL or CSV text; decompress it first \
                 (for gzip: `gunzip -c FILE | faultmap ... -`)"
            ),
        ));
    }
    let format = format.unwrap_or_else(|| sniff::format(&prefix));
    let delimiter = delimiter.unwrap_or_else(|| sniff::delimiter(&prefix));
    // The peeked bytes are read again, so line numbers count from the true start.
    let reader =
        std::io::BufReader::with_capacity(READ_BUFFER, std::io::Cursor::new(prefix).chain(reader));
    let mut asm = Assembler::new(source, options);
    match format {
        InputFormat::Jsonl => jsonl::read(reader, &mut asm)?,
        InputFormat::Csv => csv::read(reader, delimiter, &mut asm)?,
    }
    asm.finish()
}

/// A reader that fails once a line runs past `max` bytes without a newline, naming the line:
/// every reader above it (the JSONL chunker, the CSV parser, the sniffer) would otherwise
/// buffer the line whole.
struct LineLimit<R> {
    inner: R,
    max: u64,
    /// Bytes since the last newline.
    run: u64,
    /// Newlines seen so far (the current line is `newlines + 1`).
    newlines: usize,
}

impl<R: Read> LineLimit<R> {
    fn new(inner: R, max: u64) -> Self {
        LineLimit {
            inner,
            max,
            run: 0,
            newlines: 0,
        }
    }
}

impl<R: Read> LineLimit<R> {
    fn too_long(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "line {} is longer than {} bytes; is this a JSONL or CSV file? Raise \
                 --max-record-bytes to read longer rows",
                self.newlines + 1,
                self.max
            ),
        )
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut rest = &buf[..n];
        loop {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if self.run + i as u64 > self.max {
                        return Err(self.too_long());
                    }
                    self.newlines += 1;
                    self.run = 0;
                    rest = &rest[i + 1..];
                }
                None => {
                    self.run += rest.len() as u64;
                    if self.run > self.max {
                        return Err(self.too_long());
                    }
                    return Ok(n);
                }
            }
        }
    }
}

/// Read buffer size: large reads keep syscalls out of the profile.
const READ_BUFFER: usize = 1 << 20;

/// One line of the input summarized for the CLI's stderr: `skipped 3 invalid rows (lines 4, 9,
/// 17)`, listing at most the first 5 line numbers. Empty when nothing was skipped.
pub fn summarize_skipped(skipped: &[SkippedRow]) -> String {
    const SHOWN: usize = 5;
    match skipped {
        [] => String::new(),
        [one] => format!("skipped 1 invalid row (line {})", one.line),
        many => {
            let mut lines: Vec<String> = many
                .iter()
                .take(SHOWN)
                .map(|s| s.line.to_string())
                .collect();
            if many.len() > SHOWN {
                lines.push("...".to_string());
            }
            format!(
                "skipped {} invalid rows (lines {})",
                many.len(),
                lines.join(", ")
            )
        }
    }
}

/// A row as parsed by a format reader, before the cross-row checks.
pub(crate) struct Parsed {
    /// `row` and `line` are filled in by the [`Assembler`].
    pub record: Record,
    /// Both a score and a label were present (the score decided).
    pub both_outcomes: bool,
}

/// Applies the per-row requirements and derives `failed`; shared by both formats.
pub(crate) fn finalize(record: Record, options: &ReadOptions) -> std::result::Result<Parsed, Bad> {
    let fields = &options.fields;
    if options.requirements.response && record.response.is_none() {
        return Err(Bad::field(
            &fields.response,
            format!(
                "missing response: this command needs a string in `{}` on every row, found none",
                fields.response
            ),
        ));
    }
    let failed = match (record.score, record.label) {
        (Some(score), _) => Some(score < options.failure_threshold),
        (None, Some(label)) => Some(!label),
        (None, None) => None,
    };
    let req = &options.requirements;
    let outcome_source = match (record.score, record.label) {
        (Some(_), _) => Some(OutcomeSource::Score),
        (None, Some(_)) => Some(OutcomeSource::Label),
        (None, None) if !req.outcome => None,
        (None, None) => match (&record.reference, &record.response) {
            (Some(_), Some(_)) if req.outcome_from_reference => {
                Some(OutcomeSource::ReferenceSimilarity)
            }
            (_, Some(_)) if req.outcome_from_sampling => Some(OutcomeSource::SamplingAgreement),
            _ => return Err(missing_outcome(&record, options)),
        },
    };
    let weight = match options.weight {
        Some(i) => Some(values::weight(
            &options.extra_fields[i],
            record.extra.get(i).and_then(Option::as_ref),
        )?),
        None => None,
    };
    let both_outcomes = record.score.is_some() && record.label.is_some();
    Ok(Parsed {
        record: Record {
            failed,
            outcome_source,
            weight,
            ..record
        },
        both_outcomes,
    })
}

/// The error for a row with no outcome and nothing to derive one from. Without alternatives
/// (regress, slices' rows without a reference) it asks for a score or a label, as always.
fn missing_outcome(record: &Record, options: &ReadOptions) -> Bad {
    let (f, req) = (&options.fields, &options.requirements);
    if !req.outcome_from_reference && !req.outcome_from_sampling {
        return Bad::field(
            &f.score,
            format!(
                "missing outcome: expected a `{}` (number in [0, 1]) or a `{}` (pass/fail) on every row, found neither",
                f.score, f.label
            ),
        );
    }
    if req.outcome_from_reference && record.reference.is_some() {
        return Bad::field(
            &f.response,
            format!(
                "missing response: a row without `{}` or `{}` is judged by how close its `{}` is to its `{}`; found a reference but no response",
                f.score, f.label, f.response, f.reference
            ),
        );
    }
    let mut ways = vec![
        format!("a `{}` (number in [0, 1])", f.score),
        format!("a `{}` (pass/fail)", f.label),
    ];
    if req.outcome_from_reference {
        ways.push(format!(
            "a `{}` with a `{}` (scored by their similarity)",
            f.reference, f.response
        ));
    }
    if req.outcome_from_sampling {
        ways.push(format!("a `{}` (scored by --sample)", f.response));
    }
    let field = if req.outcome_from_sampling {
        &f.response
    } else {
        &f.score
    };
    Bad::field(
        field,
        format!(
            "missing outcome: expected {} on every row, found none of them",
            ways.join(" or ")
        ),
    )
}

/// The embedding shape set by the first valid row.
struct EmbeddingShape {
    /// `None`: rows carry no embedding.
    dim: Option<usize>,
    line: usize,
}

/// Collects parsed rows in file order: numbers rows, applies the cross-row checks (embedding
/// presence and dimension), records skipped rows and warnings.
pub(crate) struct Assembler<'a> {
    source: &'a str,
    pub(crate) options: &'a ReadOptions,
    records: Vec<Record>,
    skipped: Vec<SkippedRow>,
    warnings: Vec<String>,
    /// Data rows seen so far, skipped ones included.
    rows: usize,
    embedding: Option<EmbeddingShape>,
    warned_both: bool,
    extra_seen: Vec<bool>,
    /// Parallel to [`ReadOptions::named`].
    named_seen: Vec<bool>,
    field_names: Vec<String>,
}

impl<'a> Assembler<'a> {
    fn new(source: &'a str, options: &'a ReadOptions) -> Self {
        Assembler {
            source,
            options,
            records: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
            rows: 0,
            embedding: None,
            warned_both: false,
            extra_seen: vec![false; options.extra_fields.len()],
            named_seen: vec![false; options.named.len()],
            field_names: Vec::new(),
        }
    }

    /// Records the fields a row has, for messages (the format reader calls it before the
    /// first row).
    pub(crate) fn set_field_names(&mut self, names: Vec<String>) {
        self.field_names = names;
    }

    pub(crate) fn source(&self) -> &str {
        self.source
    }

    /// An error about the file as a whole at `line` (a bad header, ...): never skipped.
    pub(crate) fn fatal(&self, line: Option<usize>, bad: Bad) -> Error {
        Error::input(self.source, line, bad.field.as_deref(), bad.message)
    }

    /// Takes the next data row, which starts at `line`. Fails on a bad row unless skipping.
    pub(crate) fn push(
        &mut self,
        line: usize,
        parsed: std::result::Result<Parsed, Bad>,
    ) -> Result<()> {
        let row = self.rows;
        self.rows += 1;
        match parsed.and_then(|p| self.check_embedding(line, p)) {
            Ok(Parsed {
                mut record,
                both_outcomes,
            }) => {
                if both_outcomes && !self.warned_both {
                    self.warned_both = true;
                    let f = &self.options.fields;
                    self.warnings.push(format!(
                        "{}:{line}: rows have both `{}` and `{}`; the score decides pass/fail",
                        self.source, f.score, f.label
                    ));
                }
                for (seen, value) in self.extra_seen.iter_mut().zip(&record.extra) {
                    *seen |= value.is_some();
                }
                for (seen, field) in self.named_seen.iter_mut().zip(&self.options.named) {
                    *seen |= field.has_value(&record);
                }
                record.row = row;
                record.line = line;
                self.records.push(record);
                Ok(())
            }
            Err(bad) if self.options.skip_invalid => {
                let message = match &bad.field {
                    Some(field) => format!("field `{field}`: {}", bad.message),
                    None => bad.message,
                };
                self.skipped.push(SkippedRow { line, message });
                Ok(())
            }
            Err(bad) => {
                let bad = self.hint_prompt_field(bad);
                Err(self.fatal(Some(line), bad))
            }
        }
    }

    /// A row without the prompt field: lists the fields rows have, and names the one that
    /// looks like the prompt (`--prompt-field question`), as the CSV header error does.
    fn hint_prompt_field(&self, mut bad: Bad) -> Bad {
        let prompt = &self.options.fields.prompt;
        if bad.field.as_deref() != Some(prompt.as_str())
            || !bad.absent
            || self.field_names.is_empty()
        {
            return bad;
        }
        bad.message.push_str(&format!(
            "; rows have fields {}",
            values::truncate(&backticked(&self.field_names))
        ));
        if let Some(guess) = suggest(prompt, &self.field_names, PROMPT_NAMES) {
            bad.message.push_str(&format!(
                " (did you mean `--prompt-field {}`?)",
                crate::export::escape::terminal(guess)
            ));
        }
        bad
    }

    /// Every row has an embedding or none does; all have the first one's dimension.
    fn check_embedding(&mut self, line: usize, parsed: Parsed) -> std::result::Result<Parsed, Bad> {
        let dim = parsed.record.embedding.as_ref().map(Vec::len);
        let Some(shape) = &self.embedding else {
            self.embedding = Some(EmbeddingShape { dim, line });
            return Ok(parsed);
        };
        let field = &self.options.fields.embedding;
        let first = shape.line;
        match (shape.dim, dim) {
            (Some(want), Some(got)) if want != got => Err(Bad::field(
                field,
                format!(
                    "expected an embedding of dimension {want} (as on line {first}), found {got} numbers"
                ),
            )),
            (Some(want), None) => Err(Bad::field(
                field,
                format!(
                    "missing embedding: expected an array of {want} numbers as on line {first} (either every row has an embedding or none does), found none"
                ),
            )),
            (None, Some(got)) => Err(Bad::field(
                field,
                format!(
                    "unexpected embedding ({got} numbers): line {first} has none, and either every row has an embedding or none does"
                ),
            )),
            _ => Ok(parsed),
        }
    }

    fn finish(self) -> Result<Dataset> {
        if self.records.is_empty() {
            let message = match self.skipped.first() {
                None => format!("no rows in {}", self.source),
                Some(first) => format!(
                    "all {} rows were invalid (first, line {}: {})",
                    self.rows, first.line, first.message
                ),
            };
            return Err(Error::input(self.source, None, None, message));
        }
        let options = self.options;
        let mut named_fields: Vec<NamedField> = options
            .named
            .iter()
            .zip(&self.named_seen)
            .map(|(&field, &seen)| NamedField {
                flag: field.flag().to_string(),
                path: field.path(&options.fields).to_string(),
                // Outcomes left unread are not looked for.
                seen: seen
                    || (options.skip_outcomes && matches!(field, Field::Score | Field::Label)),
            })
            .collect();
        for (i, (path, &seen)) in options
            .extra_fields
            .iter()
            .zip(&self.extra_seen)
            .enumerate()
        {
            let flag = if options.weight == Some(i) {
                "--weight-field"
            } else {
                "--group-by"
            };
            named_fields.push(NamedField {
                flag: flag.to_string(),
                path: path.clone(),
                seen,
            });
        }
        Ok(Dataset {
            source: self.source.to_string(),
            records: self.records,
            skipped: self.skipped,
            warnings: self.warnings,
            named_fields,
            field_names: self.field_names,
        })
    }
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

/// Names a prompt field often has in other tools' files, for the "did you mean" hint.
const PROMPT_NAMES: &[&str] = &[
    "question",
    "query",
    "input",
    "instruction",
    "text",
    "user_input",
    "message",
    "prompt",
];

/// `a`, `b`, `c`: names for a message, escaped for the terminal (keys come from the file).
pub(crate) fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", crate::export::escape::terminal(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name among `names` that `wanted` most likely meant: the same name in another case, else
/// the closest spelling (Jaro-Winkler similarity at least 0.8, as shells and clap suggest),
/// else the shortest one it abbreviates or that abbreviates it, else the first that is one of
/// `synonyms`.
pub fn suggest<'a>(wanted: &str, names: &'a [String], synonyms: &[&str]) -> Option<&'a str> {
    if let Some(same) = names.iter().find(|n| n.eq_ignore_ascii_case(wanted)) {
        return Some(same);
    }
    let closest = names
        .iter()
        .map(|n| (strsim::jaro_winkler(wanted, n), n))
        .filter(|&(similarity, _)| similarity >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, name)) = closest {
        return Some(name);
    }
    // An abbreviation (`ctx` for `context`): its letters in order, the first one first.
    let abbreviates = |short: &str, long: &str| {
        let mut rest = long.chars().map(|c| c.to_ascii_lowercase());
        short.chars().next().map(|c| c.to_ascii_lowercase())
            == long.chars().next().map(|c| c.to_ascii_lowercase())
            && short
                .chars()
                .all(|c| rest.any(|l| l == c.to_ascii_lowercase()))
    };
    let abbreviated = names
        .iter()
        .filter(|n| abbreviates(wanted, n) || abbreviates(n, wanted))
        .min_by_key(|n| n.len());
    if let Some(name) = abbreviated {
        return Some(name);
    }
    names
        .iter()
        .find(|n| synonyms.iter().any(|s| n.eq_ignore_ascii_case(s)))
        .map(String::as_str)
}
