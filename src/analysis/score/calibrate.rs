//! Calibration on labelled rows: how well `final` and `attribution` separate good answers from
//! bad ones (AUROC), and gate thresholds chosen to flag bad answers (REVIEW or REJECT).
//!
//! Honest numbers: the rows are split by input (rows that share a prompt and context stay
//! together, so a faithful/hallucinated pair never straddles the split) into a fitting part, where the
//! thresholds are chosen, and a held-out part, where every reported figure is measured.

use super::config::{Gates, ScoreConfig};
use super::decide::{self, Gate, Scores};
use super::evidence::Evidence;
use super::ScoreReport;
use crate::error::{Error, Result};
use crate::input::Record;
use crate::stats::{auroc, auroc_standard_error};
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64_with_seed;

#[derive(Debug, Clone)]
pub struct CalibrationOptions {
    /// Share of prompts held out for the reported figures.
    pub holdout: f64,
    /// Maximize recall subject to this precision instead of maximizing F1.
    pub target_precision: Option<f64>,
    pub seed: u64,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        CalibrationOptions {
            holdout: 0.3,
            target_precision: None,
            seed: 42,
        }
    }
}

/// AUROC for telling good rows from bad ones, with a 95% interval (Hanley-McNeil).
#[derive(Debug, Clone, Serialize)]
pub struct Auroc {
    pub auroc: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub rows: usize,
}

/// Precision, recall and F1 of "flagged" (REVIEW or REJECT) as a detector of bad rows.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct FlagMetrics {
    pub flagged: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    pub labelled_rows: usize,
    pub fit_rows: usize,
    pub holdout_rows: usize,
    pub holdout_bad_rows: usize,
    /// Measured on the held-out rows.
    pub auroc_final: Option<Auroc>,
    /// Held-out rows with context only.
    pub auroc_attribution: Option<Auroc>,
    /// A baseline that only looks at response length (in its better direction), to show
    /// what the scorer adds beyond length.
    pub auroc_length_baseline: Option<Auroc>,
    pub length_baseline_direction: &'static str,
    /// `f1`, or `recall at precision >= X`.
    pub objective: String,
    pub holdout_default: FlagMetrics,
    pub holdout_calibrated: FlagMetrics,
    pub fit_calibrated: FlagMetrics,
    pub default_gates: Gates,
    pub calibrated_gates: Gates,
    #[serde(skip)]
    pub config: ScoreConfig,
}

/// True when the row is held out, decided by its input (prompt and context) so that answers
/// to the same input stay together: a faithful/hallucinated pair never straddles the split.
fn held_out(record: &Record, options: &CalibrationOptions) -> bool {
    let mut key = record.prompt.clone();
    if let Some(context) = &record.context {
        key.push('\u{1f}');
        key.push_str(&context.to_string());
    }
    let h = xxh3_64_with_seed(key.as_bytes(), options.seed);
    (h as f64 / u64::MAX as f64) < options.holdout
}

fn auroc_with_interval(scores: &[f64], good: &[bool]) -> Option<Auroc> {
    let auc = auroc(scores, good)?;
    let positives = good.iter().filter(|&&g| g).count();
    let se = auroc_standard_error(auc, positives, good.len() - positives);
    Some(Auroc {
        auroc: auc,
        ci_low: (auc - 1.959964 * se).max(0.0),
        ci_high: (auc + 1.959964 * se).min(1.0),
        rows: good.len(),
    })
}

fn metrics(flags: impl Iterator<Item = (bool, bool)>) -> FlagMetrics {
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (flagged, bad) in flags {
        match (flagged, bad) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            _ => {}
        }
    }
    let precision = if tp + fp > 0 {
        tp as f64 / (tp + fp) as f64
    } else {
        0.0
    };
    let recall = if tp + fn_ > 0 {
        tp as f64 / (tp + fn_) as f64
    } else {
        0.0
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    FlagMetrics {
        flagged: tp + fp,
        precision,
        recall,
        f1,
    }
}

struct Labelled<'a> {
    evidence: &'a Evidence,
    scores: &'a Scores,
    bad: bool,
    chars: usize,
}

fn flag_metrics(rows: &[&Labelled], gates: &Gates) -> FlagMetrics {
    metrics(rows.iter().map(|r| {
        (
            decide::gate(r.evidence, r.scores, gates) != Gate::Pass,
            r.bad,
        )
    }))
}

/// Higher is better; `target` turns it into recall subject to a precision floor.
fn objective(m: &FlagMetrics, target: Option<f64>) -> f64 {
    match target {
        None => m.f1,
        // Meeting the floor always beats missing it; below it, closer is better.
        Some(t) if m.precision >= t => 1.0 + m.recall,
        Some(_) => m.precision,
    }
}

