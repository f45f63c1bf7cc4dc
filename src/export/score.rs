//! Exporters of `faultmap score`: the scored rows (JSONL), their summary (JSON, table,
//! Markdown) and the calibration report (table, Markdown; JSON is the generic exporter).

use super::escape::{markdown, one_line, truncate};
use super::json::{push_line, serialize_error, JsonExporter, JsonlExporter};
use super::markdown::MarkdownExporter;
use super::table::{cell_text, percent, TableExporter};
use super::{rate, Exporter};
use crate::analysis::score::calibrate::{Auroc, CalibrationReport, FlagMetrics};
use crate::analysis::score::decide::Decision;
use crate::analysis::score::{ScoreReport, ScoreSummary, ScoredRow, OPTIONAL_ROW_FIELDS};
use crate::error::{Error, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use serde::Serialize;
use serde_json::{Map, Value};

/// REJECT rows listed under the summary.
const REJECTS_SHOWN: usize = 5;

/// An enum's serialized name (`ACCEPT`, `no_context`, ...).
pub(crate) fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

/// True when `input` is a row `faultmap score` wrote: its `score` is its `scores.final`.
/// Re-scoring such a row replaces our fields instead of keeping them as `input_*`.
fn written_by_score(input: &Map<String, Value>) -> bool {
    match (input.get("score"), input.get("scores")) {
        (Some(score), Some(Value::Object(scores))) => scores.get("final") == Some(score),
        _ => false,
    }
}

fn is_blank(value: &Value) -> bool {
    matches!(value, Value::Null) || value.as_str() == Some("")
}

/// The input row, keys in input order, followed by the fields `score` adds. An input value
/// under a name we write (`score`, `decision`, ...) is kept as `input_<name>`: data is never
/// lost (unless it is null or empty, or the row is our own output being re-scored).
pub fn row_object(row: &ScoredRow) -> Result<Map<String, Value>> {
    let Value::Object(mut added) = serde_json::to_value(row).map_err(serialize_error)? else {
        return Err(Error::Analysis("a scored row is not a JSON object".into()));
    };
    added.insert("score".into(), Value::from(row.scores.final_score));
    let rescoring = written_by_score(&row.input);
    let mut out = Map::with_capacity(row.input.len() + added.len());
    let ours = |k: &str| added.contains_key(k) || OPTIONAL_ROW_FIELDS.contains(&k);
    for (key, value) in &row.input {
        if !ours(key) {
            out.insert(key.clone(), value.clone());
        } else if !rescoring && !is_blank(value) {
            let taken = |k: &str| row.input.contains_key(k) || ours(k);
            let mut renamed = format!("input_{key}");
            let mut n = 2;
            while taken(&renamed) || out.contains_key(&renamed) {
                renamed = format!("input_{key}_{n}");
                n += 1;
            }
            out.insert(renamed, value.clone());
        }
    }
    out.extend(added);
    Ok(out)
}

/// One line per scored row, in input order.
impl Exporter<ScoreReport> for JsonlExporter {
    fn export(&self, report: &ScoreReport) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for row in &report.rows {
            push_line(&mut out, &row_object(row)?)?;
        }
        Ok(out)
    }
}

/// The summary only: no per-row data and no timings, so the same input gives the same bytes.
impl Exporter<ScoreReport> for JsonExporter {
    fn export(&self, report: &ScoreReport) -> Result<Vec<u8>> {
        JsonExporter.export(&report.summary)
    }
}

