//! CSV / TSV with a header row. The csv crate splits records (quoted newlines, CRLF, BOM);
//! records are typed in parallel batches, like JSONL.
//!
//! A field matches the column whose (trimmed) header equals its name, dotted names included
//! (`metadata.category`). Typed fields treat an empty cell as absent; `raw` and `extra` keep
//! every cell as a JSON string, an empty cell as `""`.

use super::values::{self, quoted, Bad};
use super::{finalize, Assembler, Parsed, ReadOptions, Record};
use crate::error::{Error, Result};
use ::csv::{ByteRecord, ReaderBuilder};
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::io::Read;

/// Records typed per parallel batch.
const CHUNK_ROWS: usize = 16 * 1024;

/// Records per rayon task.
const MIN_ROWS_PER_TASK: usize = 256;

/// Column index of each field, from the header.
struct Columns {
    names: Vec<String>,
    id: Option<usize>,
    /// `None` only when the prompt is optional.
    prompt: Option<usize>,
    response: Option<usize>,
    score: Option<usize>,
    label: Option<usize>,
    embedding: Option<usize>,
    context: Option<usize>,
    reference: Option<usize>,
    extra: Vec<Option<usize>>,
}

pub(super) fn read<R: Read>(reader: R, delimiter: u8, asm: &mut Assembler<'_>) -> Result<()> {
    let options = asm.options;
    let mut rdr = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(LineTracker::new(reader));
    let source = asm.source().to_string();
    let io_err = |e: ::csv::Error| match e.into_kind() {
        ::csv::ErrorKind::Io(e) => Error::io(&source, e),
        other => Error::input(&source, None, None, format!("CSV error: {other:?}")),
    };

    let mut header = ByteRecord::new();
    if !rdr.read_byte_record(&mut header).map_err(io_err)? {
        return Ok(()); // empty input: no rows
    }
    let header_line = start_line(&mut rdr, &header);
    let columns = columns(&header, options).map_err(|bad| asm.fatal(Some(header_line), bad))?;
    asm.set_field_names(columns.names.iter().map(|n| n.trim().to_string()).collect());

    let mut batch: Vec<ByteRecord> = Vec::new();
    let mut lines: Vec<usize> = Vec::with_capacity(CHUNK_ROWS);
    loop {
        let mut n = 0;
        lines.clear();
        while n < CHUNK_ROWS {
            if n == batch.len() {
                batch.push(ByteRecord::new());
            }
            if !rdr.read_byte_record(&mut batch[n]).map_err(io_err)? {
                break;
            }
            lines.push(start_line(&mut rdr, &batch[n]));
            n += 1;
        }
        let results: Vec<std::result::Result<Parsed, Bad>> = batch[..n]
            .par_iter()
            .with_min_len(MIN_ROWS_PER_TASK)
            .map(|record| from_record(record, &columns, options))
            .collect();
        for (&line, result) in lines.iter().zip(results) {
            asm.push(line, result)?;
        }
        if n < CHUNK_ROWS {
            return Ok(());
        }
    }
}

/// The 1-based line where `record` (just read) starts.
///
/// The csv crate's `Position::line()` is off after CRLF endings and skipped blank lines: the
/// position is taken where reading began, before the rest of the previous line ending and any
/// blank lines. So we take its byte offset, skip the run of `\r`/`\n` bytes there, and count
/// the newlines before that point with [`LineTracker`].
fn start_line<R: Read>(rdr: &mut ::csv::Reader<LineTracker<R>>, record: &ByteRecord) -> usize {
    let byte = record.position().map_or(0, |p| p.byte());
    rdr.get_mut().line_at(byte)
}

/// Passes bytes through, remembering where the `\r` and `\n` bytes are (only those not yet
/// behind the last queried record: at most one csv buffer's worth) and how many `\n` came
/// before them.
struct LineTracker<R> {
    inner: R,
    /// Offset of the next byte to pass through.
    offset: u64,
    /// Offsets of `\r` / `\n` bytes (the flag: is `\n`) at or after the last query.
    marks: VecDeque<(u64, bool)>,
    /// `\n` bytes before `marks.front()`.
    newlines_before: usize,
}

impl<R: Read> LineTracker<R> {
    fn new(inner: R) -> Self {
        LineTracker {
            inner,
            offset: 0,
            marks: VecDeque::new(),
            newlines_before: 0,
        }
    }

