//! Exporters of `faultmap regress`: table, Markdown (verdict first, for a pull-request comment
//! or CI step summary), and JSONL (one line per case). JSON is the generic exporter; JUnit is
//! in `junit.rs`.

use super::color::{cell_color, paint, Verdict as Paint};
use super::escape::{one_line, truncate};
use super::json::{push_line, JsonlExporter};
use super::markdown::{md_cell, MarkdownExporter};
use super::table::{cell_text, format_p, new_table, right, TableExporter};
use super::Exporter;
use crate::analysis::regress::{
    CaseChange, Change, Comparison, Metric, RegressReport, SliceComparison, Verdict,
};
use crate::error::Result;
use comfy_table::Cell;
use serde::Serialize;

/// A value of the gate metric: a pass rate as a percentage, a score with three decimals.
pub fn value(metric: Metric, x: f64) -> String {
    match metric {
        Metric::PassRate => format!("{:.1}%", 100.0 * x),
        Metric::MeanScore => format!("{x:.3}"),
    }
}

/// A difference of the gate metric: percentage points, or score units.
pub fn difference(metric: Metric, x: f64) -> String {
    match metric {
        Metric::PassRate => format!("{:+.1} pts", 100.0 * x),
        Metric::MeanScore => format!("{x:+.3}"),
    }
}

pub(crate) fn interval(metric: Metric, ci: [f64; 2]) -> String {
    match metric {
        Metric::PassRate => format!("[{:+.1}, {:+.1}]", 100.0 * ci[0], 100.0 * ci[1]),
        Metric::MeanScore => format!("[{:+.3}, {:+.3}]", ci[0], ci[1]),
    }
}

pub(crate) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub(crate) fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::PassRate => "pass rate",
        Metric::MeanScore => "mean score",
    }
}

/// Baseline and candidate values of the gate metric.
pub(crate) fn sides(metric: Metric, c: &Comparison) -> (f64, f64) {
    match (metric, c.baseline_mean_score, c.candidate_mean_score) {
        (Metric::MeanScore, Some(b), Some(k)) => (b, k),
        _ => (c.baseline_pass_rate, c.candidate_pass_rate),
    }
}

pub(crate) fn change_word(change: Change) -> &'static str {
    match change {
        Change::Regressed => "regressed",
        Change::Improved => "improved",
        Change::Unchanged => "unchanged",
    }
}

/// The verdict and the whole-run numbers, in plain text.
fn headline(report: &RegressReport, color: bool) -> String {
    let m = report.metric;
    let g = &report.global;
    let (b, c) = sides(m, g);
    let verdict = match report.verdict {
        Verdict::Pass => paint("No regression", Paint::Good, color),
        Verdict::Regression => format!(
            "{} (gates: {})",
            paint("REGRESSION", Paint::Bad, color),
            report.gates_tripped.join(", ")
        ),
    };
    format!(
        "{verdict}: {} {} → {} ({}, {:.0}% CI {}), whole run {}.\n",
        metric_name(m),
        value(m, b),
        value(m, c),
        difference(m, g.difference),
        100.0 * report.parameters.confidence,
        interval(m, g.ci),
        change_word(g.change),
    )
}

/// One line for stderr when the run regressed: the gates, the whole-run numbers and the
/// regressed slices (at most three named).
pub fn gate_summary(report: &RegressReport) -> String {
    const NAMED: usize = 3;
    let mut line = headline(report, false).trim_end().to_string();
    let regressed: Vec<&str> = report
        .slices
        .iter()
        .filter(|s| s.comparison.change == Change::Regressed)
        .map(|s| s.name.as_str())
        .collect();
    if !regressed.is_empty() {
        let named: Vec<String> = regressed
            .iter()
            .take(NAMED)
            .map(|n| format!("\"{n}\""))
            .collect();
        line.push_str(&format!(" Regressed slices: {}", named.join(", ")));
        if regressed.len() > NAMED {
            line.push_str(&format!(" and {} more", regressed.len() - NAMED));
        }
        line.push('.');
    }
    if report.num_regressed_cases > 0 {
        line.push_str(&format!(" {} cases regressed.", report.num_regressed_cases));
    }
    if !report.only_in_baseline.is_empty() {
        line.push_str(&format!(
            " {} baseline cases are missing from the candidate.",
            report.only_in_baseline.len()
        ));
    }
    line
}

