//! The cases of one run, keyed for pairing, and the pairing of two runs.

use crate::analysis::candidates::group_value;
use crate::error::{Error, Result};
use crate::export::escape;
use crate::input::Dataset;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What pairs a baseline case with a candidate case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// The `id` field (every row of both runs has one).
    Id,
    /// The prompt text (no row has an id).
    Prompt,
}

/// One evaluated case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: Option<String>,
    pub prompt: String,
    /// The response, when the row has one (for the HTML page's worst cases; a baseline file
    /// stores none).
    pub response: Option<String>,
    /// In [0, 1], higher is better, when the run has scores.
    pub score: Option<f64>,
    pub pass: bool,
    /// The value of each group-by field, in order (`None`: missing).
    pub groups: Vec<Option<String>>,
    /// 0-based data row in its file (`None` for cases read back from a baseline).
    pub row: Option<usize>,
    /// 1-based line in its file, for messages.
    pub line: Option<usize>,
}

impl Case {
    /// The pairing key.
    pub fn key(&self, kind: KeyKind) -> &str {
        match kind {
            KeyKind::Id => self.id.as_deref().unwrap_or(""),
            KeyKind::Prompt => &self.prompt,
        }
    }
}

/// The cases of one run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Display name of the source (a file, `<stdin>`, or the baseline file).
    pub source: String,
    pub cases: Vec<Case>,
    /// Rows the reader skipped (`--skip-invalid`).
    pub skipped_rows: usize,
}

impl Run {
    /// The key that pairs these runs: `Id` when every case of every run has an id, `Prompt`
    /// when none has; a mix is an error naming the first case without one.
    pub fn key_kind(runs: &[&Run]) -> Result<KeyKind> {
        let with_id = runs
            .iter()
            .flat_map(|r| &r.cases)
            .filter(|c| c.id.is_some())
            .count();
        if with_id == 0 {
            return Ok(KeyKind::Prompt);
        }
        for run in runs {
            if let Some(case) = run.cases.iter().find(|c| c.id.is_none()) {
                return Err(Error::input(
                    &run.source,
                    case.line,
                    Some("id"),
                    "expected an id on every row: other rows carry ids, and cases are paired by id when any has one",
                ));
            }
        }
        Ok(KeyKind::Id)
    }

    /// Errors when a case has no prompt text, for runs paired by prompt.
    pub fn check_prompts(&self) -> Result<()> {
        match self.cases.iter().find(|c| c.prompt.is_empty()) {
            Some(case) => Err(Error::input(
                &self.source,
                case.line,
                Some("prompt"),
                "expected the prompt text: rows have no id, so cases are paired by prompt",
            )),
            None => Ok(()),
        }
    }

    /// Errors when two cases share a key, naming the first few duplicates and their lines.
    pub fn check_unique(&self, kind: KeyKind) -> Result<()> {
        let mut first: HashMap<&str, &Case> = HashMap::with_capacity(self.cases.len());
        let mut duplicates: Vec<String> = Vec::new();
        let mut count = 0usize;
        for case in &self.cases {
            let key = case.key(kind);
            if let Some(earlier) = first.get(key) {
                count += 1;
                if duplicates.len() < 3 {
                    duplicates.push(format!(
                        "`{}` ({})",
                        // Keys are untrusted text: control characters are made visible.
                        escape::terminal(&escape::truncate(&escape::one_line(key), 60)),
                        match (earlier.line, case.line) {
                            (Some(a), Some(b)) => format!("lines {a} and {b}"),
                            _ => "twice".to_string(),
                        }
                    ));
                }
            } else {
                first.insert(key, case);
            }
        }
        if count == 0 {
            return Ok(());
        }
        let what = match kind {
            KeyKind::Id => "id",
            KeyKind::Prompt => "prompt (rows have no id, so the prompt text pairs them)",
        };
        let more = if count > duplicates.len() {
            format!(" and {} more", count - duplicates.len())
        } else {
            String::new()
        };
        Err(Error::input(
            &self.source,
            None,
            Some(match kind {
                KeyKind::Id => "id",
                KeyKind::Prompt => "prompt",
            }),
            format!(
                "duplicate {what}: {}{more}; every case must be unique to pair the runs",
                duplicates.join(", ")
            ),
        ))
    }
}

