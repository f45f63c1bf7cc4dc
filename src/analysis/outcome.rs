//! Outcomes for rows that carry no score and no label: derived from the row's `reference`, or
//! from answers sampled from the LLM. The reader marks such rows with the
//! [`OutcomeSource`] to derive; [`derive`] fills their `score` and `failed`.
//!
//! - **Reference similarity**: `cos(embed(response), embed(reference))`, clamped to [0, 1]. The
//!   row fails when it is below `match_threshold`.
//! - **Sampling agreement** (`--sample N`): N answers to the row's prompt are sampled from the
//!   LLM (temperature T, seeds 0..N-1, so each sample is its own cache entry). With unit
//!   embeddings `s_1..s_N` of the samples and `r` of the row's response:
//!
//!   ```text
//!   dispersion = clamp(mean over pairs i<j of (1 - cos(s_i, s_j)), 0, 1)
//!   close      = |{k : cos(s_k, r) >= match_threshold}| / N
//!   sampling_agreement = ((1 - dispersion) + close) / 2
//!   ```
//!
//!   The row fails when it is below the failure threshold. This measures agreement, not
//!   semantic entropy: no entailment check clusters the samples by meaning.
//!
//! All answers of one kind are embedded in one call, so embedders that fit on their corpus
//! (IDF, SVD) put them in one space. Nothing here prints; the LLM client prints its budget line.

use crate::api::chat::{ChatParams, ChatRequest, Message};
use crate::api::Llm;
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::input::{Dataset, OutcomeSource, SkippedRow};
use crate::matrix::dot;
use crate::progress::Progress;
use serde::Serialize;
use std::collections::HashMap;

/// Default cosine at or above which two answers count as the same answer (a response and its
/// reference; a sample and the response): the best balanced accuracy of reference similarity
/// against the true labels of both MMLU-Pro runs with the default `hash+static` embedder
/// (0.34 and 0.38; 0.5 loses 0.5 to 1 point). `static` alone peaks near 0.5-0.6, `hash` near
/// 0.2 (docs/slices.md, "Rows without a score or label"; tests/reference_similarity.rs).
pub const DEFAULT_MATCH_THRESHOLD: f64 = 0.35;

/// Most tokens asked for per sampled answer: enough for an answer to compare, and at the few
/// tokens a second of a CPU server, a bound on how long each sample takes.
const SAMPLE_MAX_TOKENS: u32 = 256;

/// How the missing outcomes are derived.
pub struct OutcomeConfig<'a> {
    /// Cosine at or above which two answers match.
    pub match_threshold: f64,
    /// A sampling agreement below this fails (the run's `--failure-threshold`).
    pub failure_threshold: f64,
    /// `--sample N`; `None`: no row may need sampling (the reader ensures it).
    pub sampling: Option<SamplingConfig<'a>>,
}

pub struct SamplingConfig<'a> {
    pub llm: &'a Llm,
    /// Answers sampled per prompt (at least 2: the dispersion needs a pair).
    pub samples: usize,
    pub temperature: f64,
    /// Leave out (as skipped rows) the rows whose samples failed, instead of stopping.
    pub skip_invalid: bool,
}

/// Where the run's outcomes came from, for the report's `parameters.outcomes`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutcomeSummary {
    /// Rows per outcome source.
    pub score: usize,
    pub label: usize,
    pub reference_similarity: usize,
    pub sampling_agreement: usize,
    pub match_threshold: f64,
    /// The embedder of responses, references and samples.
    pub answer_embedder: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingSummary>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SamplingSummary {
    pub llm_model: String,
    pub samples: usize,
    pub temperature: f64,
    /// A sampling agreement below this fails.
    pub failure_threshold: f64,
    /// Rows left out because a sample failed (`--skip-invalid`); also in `skipped_rows`.
    pub failed_rows: usize,
}

/// Fills `score` and `failed` of every row whose outcome is to be derived. Returns `None` when
/// every row carries its own outcome and no sampling was asked for, so such reports are
/// unchanged.
pub fn derive(
    data: &mut Dataset,
    embedder: &dyn Embedder,
    config: &OutcomeConfig,
    progress: &Progress,
) -> Result<Option<OutcomeSummary>> {
    let needs = |source| {
        data.records
            .iter()
            .any(|r| r.outcome_source == Some(source))
    };
    let reference = needs(OutcomeSource::ReferenceSimilarity);
    if !reference && !needs(OutcomeSource::SamplingAgreement) && config.sampling.is_none() {
        return Ok(None);
    }
    if reference {
        fill_reference_similarity(data, embedder, config.match_threshold, progress)?;
    }
    let sampling = match &config.sampling {
        Some(sampling) => Some(fill_sampling_agreement(
            data, embedder, sampling, config, progress,
        )?),
        None => None,
    };
    let count = |source| {
        data.records
            .iter()
            .filter(|r| r.outcome_source == Some(source))
            .count()
    };
    Ok(Some(OutcomeSummary {
        score: count(OutcomeSource::Score),
        label: count(OutcomeSource::Label),
        reference_similarity: count(OutcomeSource::ReferenceSimilarity),
        sampling_agreement: count(OutcomeSource::SamplingAgreement),
        match_threshold: config.match_threshold,
        answer_embedder: embedder.name(),
        sampling,
    }))
}