/// A small table of trusted text (labels and numbers); the first column is left-aligned.
pub(crate) struct Section {
    pub title: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn counts<K: Serialize>(
    title: &str,
    column: &'static str,
    items: impl Iterator<Item = (K, usize)>,
    total: usize,
) -> Section {
    Section {
        title: title.into(),
        header: vec![column, "Rows", "Share"],
        rows: items
            .map(|(k, n)| {
                vec![
                    name(&k),
                    n.to_string(),
                    percent(n as f64 / total.max(1) as f64),
                ]
            })
            .collect(),
    }
}

pub(crate) fn score_sections(s: &ScoreSummary) -> Vec<Section> {
    let n = s.total_rows;
    let m = &s.mean_scores;
    let opt = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.3}"));
    let mut means = vec![
        vec!["attribution (rows with context)".into(), opt(m.attribution)],
        vec!["specificity".into(), format!("{:.3}", m.specificity)],
        vec!["relevance".into(), format!("{:.3}", m.relevance)],
        vec!["context quality".into(), opt(m.context_quality)],
    ];
    if s.consistency.is_some() {
        means.push(vec![
            "consistency (rows checked)".into(),
            opt(m.consistency),
        ]);
    }
    means.push(vec!["final".into(), format!("{:.3}", m.final_score)]);
    let mut sections = vec![
        counts(
            "Decisions",
            "Decision",
            s.decisions.iter().map(|(k, v)| (k, *v)),
            n,
        ),
        counts(
            "Failure types",
            "Failure type",
            s.failure_types
                .iter()
                .filter(|(_, &v)| v > 0)
                .map(|(k, v)| (k, *v)),
            n,
        ),
        counts(
            "Deciding gates",
            "Gate",
            s.gates.iter().map(|(k, v)| (k, *v)),
            n,
        ),
        Section {
            title: "Mean scores".into(),
            header: vec!["Score", "Mean"],
            rows: means,
        },
    ];
    if let Some(j) = &s.judge {
        let count = |label: &str, n: usize| vec![label.to_string(), n.to_string()];
        sections.push(Section {
            title: format!("LLM judge (band: {})", j.band),
            header: vec!["Rows", "Count"],
            rows: vec![
                count("in the band (asked)", j.rows_in_band),
                count("decided by the judge", j.rows_judged),
                count("  faithful", j.faithful),
                count("  hallucinated", j.hallucinated),
                count(
                    &format!(
                        "  left at REVIEW (evidence against it, or score < {})",
                        j.accept_score
                    ),
                    j.disagreements,
                ),
                count("  decision changed", j.decisions_changed),
                count("judge failed (heuristic kept)", j.errors),
            ],
        });
    }
    if let Some(c) = &s.consistency {
        let count = |label: &str, n: usize| vec![label.to_string(), n.to_string()];
        let mut rows = vec![
            count("rows checked", c.rows_checked),
            count("rows whose check failed (scored without it)", c.errors),
            count("paraphrases received", c.paraphrases_received),
            count("paraphrases used", c.paraphrases_used),
            count("  fewest in a checked row", c.min_paraphrases_used),
            count("  most in a checked row", c.max_paraphrases_used),
            count("paraphrases dropped", c.dropped()),
        ];
        rows.extend(
            c.paraphrases_dropped
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(reason, &n)| count(&format!("  {reason}"), n)),
        );
        sections.push(Section {
            title: format!(
                "Consistency ({} paraphrases asked for per row)",
                c.paraphrases_per_row
            ),
            header: vec!["What", "Count"],
            rows,
        });
    }
    sections
}

/// `input` is the input's name, escaped for the output format.
fn headline(s: &ScoreSummary, input: &str) -> String {
    format!(
        "Scored {} rows of {input} ({} skipped) with {} in {:.2}s ({} rows/s).",
        s.total_rows,
        s.skipped_rows,
        s.embedder,
        s.elapsed.as_secs_f64(),
        rate(s.rows_per_second()),
    )
}

fn footnote(s: &ScoreSummary) -> String {
    format!(
        "Rows without context (grounding undetermined): {}. Rows with unsupported specifics: {}.",
        s.rows_without_context, s.rows_with_unsupported_specifics
    )
}

fn rejects(report: &ScoreReport) -> impl Iterator<Item = &ScoredRow> {
    report
        .rows
        .iter()
        .filter(|r| r.verdict.decision == Decision::Reject)
        .take(REJECTS_SHOWN)
}

fn render_table(section: &Section) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(section.header.clone());
    for row in &section.rows {
        table.add_row(row.iter().enumerate().map(|(i, text)| {
            let cell = Cell::new(text);
            if i == 0 {
                cell
            } else {
                cell.set_alignment(CellAlignment::Right)
            }
        }));
    }
    format!("{}\n{table}\n", section.title)
}

fn render_markdown(section: &Section) -> String {
    let mut out = format!(
        "### {}\n\n| {} |\n|---|",
        section.title,
        section.header.join(" | ")
    );
    out.push_str(&"---:|".repeat(section.header.len() - 1));
    out.push('\n');
    for row in &section.rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out.push('\n');
    out
}

fn md_text(text: &str, max: usize) -> String {
    markdown(&truncate(&one_line(text), max))
}

impl Exporter<ScoreReport> for TableExporter {
    fn export(&self, report: &ScoreReport) -> Result<Vec<u8>> {
        let s = &report.summary;
        let mut out = format!("{}\n\n", headline(s, &cell_text(&s.input, 200)));
        for section in score_sections(s) {
            out.push_str(&render_table(&section));
            out.push('\n');
        }
        out.push_str(&footnote(s));
        out.push('\n');
        let mut shown = rejects(report).peekable();
        if shown.peek().is_some() {
            out.push_str(&format!(
                "\nFirst {} rows (0-based row of the input):\n",
                super::color::paint("REJECT", super::color::Verdict::Bad, self.color)
            ));
            for r in shown {
                out.push_str(&format!(
                    "  row {}: {}\n",
                    r.row,
                    cell_text(&r.verdict.reason, 160)
                ));
            }
        }
        Ok(out.into_bytes())
    }
}

