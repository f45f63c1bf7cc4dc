//! How the input is read, in groups: each subcommand takes only the groups it uses, so its
//! `--help` lists no option it would ignore (`coverage` reads no outcome, `score` no
//! embedding).
//!
//! - [`ReadArgs`]: format, delimiter, bad rows, and the `id` and `prompt` fields (everyone);
//! - [`OutcomeArgs`]: the `score` and `label` fields and how they become pass/fail (slices,
//!   regress, score --calibrate);
//! - [`ResponseArgs`]: the `response` and `reference` fields (slices, score);
//! - [`ContextArgs`]: the `context` field (score);
//! - [`EmbeddingFieldArgs`]: the `embedding` field (slices, coverage, regress).
//!
//! A field named by a flag that no row has is an error ([`check_named_fields`]).

use super::common::{unit_interval, whole, OutputArgs};
use crate::error::{Error, Result};
use crate::input::{
    Dataset, Field, FieldNames, InputFormat, NamedField, ReadOptions, Requirements,
};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InputFormatArg {
    Jsonl,
    Csv,
}

/// How the input is read, and where its `id` and `prompt` are.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Input")]
pub struct ReadArgs {
    /// Input format; by default chosen from the extension (`.csv`, `.tsv`) or sniffed on stdin.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,
    /// CSV delimiter: one character, or `tab` [default: tab for .tsv, else the commonest of
    /// comma, tab and semicolon in the header line]
    #[arg(long, value_name = "CHAR", value_parser = delimiter)]
    pub delimiter: Option<u8>,
    /// Skip invalid rows (reported on stderr) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// The longest input line read, in bytes; a longer one stops the read with an error
    /// naming it (exit 2) rather than filling memory.
    #[arg(long, default_value_t = crate::input::MAX_LINE_BYTES, value_name = "N", value_parser = whole::<1, { u64::MAX }>)]
    pub max_record_bytes: u64,
    /// Read on when a field named by a flag (`--context-field`, `--group-by`, ...) is in no
    /// row, with a warning, instead of stopping with an error.
    #[arg(long)]
    pub allow_missing_fields: bool,
    /// Field (JSONL: a dotted path such as `meta.qid`; CSV: a column) of the row's id
    /// [default: id]
    #[arg(long, value_name = "PATH", help_heading = "Input fields")]
    pub id_field: Option<String>,
    /// Field of the prompt text [default: prompt]
    #[arg(long, value_name = "PATH", help_heading = "Input fields")]
    pub prompt_field: Option<String>,
}

impl ReadArgs {
    /// The reader's options: the `id` and `prompt` fields from here, the rest at their
    /// defaults until a group's `apply` sets them.
    pub fn options(&self, requirements: Requirements, extra_fields: Vec<String>) -> ReadOptions {
        let mut options = ReadOptions {
            format: self.input_format.map(|f| match f {
                InputFormatArg::Jsonl => InputFormat::Jsonl,
                InputFormatArg::Csv => InputFormat::Csv,
            }),
            skip_invalid: self.skip_invalid,
            requirements,
            extra_fields,
            max_line_bytes: self.max_record_bytes,
            delimiter: self.delimiter,
            // A command that reads no outcome (coverage, score without --calibrate) leaves
            // score and label unread: a file labelled in another vocabulary still reads.
            skip_outcomes: true,
            ..ReadOptions::default()
        };
        set_field(&mut options, Field::Id, &self.id_field);
        set_field(&mut options, Field::Prompt, &self.prompt_field);
        options
    }
}

/// Sets `field`'s path when the flag gave one, and remembers that it was named.
fn set_field(options: &mut ReadOptions, field: Field, given: &Option<String>) {
    if let Some(path) = given {
        *field.path_mut(&mut options.fields) = path.clone();
        options.named.push(field);
    }
}

/// Where the outcome is and how it reads as pass/fail.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Outcome")]
pub struct OutcomeArgs {
    /// Field of the score: a number in [0, 1] (see --score-scale), higher is better; wins
    /// over the label when both are present [default: score]
    #[arg(long, value_name = "PATH")]
    pub score_field: Option<String>,
    /// Field of the label: bool, 0/1, pass/fail, true/false, correct/incorrect, yes/no,
    /// good/bad, faithful/hallucinated (any case) [default: label]
    #[arg(long, value_name = "PATH")]
    pub label_field: Option<String>,
    /// A row fails when its score is below this.
    #[arg(long, default_value_t = 0.5, value_name = "X", value_parser = unit_interval)]
    pub failure_threshold: f64,
    /// Scores run from 0 to N (a rating out of 5, 10 or 100); each is divided by N, so
    /// --failure-threshold stays in [0, 1].
    #[arg(long, default_value_t = 1.0, value_name = "N", value_parser = positive)]
    pub score_scale: f64,
    /// Label words besides pass/fail, true/false, yes/no, ... (comma-separated WORD=pass or
    /// WORD=fail; any case), e.g. `attributable=pass,not_attributable=fail`.
    #[arg(long, value_delimiter = ',', value_name = "WORD=pass|fail,...", value_parser = label_mapping)]
    pub label_map: Vec<(String, bool)>,
}

impl OutcomeArgs {
    /// Reads the outcome as these options say.
    pub fn apply(&self, mut options: ReadOptions) -> ReadOptions {
        set_field(&mut options, Field::Score, &self.score_field);
        set_field(&mut options, Field::Label, &self.label_field);
        options.failure_threshold = self.failure_threshold;
        options.score_scale = self.score_scale;
        options.label_words = self.label_map.clone();
        options.skip_outcomes = false;
        options
    }
}