/// Pairing, flips and settings, in plain text.
pub(crate) fn details(report: &RegressReport) -> String {
    let p = &report.parameters;
    format!(
        "{} pairs matched by {}; {} only in the baseline, {} only in the candidate. {} pass→fail, \
         {} fail→pass; {} cases regressed, {} improved. Margin {}, one-sided alpha {}. \
         Slices: {} tested{}, {} regressed, {} improved, {} too small to test.\n",
        report.num_pairs,
        match report.matched_by {
            crate::analysis::regress::cases::KeyKind::Id => "id",
            crate::analysis::regress::cases::KeyKind::Prompt => "prompt",
        },
        report.only_in_baseline.len(),
        report.only_in_candidate.len(),
        report.global.pass_to_fail,
        report.global.fail_to_pass,
        report.num_regressed_cases,
        report.num_improved_cases,
        match report.metric {
            Metric::PassRate => format!("{:.1} pts", 100.0 * p.margin),
            Metric::MeanScore => format!("{:.3}", p.margin),
        },
        p.alpha,
        report.num_slices_tested,
        if p.regression_scan.ran {
            let drawn = report.slices.iter().filter(|s| s.source == "scan").count();
            format!(" ({drawn} drawn by the regression scan)")
        } else {
            " (no regression scan)".to_string()
        },
        report.num_regressed_slices,
        report.num_improved_slices,
        report.num_slices_untested,
    )
}

/// The slices that moved (regressed or improved), in report order.
fn moved(report: &RegressReport) -> Vec<&SliceComparison> {
    report
        .slices
        .iter()
        .filter(|s| s.comparison.change != Change::Unchanged)
        .collect()
}

pub(crate) fn case_score(score: Option<f64>, pass: bool) -> String {
    let outcome = if pass { "pass" } else { "fail" };
    match score {
        Some(s) => format!("{s:.3} {outcome}"),
        None => outcome.to_string(),
    }
}

pub(crate) fn case_delta(case: &CaseChange) -> String {
    match case.delta {
        Some(d) => format!("{d:+.3}"),
        None => String::new(),
    }
}