/// The cosine of `response` and `reference` of every row marked for it, clamped to [0, 1], in
/// row order (responses and references embedded in one call). Rows lacking either get 0.
pub fn reference_similarities(
    data: &Dataset,
    rows: &[usize],
    embedder: &dyn Embedder,
    progress: &Progress,
) -> Result<Vec<f64>> {
    let record = |i: usize| &data.records[i];
    let texts: Vec<&str> = rows
        .iter()
        .map(|&i| record(i).response.as_deref().unwrap_or(""))
        .chain(
            rows.iter()
                .map(|&i| record(i).reference.as_deref().unwrap_or("")),
        )
        .collect();
    let vectors = embedder.embed(&texts, progress)?;
    let n = rows.len();
    Ok((0..n)
        .map(|k| cosine01(vectors.row(k), vectors.row(n + k)))
        .collect())
}

fn fill_reference_similarity(
    data: &mut Dataset,
    embedder: &dyn Embedder,
    match_threshold: f64,
    progress: &Progress,
) -> Result<()> {
    let rows = rows_of(data, OutcomeSource::ReferenceSimilarity);
    let similarities = reference_similarities(data, &rows, embedder, progress)?;
    for (&i, similarity) in rows.iter().zip(similarities) {
        let r = &mut data.records[i];
        r.score = Some(similarity);
        r.failed = Some(similarity < match_threshold);
    }
    Ok(())
}

fn fill_sampling_agreement(
    data: &mut Dataset,
    embedder: &dyn Embedder,
    sampling: &SamplingConfig,
    config: &OutcomeConfig,
    progress: &Progress,
) -> Result<SamplingSummary> {
    let n = sampling.samples;
    // Rows with the same prompt share its samples: one set of N per distinct prompt.
    let mut prompts: Vec<String> = Vec::new();
    let mut prompt_of: HashMap<String, usize> = HashMap::new();
    for i in rows_of(data, OutcomeSource::SamplingAgreement) {
        let prompt = &data.records[i].prompt;
        if !prompt_of.contains_key(prompt) {
            prompt_of.insert(prompt.clone(), prompts.len());
            prompts.push(prompt.clone());
        }
    }
    let requests: Vec<ChatRequest> = prompts
        .iter()
        .flat_map(|prompt| {
            (0..n as u64).map(move |seed| ChatRequest {
                messages: vec![Message::user(prompt.as_str())],
                params: ChatParams {
                    temperature: sampling.temperature,
                    max_tokens: SAMPLE_MAX_TOKENS,
                    seed: Some(seed),
                },
                schema: None,
            })
        })
        .collect();
    let answers = sampling.llm.complete_all(
        &requests,
        "sampling answers (--sample)",
        progress,
        &crate::api::chat::non_empty,
    )?;
    let samples_of = |p: usize| &answers[p * n..(p + 1) * n];
    // A row whose samples are not all there is invalid: never scored on fewer samples.
    let failure_of = |p: usize| samples_of(p).iter().find_map(|a| a.as_ref().err());
    let mut left_out = vec![false; data.records.len()];
    for i in rows_of(data, OutcomeSource::SamplingAgreement) {
        let r = &data.records[i];
        let Some(error) = failure_of(prompt_of[&r.prompt]) else {
            continue;
        };
        let message = format!("a sampled answer to this row's prompt failed: {error}");
        if !sampling.skip_invalid {
            let id =
                r.id.as_ref()
                    .map_or(String::new(), |id| format!(" (id {id})"));
            return Err(Error::input(
                &data.source,
                Some(r.line),
                None,
                format!("{message}{id}; rerun to retry (answers received are cached), or give --skip-invalid to leave such rows out"),
            ));
        }
        left_out[i] = true;
        data.skipped.push(SkippedRow {
            line: r.line,
            message,
        });
    }
    let failed_rows = left_out.iter().filter(|&&x| x).count();
    if failed_rows > 0 {
        let mut keep = left_out.iter().map(|&out| !out);
        data.records.retain(|_| keep.next().unwrap_or(true));
        data.skipped.sort_by_key(|s| s.line);
        if data.records.is_empty() {
            return Err(Error::Analysis(
                "no rows left: the sampled answers of every row failed".into(),
            ));
        }
    }
    let rows = rows_of(data, OutcomeSource::SamplingAgreement);
    let row_prompt: Vec<usize> = rows
        .iter()
        .map(|&i| prompt_of[&data.records[i].prompt])
        .collect();
    // One embedding call: the rows' responses, then the samples of each prompt still used.
    let mut texts: Vec<&str> = rows
        .iter()
        .map(|&i| data.records[i].response.as_deref().unwrap_or(""))
        .collect();
    let mut first_sample: HashMap<usize, usize> = HashMap::new();
    for &p in &row_prompt {
        if let std::collections::hash_map::Entry::Vacant(e) = first_sample.entry(p) {
            e.insert(texts.len());
            texts.extend(samples_of(p).iter().map(|a| a.as_deref().unwrap_or("")));
        }
    }
    let scores: Vec<f64> = if rows.is_empty() {
        Vec::new()
    } else {
        let vectors = embedder.embed(&texts, progress)?;
        row_prompt
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let start = first_sample[p];
                let samples: Vec<&[f32]> = (start..start + n).map(|j| vectors.row(j)).collect();
                sampling_agreement(vectors.row(k), &samples, config.match_threshold)
            })
            .collect()
    };
    for (&i, score) in rows.iter().zip(scores) {
        let r = &mut data.records[i];
        r.score = Some(score);
        r.failed = Some(score < config.failure_threshold);
    }
    Ok(SamplingSummary {
        llm_model: sampling.llm.model().to_string(),
        samples: n,
        temperature: sampling.temperature,
        failure_threshold: config.failure_threshold,
        failed_rows,
    })
}