/// Where the model's response and the reference answer are.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Input fields")]
pub struct ResponseArgs {
    /// Field of the model's response [default: response]
    #[arg(long, value_name = "PATH")]
    pub response_field: Option<String>,
    /// Field of the reference (expected) answer [default: reference]
    #[arg(long, value_name = "PATH")]
    pub reference_field: Option<String>,
}

impl ResponseArgs {
    pub fn apply(&self, mut options: ReadOptions) -> ReadOptions {
        set_field(&mut options, Field::Response, &self.response_field);
        set_field(&mut options, Field::Reference, &self.reference_field);
        options
    }
}

/// Where the retrieved context is.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Input fields")]
pub struct ContextArgs {
    /// Field of the retrieved context: a string or an array of passages [default: context]
    #[arg(long, value_name = "PATH")]
    pub context_field: Option<String>,
}

impl ContextArgs {
    pub fn apply(&self, mut options: ReadOptions) -> ReadOptions {
        set_field(&mut options, Field::Context, &self.context_field);
        options
    }
}

/// Where precomputed embeddings are.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Input fields")]
pub struct EmbeddingFieldArgs {
    /// Field of a precomputed embedding (an array of numbers), used instead of embedding the
    /// prompts when every row has one [default: embedding]
    #[arg(long, value_name = "PATH")]
    pub embedding_field: Option<String>,
}

impl EmbeddingFieldArgs {
    pub fn apply(&self, mut options: ReadOptions) -> ReadOptions {
        set_field(&mut options, Field::Embedding, &self.embedding_field);
        options
    }

    /// The field's path, for messages.
    pub fn path(&self) -> String {
        self.embedding_field
            .clone()
            .unwrap_or_else(|| FieldNames::default().embedding)
    }
}

/// Fails when a field named by a flag is in no row of any of `datasets` (the files one
/// command read: a group-by field may live in the prompts file only), listing the fields rows
/// have and the likeliest one meant. With `--allow-missing-fields` it warns instead.
pub fn check_named_fields(
    datasets: &[&Dataset],
    read: &ReadArgs,
    output: &OutputArgs,
) -> Result<()> {
    let mut missing: Vec<&NamedField> = Vec::new();
    for data in datasets {
        for named in &data.named_fields {
            let seen_anywhere = datasets.iter().any(|d| {
                d.named_fields
                    .iter()
                    .any(|n| n.flag == named.flag && n.path == named.path && n.seen)
            });
            let listed = missing
                .iter()
                .any(|m| m.flag == named.flag && m.path == named.path);
            if !seen_anywhere && !listed {
                missing.push(named);
            }
        }
    }
    let Some(first) = missing.first() else {
        return Ok(());
    };
    let sources: Vec<&str> = datasets.iter().map(|d| d.source.as_str()).collect();
    let mut names: Vec<String> = Vec::new();
    for data in datasets {
        for n in &data.field_names {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let mut message = format!(
        "`{} {}`: no row of {} has a value in `{}`",
        first.flag,
        first.path,
        sources.join(" or "),
        first.path
    );
    if !names.is_empty() {
        message.push_str(&format!(
            "; rows have fields {}",
            crate::input::backticked(&names)
        ));
    }
    if let Some(guess) = crate::input::suggest(&first.path, &names, &[]) {
        message.push_str(&format!(" (did you mean `{} {guess}`?)", first.flag));
    }
    if missing.len() > 1 {
        let others: Vec<String> = missing[1..]
            .iter()
            .map(|m| format!("`{} {}`", m.flag, m.path))
            .collect();
        message.push_str(&format!("; also in no row: {}", others.join(", ")));
    }
    // Field names come from the files: escaped, so a key cannot drive the terminal.
    if read.allow_missing_fields {
        output.warn(&crate::export::escape::terminal(&message));
        return Ok(());
    }
    message.push_str(". Give --allow-missing-fields to read on without it");
    Err(Error::Usage(crate::export::escape::terminal(&message)))
}

/// A `--delimiter`: one ASCII character (not a quote or a line break), or `tab`.
fn delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ => match s.as_bytes() {
            [b'"' | b'\n' | b'\r'] => Err(format!("{s:?} cannot separate CSV fields")),
            [c] if c.is_ascii() => Ok(*c),
            _ => Err(format!(
                "expected one ASCII character or `tab`, found `{s}`"
            )),
        },
    }
}

/// A finite number above 0.
fn positive(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(_) => Err("must be a number above 0".into()),
        Err(_) => Err(format!("expected a number, found `{s}`")),
    }
}

/// One `--label-map` entry: `WORD=pass` or `WORD=fail`.
fn label_mapping(s: &str) -> std::result::Result<(String, bool), String> {
    let (word, meaning) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not WORD=pass or WORD=fail"))?;
    let word = word.trim();
    if word.is_empty() {
        return Err(format!("`{s}` has no word before `=`"));
    }
    match meaning.trim().to_ascii_lowercase().as_str() {
        "pass" => Ok((word.to_string(), true)),
        "fail" => Ok((word.to_string(), false)),
        other => Err(format!(
            "`{other}` in `{s}` is neither pass nor fail (expected WORD=pass or WORD=fail)"
        )),
    }
}