impl Exporter<RegressReport> for TableExporter {
    fn export(&self, report: &RegressReport) -> Result<Vec<u8>> {
        let m = report.metric;
        let mut out = headline(report, self.color);
        out.push_str(&details(report));
        let moved = moved(report);
        if !moved.is_empty() {
            let ci = format!("{:.0}% CI", 100.0 * report.parameters.confidence);
            let mut table = new_table(vec![
                "#",
                "Slice",
                "Pairs",
                "Baseline",
                "Candidate",
                "Change",
                &ci,
                "Adj. p",
                "",
            ]);
            if self.color {
                table.enforce_styling();
            }
            for (i, s) in moved.iter().enumerate() {
                let c = &s.comparison;
                let (b, k) = sides(m, c);
                table.add_row(vec![
                    right((i + 1).to_string()),
                    Cell::new(cell_text(&s.name, 50)),
                    right(c.pairs.to_string()),
                    right(value(m, b)),
                    right(value(m, k)),
                    right(difference(m, c.difference)),
                    right(interval(m, c.ci)),
                    right(format_p(match c.change {
                        Change::Improved => c.p_better,
                        _ => c.p_worse,
                    })),
                    match c.change {
                        Change::Regressed => {
                            Cell::new(change_word(c.change)).fg(cell_color(Paint::Bad))
                        }
                        Change::Improved => {
                            Cell::new(change_word(c.change)).fg(cell_color(Paint::Good))
                        }
                        Change::Unchanged => Cell::new(change_word(c.change)),
                    },
                ]);
            }
            out.push('\n');
            out.push_str(&table.to_string());
            out.push('\n');
            for (i, s) in moved.iter().enumerate() {
                self.push_details(
                    &mut out,
                    i + 1,
                    &s.name,
                    &s.keywords,
                    None,
                    &s.representative_prompts,
                );
            }
        }
        if !report.regressed_cases.is_empty() && self.max_cases > 0 {
            let mut table = new_table(vec!["Case", "Prompt", "Baseline", "Candidate", "Delta"]);
            for case in report.regressed_cases.iter().take(self.max_cases) {
                table.add_row(vec![
                    Cell::new(cell_text(&case.key, 24)),
                    Cell::new(cell_text(&case.prompt, 60)),
                    right(case_score(case.baseline_score, case.baseline_pass)),
                    right(case_score(case.candidate_score, case.candidate_pass)),
                    right(case_delta(case)),
                ]);
            }
            out.push_str(&format!(
                "\nWorst cases ({} of {} regressed):\n",
                report.regressed_cases.len().min(self.max_cases),
                report.regressed_cases.len()
            ));
            out.push_str(&table.to_string());
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

impl Exporter<RegressReport> for MarkdownExporter {
    fn export(&self, report: &RegressReport) -> Result<Vec<u8>> {
        let m = report.metric;
        let g = &report.global;
        let (b, c) = sides(m, g);
        let ci_level = format!("{:.0}% CI", 100.0 * report.parameters.confidence);
        let mut out = match report.verdict {
            Verdict::Pass => String::from("## faultmap regress: ✅ no regression\n\n"),
            Verdict::Regression => format!(
                "## faultmap regress: ❌ regression ({})\n\n",
                report.gates_tripped.join(", ")
            ),
        };
        out.push_str(&format!(
            "**{} {} → {}** ({}, {ci_level} {}): whole run {}.\n\n",
            capitalized(metric_name(m)),
            value(m, b),
            value(m, c),
            difference(m, g.difference),
            interval(m, g.ci),
            change_word(g.change),
        ));
        // Our own text (numbers and fixed words): nothing untrusted to escape.
        out.push_str(&details(report));
        out.push('\n');
        let moved = moved(report);
        if !moved.is_empty() {
            out.push_str("### Slices that moved\n\n");
            out.push_str(&format!(
                "| # | Slice | Pairs | Baseline | Candidate | Change | {ci_level} | Adj. p | |\n"
            ));
            out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
            for (i, s) in moved.iter().enumerate() {
                let c = &s.comparison;
                let (b, k) = sides(m, c);
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    i + 1,
                    md_cell(&s.name, 80),
                    c.pairs,
                    value(m, b),
                    value(m, k),
                    difference(m, c.difference),
                    interval(m, c.ci),
                    format_p(match c.change {
                        Change::Improved => c.p_better,
                        _ => c.p_worse,
                    }),
                    change_word(c.change),
                ));
            }
            out.push('\n');
            for (i, s) in moved.iter().enumerate() {
                self.push_details(
                    &mut out,
                    i + 1,
                    &s.name,
                    &s.keywords,
                    None,
                    &s.representative_prompts,
                );
            }
        }
        if !report.regressed_cases.is_empty() && self.max_cases > 0 {
            out.push_str(&format!(
                "### Worst cases ({} of {} regressed)\n\n",
                report.regressed_cases.len().min(self.max_cases),
                report.regressed_cases.len()
            ));
            out.push_str(
                "| Case | Prompt | Baseline | Candidate | Δ |\n|---|---|---:|---:|---:|\n",
            );
            for case in report.regressed_cases.iter().take(self.max_cases) {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    md_cell(&case.key, 40),
                    md_cell(&case.prompt, 100),
                    case_score(case.baseline_score, case.baseline_pass),
                    case_score(case.candidate_score, case.candidate_pass),
                    case_delta(case),
                ));
            }
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

/// A case present in one run only, as a JSONL line.
#[derive(Serialize)]
struct UnmatchedLine<'a> {
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<usize>,
    only_in: &'a str,
}

impl Exporter<RegressReport> for JsonlExporter {
    /// One line per pair (baseline order), then one per unmatched case.
    fn export(&self, report: &RegressReport) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for case in &report.cases {
            push_line(&mut out, case)?;
        }
        for (side, list) in [
            ("baseline", &report.only_in_baseline),
            ("candidate", &report.only_in_candidate),
        ] {
            for u in list {
                push_line(
                    &mut out,
                    &UnmatchedLine {
                        key: &u.key,
                        row: u.row,
                        only_in: side,
                    },
                )?;
            }
        }
        Ok(out)
    }
}

/// Short text for a JUnit failure message: the numbers of one comparison.
pub fn comparison_text(metric: Metric, c: &Comparison, confidence: f64) -> String {
    let (b, k) = sides(metric, c);
    one_line(&truncate(
        &format!(
            "{} {} → {} ({}, {:.0}% CI {}), {} pairs, {} pass→fail, {} fail→pass, p(worse) {}, p(better) {}",
            metric_name(metric),
            value(metric, b),
            value(metric, k),
            difference(metric, c.difference),
            100.0 * confidence,
            interval(metric, c.ci),
            c.pairs,
            c.pass_to_fail,
            c.fail_to_pass,
            format_p(c.p_worse),
            format_p(c.p_better),
        ),
        400,
    ))
}
