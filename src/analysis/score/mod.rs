//! Per-response scoring of (query, context, response) rows and the decision a pipeline acts
//! on: ACCEPT, REVIEW or REJECT, with failure type, reason and next action.
//!
//! Pipeline: [`prepare`] splits and analyzes every distinct text once and embeds them in one
//! call; [`evidence`] computes the scorers per row; [`decide`] combines them into `final` and
//! runs the gates. Calibration ([`calibrate`]) re-runs only the gates. With an LLM
//! ([`LlmChecks`]), [`consistency`] adds a scorer before `final` is computed and [`judge`]
//! decides the rows the gates left uncertain.

pub mod calibrate;
pub mod config;
pub mod consistency;
pub mod decide;
pub mod evidence;
pub mod judge;
pub mod paraphrases;
pub mod prepare;
pub mod specifics;

use crate::api::chat::ChatRequest;
use crate::api::Llm;
use crate::embed::hashing::{HashingConfig, HashingEmbedder};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::input::Dataset;
use crate::progress::Progress;
use config::ScoreConfig;
use consistency::ConsistencyCheck;
pub use consistency::ConsistencySummary;
use decide::{Decision, FailureType, Gate, HallucinationStatus, Scores, Verdict};
use evidence::Evidence;
use judge::{JudgeBand, JudgeRecord, JudgeVerdict};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};
use specifics::Specific;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The built-in embedder as scoring uses it: word features only (no character n-grams) and
/// a 2,000-text SVD sample. Here it only vouches for paraphrases and relevance; the character
/// block cost a third of the run on 10k rows for no gain in HaluEval AUROC
/// (docs/benchmarks.md).
pub fn scoring_embedder(dims: usize, seed: u64) -> HashingEmbedder {
    HashingEmbedder::new(HashingConfig {
        dims,
        seed,
        char_ngrams: None,
        sample_rows: 2_000,
        ..HashingConfig::default()
    })
}

/// A response sentence whose support is below `evidence.sentence_support`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LowConfidenceSentence {
    /// 0-based position among the response's sentences.
    pub index: usize,
    pub text: String,
    pub support: f64,
}

/// Fields of [`ScoredRow`] written only with some options (`--consistency`, `--judge`): an
/// input field under one of these names is renamed even on a run that does not write it, so
/// a stale judge verdict never sits beside a new decision.
pub const OPTIONAL_ROW_FIELDS: [&str; 5] = [
    "consistency_check",
    "consistency_error",
    "used_llm_judge",
    "judge",
    "judge_error",
];

/// One scored row: what is added to the input row in the JSONL output.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredRow {
    /// The input row as read (echoed in the JSONL output); not part of the JSON summary.
    #[serde(skip)]
    pub input: Map<String, Value>,
    /// 0-based data row of the input (skipped invalid rows counted).
    #[serde(skip)]
    pub row: usize,
    pub scores: Scores,
    pub unsupported: Vec<Specific>,
    pub low_confidence_sentences: Vec<LowConfidenceSentence>,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// With `--consistency`: the paraphrases, answers and agreements behind
    /// `scores.consistency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_check: Option<ConsistencyCheck>,
    /// With `--consistency`, when the check failed for this row (it is scored without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_error: Option<String>,
    /// With `--judge` only (absent without it, so offline output is unchanged): whether the
    /// judge's verdict decided this row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_llm_judge: Option<bool>,
    /// The judge's verdict, when it decided the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeRecord>,
    /// The row was in the judge's band but the call failed or gave no verdict: the heuristic
    /// decision stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeanScores {
    /// Over rows with context only.
    pub attribution: Option<f64>,
    pub specificity: f64,
    pub relevance: f64,
    pub context_quality: Option<f64>,
    /// With `--consistency`: over rows whose check succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<f64>,
    #[serde(rename = "final")]
    pub final_score: f64,
}

