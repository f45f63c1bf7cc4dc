//! JSON Lines: one object per line, parsed in parallel chunks.
//!
//! The reader fills a buffer with whole lines (about [`CHUNK_BYTES`]) and parses them in
//! parallel with rayon (order kept); while the pool parses one chunk, the calling thread hands
//! the previous chunk's rows to the [`Assembler`] in line order (so the first error reported is
//! the first bad line) and reads the next chunk. Memory stays at a few chunks plus the records.

use super::values::{self, describe, quoted, Bad};
use super::{finalize, lookup, Assembler, Parsed, ReadOptions, Record};
use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::io::BufRead;

/// Bytes of input parsed per parallel batch.
const CHUNK_BYTES: usize = 8 << 20;

/// Lines per rayon task: enough work to amortize the scheduling.
const MIN_LINES_PER_TASK: usize = 512;

pub(super) fn read<R: BufRead>(mut reader: R, asm: &mut Assembler<'_>) -> Result<()> {
    let options = asm.options;
    let plan = Plan::new(options);
    let mut cur = Chunk::default();
    let mut next = Chunk::default();
    // Parsed rows of `cur`, and of the chunk before it (waiting to be assembled). Reused across
    // chunks: fresh multi-megabyte vectors would cost page faults every time.
    let mut cur_rows: Vec<Option<Row>> = Vec::new();
    let mut prev_rows: Vec<Option<Row>> = Vec::new();
    let mut prev_first_line = 1;
    cur.fill(&mut reader, 1)
        .map_err(|e| Error::io(asm.source(), e))?;
    asm.set_field_names(cur.first_row_fields());
    loop {
        // The pool parses `cur` while this thread assembles the previous chunk and reads the
        // next one (the reader need not be `Send`: stdin's lock is not).
        let mut side = Ok(());
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| cur.parse(options, &plan, &mut cur_rows));
            side = assemble(asm, prev_first_line, &mut prev_rows).and_then(|()| {
                if cur.eof {
                    return Ok(());
                }
                next.fill(&mut reader, cur.first_line + cur.ends.len())
                    .map_err(|e| Error::io(asm.source(), e))
            });
        });
        side?;
        std::mem::swap(&mut prev_rows, &mut cur_rows);
        prev_first_line = cur.first_line;
        if cur.eof {
            return assemble(asm, prev_first_line, &mut prev_rows);
        }
        std::mem::swap(&mut cur, &mut next);
    }
}

/// A parsed line: `None` for a blank line.
type Row = std::result::Result<Parsed, Bad>;

/// Hands a chunk's parsed rows to the assembler in line order, leaving `rows` empty.
fn assemble(asm: &mut Assembler<'_>, first_line: usize, rows: &mut Vec<Option<Row>>) -> Result<()> {
    for (i, row) in rows.drain(..).enumerate() {
        if let Some(row) = row {
            asm.push(first_line + i, row)?;
        }
    }
    Ok(())
}

/// Whole lines of input, about [`CHUNK_BYTES`].
#[derive(Default)]
struct Chunk {
    buf: Vec<u8>,
    /// `ends[i]`: end of line i in `buf` (exclusive, line ending included).
    ends: Vec<usize>,
    /// Line number of the first line.
    first_line: usize,
    /// The input ended with this chunk.
    eof: bool,
}

impl Chunk {
    fn fill<R: BufRead>(&mut self, reader: &mut R, first_line: usize) -> std::io::Result<()> {
        self.buf.clear();
        self.ends.clear();
        self.first_line = first_line;
        self.eof = false;
        while self.buf.len() < CHUNK_BYTES {
            if reader.read_until(b'\n', &mut self.buf)? == 0 {
                self.eof = true;
                break;
            }
            self.ends.push(self.buf.len());
        }
        Ok(())
    }

    /// The fields of the first non-blank line, if it is a JSON object: its keys, and the keys
    /// of its nested objects as dotted paths (`metadata.topic`). For messages only.
    fn first_row_fields(&self) -> Vec<String> {
        let mut start = 0;
        for &end in &self.ends {
            let line = &self.buf[start..end];
            start = end;
            let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            if line.trim_ascii().is_empty() {
                continue;
            }
            let Ok(Value::Object(row)) = serde_json::from_slice::<Value>(line) else {
                return Vec::new();
            };
            let mut names = Vec::new();
            for (key, value) in &row {
                names.push(key.clone());
                if let Value::Object(inner) = value {
                    names.extend(inner.keys().map(|k| format!("{key}.{k}")));
                }
            }
            return names;
        }
        Vec::new()
    }

    /// Parses every line in parallel, in order, into `rows`.
    fn parse(&self, options: &ReadOptions, plan: &Plan, rows: &mut Vec<Option<Row>>) {
        (0..self.ends.len())
            .into_par_iter()
            .with_min_len(MIN_LINES_PER_TASK)
            .map(|i| {
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                let mut line = &self.buf[start..self.ends[i]];
                if self.first_line == 1 && i == 0 {
                    line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
                }
                parse_line(line, options, plan)
            })
            .collect_into_vec(rows);
    }
}