/// Indices of the records whose outcome comes from `source`.
fn rows_of(data: &Dataset, source: OutcomeSource) -> Vec<usize> {
    (0..data.records.len())
        .filter(|&i| data.records[i].outcome_source == Some(source))
        .collect()
}

/// Cosine of two unit vectors, clamped to [0, 1].
fn cosine01(a: &[f32], b: &[f32]) -> f64 {
    (dot(a, b) as f64).clamp(0.0, 1.0)
}

/// The agreement of unit-vector `samples` with each other and with `response` (formula in the
/// module comment), in [0, 1]. Needs at least two samples.
pub fn sampling_agreement(response: &[f32], samples: &[&[f32]], match_threshold: f64) -> f64 {
    let n = samples.len();
    assert!(n >= 2, "sampling agreement needs at least two samples");
    let mut distance = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            distance += 1.0 - dot(samples[i], samples[j]) as f64;
        }
    }
    let dispersion = (distance / (n * (n - 1) / 2) as f64).clamp(0.0, 1.0);
    let close = samples
        .iter()
        .filter(|s| dot(s, response) as f64 >= match_threshold)
        .count() as f64
        / n as f64;
    (((1.0 - dispersion) + close) / 2.0).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: f64 = 0.5;

    #[test]
    fn identical_samples_equal_to_the_response_agree_fully() {
        let r = [1.0f32, 0.0];
        assert_eq!(sampling_agreement(&r, &[&r, &r, &r], T), 1.0);
    }

    #[test]
    fn orthogonal_samples_away_from_the_response_agree_not_at_all() {
        let r = [0.0f32, 0.0, 1.0];
        let (a, b) = ([1.0f32, 0.0, 0.0], [0.0f32, 1.0, 0.0]);
        // Pairwise distance 1 → dispersion 1; no sample close to r.
        assert_eq!(sampling_agreement(&r, &[&a, &b], T), 0.0);
    }

    #[test]
    fn hand_computed_mixture() {
        // Samples a = (1, 0), b = (1, 0), c = (0.6, 0.8); response r = (0, 1).
        // Pairs: a·b = 1, a·c = 0.6, b·c = 0.6 → distances 0, 0.4, 0.4 → dispersion 0.8/3.
        // Cosines to r: 0, 0, 0.8 → one of three at or above 0.5.
        // Agreement = ((1 - 0.8/3) + 1/3) / 2 = (2.2/3 + 1/3) / 2 = 3.2/6.
        let (a, c, r) = ([1.0f32, 0.0], [0.6f32, 0.8], [0.0f32, 1.0]);
        let got = sampling_agreement(&r, &[&a, &a, &c], T);
        assert!((got - 3.2 / 6.0).abs() < 1e-6, "{got}");
        // A stricter match threshold drops c: ((1 - 0.8/3) + 0) / 2.
        let got = sampling_agreement(&r, &[&a, &a, &c], 0.9);
        assert!((got - 2.2 / 6.0).abs() < 1e-6, "{got}");
    }

    #[test]
    fn opposite_samples_clamp_the_dispersion() {
        // a·b = -1 → distance 2, clamped to a dispersion of 1; both samples close to neither.
        let (a, b, r) = ([1.0f32, 0.0], [-1.0f32, 0.0], [0.0f32, 1.0]);
        assert_eq!(sampling_agreement(&r, &[&a, &b], T), 0.0);
        // One of two samples equals the response: ((1 - 1) + 1/2) / 2.
        assert_eq!(sampling_agreement(&a, &[&a, &b], T), 0.25);
    }

    #[test]
    fn cosine_is_clamped_to_the_unit_interval() {
        assert_eq!(cosine01(&[1.0, 0.0], &[-1.0, 0.0]), 0.0);
        assert_eq!(cosine01(&[1.0, 0.0], &[1.0, 0.0]), 1.0);
    }
}