    /// The 1-based line of the first byte at or after `byte` that is not `\r` or `\n`.
    /// Queries must not go backwards.
    fn line_at(&mut self, byte: u64) -> usize {
        while let Some(&(at, is_newline)) = self.marks.front() {
            if at >= byte {
                break;
            }
            self.newlines_before += usize::from(is_newline);
            self.marks.pop_front();
        }
        let mut run = 0;
        for (expected, &(at, is_newline)) in (byte..).zip(&self.marks) {
            if at != expected {
                break;
            }
            run += usize::from(is_newline);
        }
        1 + self.newlines_before + run
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.marks.push_back((self.offset + i as u64, b == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Finds each field's column; a missing column that the command requires is an error.
fn columns(header: &ByteRecord, options: &ReadOptions) -> std::result::Result<Columns, Bad> {
    let mut names = Vec::with_capacity(header.len());
    for (i, cell) in header.iter().enumerate() {
        let name = std::str::from_utf8(cell).map_err(|_| {
            Bad::new(
                None,
                format!(
                    "invalid UTF-8 in header column {}: expected UTF-8 text, found {}",
                    i + 1,
                    quoted(&String::from_utf8_lossy(cell))
                ),
            )
        })?;
        let name = if i == 0 {
            name.strip_prefix('\u{feff}').unwrap_or(name)
        } else {
            name
        };
        names.push(name.to_string());
    }
    let find = |field: &str| names.iter().position(|n| n.trim() == field);
    let listing = || {
        values::truncate(
            &names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    let f = &options.fields;
    let prompt = find(&f.prompt);
    if prompt.is_none() && !options.requirements.optional_prompt {
        return Err(Bad::field(
            &f.prompt,
            format!(
                "no `{}` column: expected a header column with the prompt text, found columns {}{}",
                f.prompt,
                listing(),
                super::suggest(&f.prompt, &names, super::PROMPT_NAMES)
                    .map(|g| format!(
                        " (did you mean `--prompt-field {}`?)",
                        crate::export::escape::terminal(g)
                    ))
                    .unwrap_or_default()
            ),
        ));
    }
    let response = find(&f.response);
    if options.requirements.response && response.is_none() {
        return Err(Bad::field(
            &f.response,
            format!(
                "no `{}` column: this command needs a response on every row, found columns {}",
                f.response,
                listing()
            ),
        ));
    }
    let score = find(&f.score);
    let label = find(&f.label);
    let reference = find(&f.reference);
    let req = &options.requirements;
    let derivable = (req.outcome_from_reference && reference.is_some() && response.is_some())
        || (req.outcome_from_sampling && response.is_some());
    if req.outcome && score.is_none() && label.is_none() && !derivable {
        let mut ways = format!(
            "a `{}` (number in [0, 1]) or a `{}` (pass/fail) column",
            f.score, f.label
        );
        if req.outcome_from_reference {
            ways.push_str(&format!(
                ", or `{}` and `{}` columns",
                f.reference, f.response
            ));
        }
        if req.outcome_from_sampling {
            ways.push_str(&format!(", or a `{}` column (for --sample)", f.response));
        }
        return Err(Bad::field(
            &f.score,
            format!(
                "no outcome column: expected {ways}, found columns {}",
                listing()
            ),
        ));
    }
    Ok(Columns {
        id: find(&f.id),
        prompt,
        response,
        score,
        label,
        embedding: find(&f.embedding),
        context: find(&f.context),
        reference,
        extra: options.extra_fields.iter().map(|p| find(p)).collect(),
        names,
    })
}

/// Types one CSV record.
fn from_record(
    record: &ByteRecord,
    columns: &Columns,
    options: &ReadOptions,
) -> std::result::Result<Parsed, Bad> {
    let width = columns.names.len();
    if record.len() != width {
        return Err(Bad::new(
            None,
            format!(
                "wrong number of fields: expected {width} (as in the header), found {}",
                record.len()
            ),
        ));
    }
    let mut cells: Vec<&str> = Vec::with_capacity(width);
    for (i, cell) in record.iter().enumerate() {
        let text = std::str::from_utf8(cell).map_err(|e| {
            Bad::field(
                &columns.names[i],
                format!(
                    "invalid UTF-8 at byte {} of the cell: expected UTF-8 text, found {}",
                    e.valid_up_to() + 1,
                    quoted(&String::from_utf8_lossy(cell))
                ),
            )
        })?;
        cells.push(text);
    }
    // Typed fields: an empty cell is absent.
    let cell = |col: Option<usize>| col.map(|i| cells[i]).filter(|t| !t.is_empty());
    let owned = |col: Option<usize>| cell(col).map(str::to_string);
    let f = &options.fields;

    let prompt = match owned(columns.prompt) {
        Some(prompt) => prompt,
        None if options.requirements.optional_prompt => String::new(),
        None => {
            return Err(Bad::field(
                &f.prompt,
                "empty: expected the prompt text, found an empty cell",
            ))
        }
    };
    // Outcomes are read only by the commands that use them (as for JSONL).
    let (score, label) = if !options.skip_outcomes {
        (
            values::score_from_text(&f.score, cell(columns.score), options.score_scale)?,
            values::label_from_text(&f.label, cell(columns.label), &options.label_words)?,
        )
    } else {
        (None, None)
    };
    let embedding = values::embedding_from_text(&f.embedding, cell(columns.embedding))?;
    let extra = columns
        .extra
        .iter()
        .map(|col| col.map(|i| Value::String(cells[i].to_string())))
        .collect();
    let raw = if options.keep_raw {
        columns
            .names
            .iter()
            .zip(&cells)
            .map(|(name, text)| (name.clone(), Value::String(text.to_string())))
            .collect()
    } else {
        Map::new()
    };
    finalize(
        Record {
            row: 0,
            line: 0,
            id: owned(columns.id),
            prompt,
            response: owned(columns.response),
            score,
            label,
            failed: None,
            outcome_source: None,
            context: values::context_from_text(cell(columns.context)),
            reference: owned(columns.reference),
            embedding,
            raw,
            extra,
            weight: None,
        },
        options,
    )
}