/// Parses one line; `None` for a blank line (not a row).
fn parse_line(line: &[u8], options: &ReadOptions, plan: &Plan) -> Option<Row> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.trim_ascii().is_empty() {
        return None;
    }
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => {
            return Some(Err(Bad::new(
                None,
                format!(
                    "invalid UTF-8 at byte {} of the line: expected UTF-8 text, found {}",
                    e.valid_up_to() + 1,
                    quoted(&String::from_utf8_lossy(line))
                ),
            )))
        }
    };
    if !options.keep_raw {
        // Fast path: keep only the top-level keys some field needs. On any failure the full
        // parse below produces the message.
        if let Ok(slots) = plan.parse(text) {
            return Some(build(|i| plan.get(&slots, i), options));
        }
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            let full = e.to_string();
            let reason = full
                .rfind(" at line ")
                .map_or(&full[..], |cut| &full[..cut]);
            return Some(Err(Bad::new(
                None,
                format!(
                    "malformed JSON at column {}: {reason}; expected one JSON object per line, found {}",
                    e.column(),
                    quoted(text.trim())
                ),
            )));
        }
    };
    match value {
        Value::Object(map) => {
            let parsed = build(|i| lookup(&map, &plan.paths[i].path), options);
            Some(parsed.map(|mut p| {
                if options.keep_raw {
                    p.record.raw = map;
                }
                p
            }))
        }
        other => Some(Err(Bad::new(
            None,
            format!(
                "expected a JSON object per line (JSON Lines), found {}",
                describe(&other)
            ),
        ))),
    }
}

/// Indices into [`Plan::paths`]; extra fields follow [`EXTRA`].
const ID: usize = 0;
const PROMPT: usize = 1;
const RESPONSE: usize = 2;
const SCORE: usize = 3;
const LABEL: usize = 4;
const EMBEDDING: usize = 5;
const CONTEXT: usize = 6;
const REFERENCE: usize = 7;
const EXTRA: usize = 8;

/// How to find one field's value among the kept top-level keys.
struct PathPlan {
    path: String,
    /// Index in [`Plan::keys`] of the whole path as a literal key (found first, as in
    /// [`lookup`]).
    literal: usize,
    /// For a dotted path: the first segment's key index and the remaining segments.
    nested: Option<(usize, Vec<String>)>,
}

/// The top-level keys that the fields need, and how each field is found from them.
pub(super) struct Plan {
    keys: Vec<String>,
    paths: Vec<PathPlan>,
}

impl Plan {
    pub(super) fn new(options: &ReadOptions) -> Self {
        let f = &options.fields;
        let fixed = [
            &f.id,
            &f.prompt,
            &f.response,
            &f.score,
            &f.label,
            &f.embedding,
            &f.context,
            &f.reference,
        ];
        let mut keys: Vec<String> = Vec::new();
        let mut key = |k: &str| match keys.iter().position(|x| x == k) {
            Some(i) => i,
            None => {
                keys.push(k.to_string());
                keys.len() - 1
            }
        };
        let paths = fixed
            .into_iter()
            .chain(&options.extra_fields)
            .map(|path| {
                let literal = key(path);
                let nested = path.split_once('.').map(|(first, rest)| {
                    (key(first), rest.split('.').map(str::to_string).collect())
                });
                PathPlan {
                    path: path.clone(),
                    literal,
                    nested,
                }
            })
            .collect();
        Plan { keys, paths }
    }

    /// Parses an object keeping only the wanted top-level keys (last duplicate wins, as with
    /// a full parse). Fails on anything else (malformed JSON, not an object).
    fn parse(&self, text: &str) -> serde_json::Result<Vec<Option<Value>>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let slots = RowSeed(&self.keys).deserialize(&mut de)?;
        de.end()?;
        Ok(slots)
    }

    /// The value of path `i` (`None` if missing), with the same rules as [`lookup`].
    fn get<'v>(&self, slots: &'v [Option<Value>], i: usize) -> Option<&'v Value> {
        let plan = &self.paths[i];
        if let Some(v) = &slots[plan.literal] {
            return Some(v);
        }
        let (first, rest) = plan.nested.as_ref()?;
        let mut current = slots[*first].as_ref()?;
        for part in rest {
            current = match current {
                Value::Object(map) => map.get(part.as_str())?,
                Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

/// Deserializes a top-level object into one slot per wanted key, skipping other values.
struct RowSeed<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Option<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Option<Value>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut slots = vec![None; self.0.len()];
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            match key {
                Some(i) => slots[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(slots)
    }
}

/// A map key, as its index among the wanted keys (no allocation).
struct KeySeed<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> std::result::Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| k == key))
    }
}

/// Types the fields of one row; `get(i)` is the value of path `i` of the [`Plan`]. `raw` is
/// left empty.
fn build<'v>(
    get: impl Fn(usize) -> Option<&'v Value>,
    options: &ReadOptions,
) -> std::result::Result<Parsed, Bad> {
    let f = &options.fields;
    let prompt = match get(PROMPT) {
        None | Some(Value::Null) if options.requirements.optional_prompt => String::new(),
        value => values::prompt_from_json(&f.prompt, value)?,
    };
    let id = values::id_from_json(&f.id, get(ID))?;
    let response = values::string_from_json(&f.response, get(RESPONSE))?;
    // Outcomes are read only by the commands that use them: a file whose labels are in
    // another vocabulary can still be scored.
    let (score, label) = if !options.skip_outcomes {
        (
            values::score_from_json(&f.score, get(SCORE), options.score_scale)?,
            values::label_from_json(&f.label, get(LABEL), &options.label_words)?,
        )
    } else {
        (None, None)
    };
    let embedding = values::embedding_from_json(&f.embedding, get(EMBEDDING))?;
    let context = values::context_from_json(&f.context, get(CONTEXT))?;
    let reference = values::reference_from_json(&f.reference, get(REFERENCE))?;
    let extra = (0..options.extra_fields.len())
        .map(|j| get(EXTRA + j).filter(|v| !v.is_null()).cloned())
        .collect();
    finalize(
        Record {
            row: 0,
            line: 0,
            id,
            prompt,
            response,
            score,
            label,
            failed: None,
            outcome_source: None,
            context,
            reference,
            embedding,
            raw: Map::new(),
            extra,
            weight: None,
        },
        options,
    )
}