/// What `--judge` did, in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct JudgeSummary {
    /// `review` or `final in [LOW, HIGH]`.
    pub band: String,
    /// The judge's own score a faithful verdict needs to accept (`gates.judge_accept_score`).
    pub accept_score: f64,
    /// Rows in the band (sent to the judge).
    pub rows_in_band: usize,
    /// Rows the judge decided (`used_llm_judge`).
    pub rows_judged: usize,
    /// Rows in the band that kept their heuristic decision because the judge failed.
    pub errors: usize,
    pub faithful: usize,
    pub hallucinated: usize,
    /// Judged rows left at REVIEW because the verdict contradicted the heuristic evidence or
    /// its score was below `accept_score` (each row's `judge.disagreement` says which).
    pub disagreements: usize,
    /// Judged rows whose decision differs from the heuristic one.
    pub decisions_changed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreSummary {
    pub input: String,
    pub total_rows: usize,
    pub skipped_rows: usize,
    pub decisions: BTreeMap<Decision, usize>,
    pub failure_types: BTreeMap<FailureType, usize>,
    pub hallucination_status: BTreeMap<HallucinationStatus, usize>,
    pub gates: BTreeMap<Gate, usize>,
    pub rows_without_context: usize,
    pub rows_with_unsupported_specifics: usize,
    pub mean_scores: MeanScores,
    pub embedder: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<ConsistencySummary>,
    /// Wall time is left out of the JSON so that the same input gives the same bytes.
    #[serde(skip)]
    pub elapsed: Duration,
}