/// The threshold knobs calibration turns, with how to read and write each.
type Knob = (&'static str, fn(&mut Gates) -> &mut f64);

const KNOBS: [Knob; 8] = [
    ("accept_final", |g| &mut g.accept_final),
    ("reject_attribution", |g| &mut g.reject_attribution),
    ("weak_attribution", |g| &mut g.weak_attribution),
    ("hallucination_attribution", |g| {
        &mut g.hallucination_attribution
    }),
    ("hallucination_specificity", |g| {
        &mut g.hallucination_specificity
    }),
    ("poor_context_quality", |g| &mut g.poor_context_quality),
    ("off_topic_relevance", |g| &mut g.off_topic_relevance),
    ("max_disagreement", |g| &mut g.max_disagreement),
];

/// Chooses thresholds on the fitting rows by coordinate ascent over a grid of 0.00..=1.00 in
/// steps of 0.02 (three passes; ties keep the current value, so the search is deterministic
/// and moves only for a real gain).
fn fit_gates(rows: &[&Labelled], start: &Gates, target: Option<f64>) -> Gates {
    let mut best = start.clone();
    let mut best_value = objective(&flag_metrics(rows, &best), target);
    for _ in 0..3 {
        let before = best_value;
        for (_, knob) in KNOBS {
            for step in 0..=50 {
                let mut candidate = best.clone();
                *knob(&mut candidate) = step as f64 / 50.0;
                let value = objective(&flag_metrics(rows, &candidate), target);
                if value > best_value + 1e-12 {
                    best_value = value;
                    best = candidate;
                }
            }
        }
        for count in 0..=4u32 {
            let mut candidate = best.clone();
            candidate.unsupported_reject = count;
            let value = objective(&flag_metrics(rows, &candidate), target);
            if value > best_value + 1e-12 {
                best_value = value;
                best = candidate;
            }
        }
        if best_value <= before + 1e-12 {
            break;
        }
    }
    best
}

/// Calibrates on every record that has a gold outcome (`failed`). `report` is the scoring of
/// `records` with `config` (its scores are reused; only the gates are re-run).
pub fn calibrate(
    records: &[Record],
    report: &ScoreReport,
    config: &ScoreConfig,
    options: &CalibrationOptions,
) -> Result<CalibrationReport> {
    let mut fit = Vec::new();
    let mut holdout = Vec::new();
    let labelled: Vec<(Labelled, bool)> = records
        .iter()
        .zip(&report.evidence)
        .zip(&report.rows)
        .filter_map(|((r, ev), scored)| {
            let bad = r.failed?;
            let row = Labelled {
                evidence: ev,
                scores: &scored.scores,
                bad,
                chars: r.response.as_deref().map_or(0, |t| t.chars().count()),
            };
            Some((row, held_out(r, options)))
        })
        .collect();
    for (row, is_held_out) in &labelled {
        if *is_held_out {
            holdout.push(row);
        } else {
            fit.push(row);
        }
    }
    for (part, rows) in [("fitting", &fit), ("held-out", &holdout)] {
        let bad = rows.iter().filter(|r| r.bad).count();
        if bad == 0 || bad == rows.len() {
            return Err(Error::Analysis(format!(
                "calibration needs good and bad labelled rows in both parts; the {part} part has {} rows, {bad} bad (label more rows or change --holdout)",
                rows.len()
            )));
        }
    }
    let target = options.target_precision;
    let calibrated = fit_gates(&fit, &config.gates, target);

    let good: Vec<bool> = holdout.iter().map(|r| !r.bad).collect();
    let finals: Vec<f64> = holdout.iter().map(|r| r.scores.final_score).collect();
    let (attr, attr_good): (Vec<f64>, Vec<bool>) = holdout
        .iter()
        .filter_map(|r| r.scores.attribution.map(|a| (a, !r.bad)))
        .unzip();
    let lengths: Vec<f64> = holdout.iter().map(|r| r.chars as f64).collect();
    let length = auroc_with_interval(&lengths, &good);
    let (length, direction) = match length {
        Some(a) if a.auroc < 0.5 => {
            let negated: Vec<f64> = lengths.iter().map(|l| -l).collect();
            (auroc_with_interval(&negated, &good), "shorter is better")
        }
        other => (other, "longer is better"),
    };
    let mut config_out = config.clone();
    config_out.gates = calibrated.clone();
    Ok(CalibrationReport {
        labelled_rows: labelled.len(),
        fit_rows: fit.len(),
        holdout_rows: holdout.len(),
        holdout_bad_rows: holdout.iter().filter(|r| r.bad).count(),
        auroc_final: auroc_with_interval(&finals, &good),
        auroc_attribution: auroc_with_interval(&attr, &attr_good),
        auroc_length_baseline: length,
        length_baseline_direction: direction,
        objective: match target {
            None => "f1".into(),
            Some(t) => format!("recall at precision >= {t}"),
        },
        holdout_default: flag_metrics(&holdout, &config.gates),
        holdout_calibrated: flag_metrics(&holdout, &calibrated),
        fit_calibrated: flag_metrics(&fit, &calibrated),
        default_gates: config.gates.clone(),
        calibrated_gates: calibrated,
        config: config_out,
    })
}