/// Prompt text and group values by id, from `--prompts FILE`, for runs that carry only ids
/// and outcomes.
#[derive(Debug, Default)]
pub struct PromptIndex {
    by_id: HashMap<String, (String, Vec<Option<String>>)>,
    source: String,
}

impl PromptIndex {
    /// Indexes `data` (rows need an id and a prompt; extra fields are the group-by fields).
    pub fn new(data: &Dataset) -> Result<Self> {
        let mut by_id = HashMap::with_capacity(data.records.len());
        for r in &data.records {
            let Some(id) = &r.id else {
                return Err(Error::input(
                    &data.source,
                    Some(r.line),
                    Some("id"),
                    "expected an id on every row of the prompts file (prompts are joined by id)",
                ));
            };
            let groups = r.extra.iter().map(|v| group_value(v.as_ref())).collect();
            if by_id
                .insert(id.clone(), (r.prompt.clone(), groups))
                .is_some()
            {
                return Err(Error::input(
                    &data.source,
                    Some(r.line),
                    Some("id"),
                    format!(
                        "duplicate id `{}`: the prompts file must have one row per id",
                        escape::terminal(&escape::truncate(id, 60))
                    ),
                ));
            }
        }
        Ok(PromptIndex {
            by_id,
            source: data.source.clone(),
        })
    }
}

/// The cases of `data` (every record must carry an outcome). Missing prompts and group values
/// come from `prompts` by id; a case left without a prompt is an error when `require_prompt`
/// (a candidate paired by id needs none: reports show the baseline's prompt), and is given
/// an empty prompt otherwise.
pub fn run_from_dataset(
    data: &Dataset,
    prompts: Option<&PromptIndex>,
    require_prompt: bool,
) -> Result<Run> {
    let cases = data
        .records
        .iter()
        .map(|r| {
            let joined = prompts.and_then(|p| r.id.as_ref().and_then(|id| p.by_id.get(id)));
            let prompt = if !r.prompt.is_empty() {
                r.prompt.clone()
            } else if let Some((prompt, _)) = joined {
                prompt.clone()
            } else if !require_prompt {
                String::new()
            } else {
                let hint = match prompts {
                    Some(p) => format!(" and its id is not in {}", p.source),
                    None => ": give --prompts FILE to join prompt text by id".to_string(),
                };
                return Err(Error::input(
                    &data.source,
                    Some(r.line),
                    Some("prompt"),
                    format!("expected the prompt text: the row has none{hint}"),
                ));
            };
            let groups = r
                .extra
                .iter()
                .enumerate()
                .map(|(f, v)| {
                    group_value(v.as_ref())
                        .or_else(|| joined.and_then(|(_, groups)| groups.get(f).cloned().flatten()))
                })
                .collect();
            let failed = r.failed.ok_or_else(|| {
                Error::input(
                    &data.source,
                    Some(r.line),
                    None,
                    "expected a score or a label to tell pass from fail",
                )
            })?;
            Ok(Case {
                id: r.id.clone(),
                prompt,
                response: r.response.clone(),
                score: r.score,
                pass: !failed,
                groups,
                row: Some(r.row),
                line: Some(r.line),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Run {
        source: data.source.clone(),
        cases,
        skipped_rows: data.skipped.len(),
    })
}

/// Which cases of two runs pair up.
#[derive(Debug, Clone, Default)]
pub struct Pairing {
    /// (baseline index, candidate index), in baseline order.
    pub pairs: Vec<(usize, usize)>,
    /// Baseline cases with no candidate, in order.
    pub only_in_baseline: Vec<usize>,
    /// Candidate cases with no baseline, in order.
    pub only_in_candidate: Vec<usize>,
}

/// Pairs cases by key (both runs must have unique keys: see [`Run::check_unique`]).
pub fn pair(baseline: &Run, candidate: &Run, kind: KeyKind) -> Pairing {
    let index: HashMap<&str, usize> = candidate
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key(kind), i))
        .collect();
    let mut matched = vec![false; candidate.cases.len()];
    let mut out = Pairing::default();
    for (b, case) in baseline.cases.iter().enumerate() {
        match index.get(case.key(kind)) {
            Some(&c) => {
                matched[c] = true;
                out.pairs.push((b, c));
            }
            None => out.only_in_baseline.push(b),
        }
    }
    out.only_in_candidate = (0..candidate.cases.len())
        .filter(|&c| !matched[c])
        .collect();
    out
}