impl ScoreSummary {
    pub fn rows_per_second(&self) -> f64 {
        self.total_rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub struct ScoreReport {
    pub rows: Vec<ScoredRow>,
    pub summary: ScoreSummary,
    /// Per-row evidence, in row order (for calibration).
    pub evidence: Vec<Evidence>,
}

/// What a run asks an LLM (`score --judge`, `--consistency`).
pub struct LlmChecks<'a> {
    pub llm: &'a Llm,
    pub judge: Option<JudgeBand>,
    /// Paraphrases per row.
    pub consistency: Option<usize>,
    /// Part of every request (and so of its cache key).
    pub seed: u64,
}

/// Scores every record of `data`. Records must carry a response (the reader checks it).
pub fn analyze(
    data: &Dataset,
    embedder: &dyn Embedder,
    config: &ScoreConfig,
    progress: &Progress,
) -> Result<ScoreReport> {
    analyze_with(data, embedder, config, progress, None)
}

/// [`analyze`], with the LLM checks of `llm` when given.
pub fn analyze_with(
    data: &Dataset,
    embedder: &dyn Embedder,
    config: &ScoreConfig,
    progress: &Progress,
    llm: Option<&LlmChecks>,
) -> Result<ScoreReport> {
    let start = Instant::now();
    if data.records.is_empty() {
        return Err(Error::Analysis("no rows to score".into()));
    }
    let (texts, corpus) = prepare::prepare(&data.records, embedder, progress)?;
    let bar = progress.bar(data.records.len() as u64, "scoring");
    let mut evidence: Vec<Evidence> = data
        .records
        .par_iter()
        .zip(&texts)
        .map(|(record, row)| {
            let ev = evidence::evidence(
                row,
                &corpus,
                record.response.as_deref().unwrap_or(""),
                &record.prompt,
                &config.evidence,
            );
            bar.inc(1);
            ev
        })
        .collect();
    bar.finish_and_clear();
    let mut checks: Vec<consistency::RowCheck> = vec![None; data.records.len()];
    let mut consistency_summary = None;
    if let Some(wanted) = llm {
        check_budget(data, &evidence, config, wanted)?;
        if let Some(n) = wanted.consistency {
            let run = consistency::check(
                wanted.llm,
                &data.records,
                n,
                wanted.seed,
                embedder,
                &config.evidence,
                progress,
            )?;
            consistency_summary = Some(run.summary(n));
            checks = run.rows;
            for (ev, check) in evidence.iter_mut().zip(&checks) {
                if let Some(Ok((score, _))) = check {
                    ev.consistency = Some(*score);
                }
            }
        }
    }
    let mut rows: Vec<ScoredRow> = data
        .records
        .iter()
        .zip(&texts)
        .zip(&evidence)
        .zip(checks)
        .map(|(((record, row), ev), check)| {
            let scores = decide::scores(ev, config);
            let verdict = decide::decide(ev, &scores, &config.gates);
            let low_confidence_sentences = ev
                .sentence_support
                .iter()
                .enumerate()
                .filter_map(|(index, s)| s.map(|support| (index, support)))
                .filter(|&(_, support)| support < config.evidence.sentence_support)
                .map(|(index, support)| LowConfidenceSentence {
                    index,
                    text: corpus.texts[row.sentences[index]].clone(),
                    support,
                })
                .collect();
            let (consistency_check, consistency_error) = match check {
                Some(Ok((_, c))) => (Some(c), None),
                Some(Err(e)) => (None, Some(e)),
                None => (None, None),
            };
            ScoredRow {
                input: record.raw.clone(),
                row: record.row,
                scores,
                unsupported: ev.unsupported.clone(),
                low_confidence_sentences,
                verdict,
                consistency_check,
                consistency_error,
                used_llm_judge: None,
                judge: None,
                judge_error: None,
            }
        })
        .collect();
    let judge_summary = match llm {
        Some(LlmChecks {
            llm,
            judge: Some(band),
            seed,
            ..
        }) => Some(run_judge(
            llm,
            *band,
            *seed,
            &config.gates,
            data,
            &texts,
            &mut rows,
            progress,
        )?),
        _ => None,
    };
    let without_context = texts
        .iter()
        .filter(|t| !t.has_context || t.units.is_empty())
        .count();
    let mut summary = summarize(
        data,
        &rows,
        without_context,
        embedder.name(),
        start.elapsed(),
    );
    summary.judge = judge_summary;
    summary.consistency = consistency_summary;
    Ok(ScoreReport {
        rows,
        summary,
        evidence,
    })
}

/// The judge's request for row `i`.
fn judge_request(data: &Dataset, i: usize, seed: u64) -> ChatRequest {
    let record = &data.records[i];
    judge::request(
        &record.prompt,
        &prepare::passages(&record.context),
        record.response.as_deref().unwrap_or(""),
        seed,
    )
}

/// Refuses, before any request, a run whose calls could exceed `--max-calls`. Consistency's
/// answers depend on its paraphrases, and with consistency the judge's band depends on the
/// answers: both are bounded from above (see [`consistency::planned_calls`]; the judge then
/// counts every row with a response).
fn check_budget(
    data: &Dataset,
    evidence: &[Evidence],
    config: &ScoreConfig,
    checks: &LlmChecks,
) -> Result<()> {
    let mut calls = 0;
    if let Some(n) = checks.consistency {
        calls += consistency::planned_calls(checks.llm, &data.records, n, checks.seed);
    }
    if let Some(band) = checks.judge {
        calls += evidence
            .iter()
            .enumerate()
            .filter(|(_, ev)| {
                if checks.consistency.is_some() {
                    !ev.empty_response
                } else {
                    let scores = decide::scores(ev, config);
                    band.contains(
                        &decide::decide(ev, &scores, &config.gates),
                        scores.final_score,
                    )
                }
            })
            .filter(|(i, _)| {
                checks
                    .llm
                    .cached(&judge_request(data, *i, checks.seed))
                    .is_none()
            })
            .count() as u64;
    }
    checks.llm.check_max_calls(calls, "score")
}

/// Asks the judge about the rows in `band` and folds its verdicts into them.
#[allow(clippy::too_many_arguments)]
fn run_judge(
    llm: &Llm,
    band: JudgeBand,
    seed: u64,
    gates: &config::Gates,
    data: &Dataset,
    texts: &[prepare::RowTexts],
    rows: &mut [ScoredRow],
    progress: &Progress,
) -> Result<JudgeSummary> {
    let in_band: Vec<usize> = (0..rows.len())
        .filter(|&i| band.contains(&rows[i].verdict, rows[i].scores.final_score))
        .collect();
    let requests: Vec<ChatRequest> = in_band
        .iter()
        .map(|&i| judge_request(data, i, seed))
        .collect();
    let has_verdict = |_: usize, text: &str| {
        judge::parse(text)
            .map(drop)
            .ok_or_else(|| "no verdict in it".to_string())
    };
    let replies = llm.complete_all(&requests, "score --judge", progress, &has_verdict)?;
    let mut summary = JudgeSummary {
        band: band.to_string(),
        accept_score: gates.judge_accept_score,
        rows_in_band: in_band.len(),
        rows_judged: 0,
        errors: 0,
        faithful: 0,
        hallucinated: 0,
        disagreements: 0,
        decisions_changed: 0,
    };
    for row in rows.iter_mut() {
        row.used_llm_judge = Some(false);
    }
    for (&i, reply) in in_band.iter().zip(replies) {
        let row = &mut rows[i];
        // complete_all checked that each reply parses.
        let parsed = reply.map_err(|e| e.to_string()).and_then(|text| {
            judge::parse(&text).ok_or_else(|| "no verdict in the judge's reply".to_string())
        });
        match parsed {
            Err(e) => {
                summary.errors += 1;
                row.judge_error = Some(e);
            }
            Ok(reply) => {
                let objection =
                    judge::objection(&row.verdict, &row.scores, &row.unsupported, gates);
                let (verdict, record) = judge::fold(
                    &row.verdict,
                    &reply,
                    texts[i].has_context,
                    objection,
                    gates.judge_accept_score,
                );
                if record.disagreement.is_some() {
                    summary.disagreements += 1;
                }
                summary.rows_judged += 1;
                match reply.verdict {
                    JudgeVerdict::Faithful => summary.faithful += 1,
                    JudgeVerdict::Hallucinated => summary.hallucinated += 1,
                }
                if verdict.decision != row.verdict.decision {
                    summary.decisions_changed += 1;
                }
                row.verdict = verdict;
                row.judge = Some(record);
                row.used_llm_judge = Some(true);
            }
        }
    }
    Ok(summary)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn summarize(
    data: &Dataset,
    rows: &[ScoredRow],
    rows_without_context: usize,
    embedder: String,
    elapsed: Duration,
) -> ScoreSummary {
    use decide::Decision::*;
    use decide::FailureType as F;
    use decide::HallucinationStatus as H;
    let mut decisions: BTreeMap<Decision, usize> = [Accept, Review, Reject].map(|d| (d, 0)).into();
    let mut failure_types: BTreeMap<FailureType, usize> = [
        F::None,
        F::Hallucination,
        F::WeakGrounding,
        F::PoorRetrieval,
        F::OffTopic,
        F::Uncertain,
        F::Undetermined,
        F::EmptyResponse,
    ]
    .map(|f| (f, 0))
    .into();
    let mut hallucination_status: BTreeMap<HallucinationStatus, usize> =
        [H::None, H::Suspected, H::Confirmed].map(|h| (h, 0)).into();
    let mut gates: BTreeMap<Gate, usize> = BTreeMap::new();
    for r in rows {
        *decisions.entry(r.verdict.decision).or_default() += 1;
        *failure_types.entry(r.verdict.failure_type).or_default() += 1;
        *hallucination_status
            .entry(r.verdict.hallucination_status)
            .or_default() += 1;
        *gates.entry(r.verdict.gate).or_default() += 1;
    }
    let scored = rows.iter().map(|r| &r.scores);
    ScoreSummary {
        input: data.source.clone(),
        total_rows: rows.len(),
        skipped_rows: data.skipped.len(),
        decisions,
        failure_types,
        hallucination_status,
        gates,
        rows_without_context,
        rows_with_unsupported_specifics: rows.iter().filter(|r| !r.unsupported.is_empty()).count(),
        mean_scores: MeanScores {
            attribution: mean(scored.clone().filter_map(|s| s.attribution)),
            specificity: mean(scored.clone().map(|s| s.specificity)).unwrap_or(0.0),
            relevance: mean(scored.clone().map(|s| s.relevance)).unwrap_or(0.0),
            context_quality: mean(scored.clone().filter_map(|s| s.context_quality)),
            consistency: mean(scored.clone().filter_map(|s| s.consistency)),
            final_score: mean(scored.map(|s| s.final_score)).unwrap_or(0.0),
        },
        embedder,
        judge: None,
        consistency: None,
        elapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::{HashingConfig, HashingEmbedder};
    use crate::input::{read_from_reader, ReadOptions, Requirements};

    const ROWS: &str = r#"{"prompt": "How long do I have to return an item?", "context": "Items can be returned within 30 days of delivery. Refunds go to the original payment method.", "response": "You can return an item within 30 days of delivery."}
{"prompt": "How long do I have to return an item?", "context": "Items can be returned within 30 days of delivery. Refunds go to the original payment method.", "response": "You can return an item within 60 days of delivery."}
{"prompt": "How long do I have to return an item?", "context": null, "response": "You can return an item within 30 days of delivery."}
{"prompt": "How long do I have to return an item?", "context": ["Items can be returned within 30 days of delivery.", "Refunds go to the original payment method."], "response": ""}
{"prompt": "Which plan includes SSO?", "context": "Single sign-on (SSO) is included in the Enterprise plan. The Team plan has two-factor authentication.", "response": "SSO is included in the Enterprise plan."}
{"prompt": "Which plan includes SSO?", "context": "Single sign-on (SSO) is included in the Enterprise plan. The Team plan has two-factor authentication.", "response": "SSO ships with the Startup Plus bundle, launched by Maria Gonzalez in 2017 for 49 dollars."}
"#;

    fn scored() -> ScoreReport {
        let options = ReadOptions {
            requirements: Requirements {
                response: true,
                ..Requirements::default()
            },
            keep_raw: true,
            ..ReadOptions::default()
        };
        let data = read_from_reader(ROWS.as_bytes(), "rows.jsonl", &options).unwrap();
        let embedder = HashingEmbedder::new(HashingConfig::default());
        analyze(
            &data,
            &embedder,
            &ScoreConfig::default(),
            &Progress::hidden(),
        )
        .unwrap()
    }

    #[test]
    fn rows_land_where_their_evidence_points() {
        let report = scored();
        let r = &report.rows;
        let gates: Vec<Gate> = r.iter().map(|r| r.verdict.gate).collect();
        assert_eq!(r[0].verdict.decision, Decision::Accept, "{:?}", r[0]);
        assert!(r[0].unsupported.is_empty());
        // The swapped number is found and flagged.
        assert_eq!(r[1].unsupported.len(), 1, "{:?}", r[1]);
        assert_eq!(r[1].unsupported[0].text, "60");
        assert_ne!(r[1].verdict.decision, Decision::Accept);
        assert!(r[1].scores.attribution < r[0].scores.attribution);
        // No context: undetermined, never an invented number.
        assert_eq!(r[2].scores.attribution, None);
        assert_eq!(r[2].verdict.failure_type, FailureType::Undetermined);
        assert_eq!(gates[2], Gate::NoContext);
        // Empty response.
        assert_eq!(
            (r[3].verdict.decision, gates[3]),
            (Decision::Reject, Gate::EmptyResponse)
        );
        assert_eq!(r[4].verdict.decision, Decision::Accept, "{:?}", r[4]);
        // Invented plan, person, year and price.
        assert_eq!(r[5].verdict.decision, Decision::Reject, "{:?}", r[5]);
        assert_eq!(
            r[5].verdict.hallucination_status,
            HallucinationStatus::Confirmed
        );
        let unsupported: Vec<&str> = r[5].unsupported.iter().map(|u| u.text.as_str()).collect();
        assert!(
            unsupported.contains(&"Maria Gonzalez") && unsupported.contains(&"2017"),
            "{unsupported:?}"
        );
        assert!(!r[5].low_confidence_sentences.is_empty());
    }

    #[test]
    fn summary_counts_every_row_once() {
        let s = scored().summary;
        assert_eq!(s.total_rows, 6);
        assert_eq!(s.decisions.values().sum::<usize>(), 6);
        assert_eq!(s.failure_types.values().sum::<usize>(), 6);
        assert_eq!(s.rows_without_context, 1, "the empty response has context");
        for score in [s.mean_scores.final_score, s.mean_scores.relevance] {
            assert!((0.0..=1.0).contains(&score));
        }
    }
}