impl Exporter<ScoreReport> for MarkdownExporter {
    fn export(&self, report: &ScoreReport) -> Result<Vec<u8>> {
        let s = &report.summary;
        let mut out = format!(
            "## faultmap: response scores\n\n{}\n\n",
            headline(s, &md_text(&s.input, 200))
        );
        for section in score_sections(s) {
            out.push_str(&render_markdown(&section));
        }
        out.push_str(&footnote(s));
        out.push_str("\n\n");
        let mut shown = rejects(report).peekable();
        if shown.peek().is_some() {
            out.push_str("**First REJECT rows** (0-based row of the input):\n\n");
            for r in shown {
                out.push_str(&format!(
                    "- row {}: {}\n",
                    r.row,
                    md_text(&r.verdict.reason, 200)
                ));
            }
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

fn auroc_row(label: &str, a: &Option<Auroc>) -> Vec<String> {
    match a {
        Some(a) => vec![
            label.into(),
            format!("{:.3}", a.auroc),
            format!("[{:.3}, {:.3}]", a.ci_low, a.ci_high),
            a.rows.to_string(),
        ],
        None => vec![label.into(), "n/a".into(), "".into(), "0".into()],
    }
}

fn metrics_row(label: &str, m: &FlagMetrics) -> Vec<String> {
    vec![
        label.into(),
        m.flagged.to_string(),
        format!("{:.3}", m.precision),
        format!("{:.3}", m.recall),
        format!("{:.3}", m.f1),
    ]
}

/// Gate thresholds whose calibrated value differs from the default, in config order.
pub(crate) fn changed_gates(r: &CalibrationReport) -> Vec<Vec<String>> {
    let as_map = |g| match serde_json::to_value(g) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let (before, after) = (as_map(&r.default_gates), as_map(&r.calibrated_gates));
    after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| {
            let old = before.get(k).map_or("n/a".into(), Value::to_string);
            vec![k.clone(), old, v.to_string()]
        })
        .collect()
}

pub(crate) fn calibration_intro(r: &CalibrationReport) -> String {
    format!(
        "Calibration on {} labelled rows: {} to fit the gate thresholds, {} held out by input \
         ({} bad). Every figure is measured on the held-out rows. Objective: {}.",
        r.labelled_rows, r.fit_rows, r.holdout_rows, r.holdout_bad_rows, r.objective
    )
}

pub(crate) fn calibration_sections(r: &CalibrationReport) -> Vec<Section> {
    let changed = changed_gates(r);
    let mut sections = vec![
        Section {
            title: "How well each score separates good from bad answers (AUROC, 0.5 = chance)"
                .into(),
            header: vec!["Score", "AUROC", "95% CI", "Rows"],
            rows: vec![
                auroc_row("final", &r.auroc_final),
                auroc_row("attribution (rows with context)", &r.auroc_attribution),
                auroc_row(
                    &format!("response length baseline ({})", r.length_baseline_direction),
                    &r.auroc_length_baseline,
                ),
            ],
        },
        Section {
            title: "Flagging bad answers (REVIEW or REJECT)".into(),
            header: vec!["Gates", "Flagged", "Precision", "Recall", "F1"],
            rows: vec![
                metrics_row("default (held out)", &r.holdout_default),
                metrics_row("calibrated (held out)", &r.holdout_calibrated),
                metrics_row("calibrated (fitting rows)", &r.fit_calibrated),
            ],
        },
    ];
    if !changed.is_empty() {
        sections.push(Section {
            title: "Thresholds changed by calibration".into(),
            header: vec!["Threshold", "Default", "Calibrated"],
            rows: changed,
        });
    }
    sections
}

pub(crate) const NOTHING_CHANGED: &str =
    "No threshold changed: the defaults already do best on the fitting rows.";

impl Exporter<CalibrationReport> for TableExporter {
    fn export(&self, report: &CalibrationReport) -> Result<Vec<u8>> {
        let mut out = format!("{}\n\n", calibration_intro(report));
        for section in calibration_sections(report) {
            out.push_str(&render_table(&section));
            out.push('\n');
        }
        if changed_gates(report).is_empty() {
            out.push_str(NOTHING_CHANGED);
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

impl Exporter<CalibrationReport> for MarkdownExporter {
    fn export(&self, report: &CalibrationReport) -> Result<Vec<u8>> {
        let mut out = format!(
            "## faultmap: score calibration\n\n{}\n\n",
            calibration_intro(report)
        );
        for section in calibration_sections(report) {
            out.push_str(&render_markdown(&section));
        }
        if changed_gates(report).is_empty() {
            out.push_str(NOTHING_CHANGED);
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}
