//! Exporters of `faultmap coverage`: table, Markdown, JSONL (one line per production prompt;
//! JSON is the generic exporter), and the suggested-tests file of `--emit-tests`.

use super::json::{push_line, JsonlExporter};
use super::markdown::{md_cell, MarkdownExporter};
use super::table::{cell_text, format_p, naming_summary, new_table, percent, right, TableExporter};
use super::Exporter;
use crate::analysis::coverage::rules::ThresholdSource;
use crate::analysis::coverage::CoverageReport;
use crate::error::Result;
use crate::input::Dataset;
use comfy_table::Cell;
use serde::Serialize;

/// What the distance rule compared with its threshold, in words.
fn distance_score(report: &CoverageReport) -> String {
    match report.parameters.threshold {
        ThresholdSource::Calibrated { smoothed_over, .. } if smoothed_over > 1 => {
            format!("mean nearest-test distance over {smoothed_over} nearby prompts")
        }
        _ => "nearest-test distance".to_string(),
    }
}

fn summary(report: &CoverageReport) -> String {
    let mut out = format!(
        "Coverage {}: {} of {} production prompts uncovered ({} by {} > {:.3}, {} by \
         neighbours), {} tests. {} gaps, {} uncovered prompts in no gap, {} thinly tested topics.",
        percent(report.overall_coverage_score),
        report.num_uncovered_total,
        report.num_production,
        report.num_uncovered_by_distance,
        distance_score(report),
        report.distance_threshold,
        report.num_uncovered_by_neighbours,
        report.num_tests,
        report.num_gaps,
        report.unclustered_prompt_indices.len(),
        report.num_thin_topics,
    );
    if report.num_tests_without_traffic > 0 {
        out.push_str(&format!(
            " {} tests have no production prompt within {:.3}.",
            report.num_tests_without_traffic, report.nearest_distance_threshold
        ));
    }
    out.push('\n');
    if let Some(naming) = &report.llm_naming {
        out.push_str(&cell_text(&naming_summary(naming, "gaps"), 400));
        out.push('\n');
    }
    out
}

impl Exporter<CoverageReport> for TableExporter {
    fn export(&self, report: &CoverageReport) -> Result<Vec<u8>> {
        let mut out = summary(report);
        if !report.gaps.is_empty() {
            let mut table = new_table(vec!["#", "Gap", "Size", "Traffic", "Mean distance"]);
            for (i, g) in report.gaps.iter().enumerate() {
                table.add_row(vec![
                    right((i + 1).to_string()),
                    Cell::new(cell_text(&g.name, 60)),
                    right(g.size.to_string()),
                    right(percent(g.traffic_share)),
                    right(format!("{:.3}", g.mean_distance)),
                ]);
            }
            out.push_str(&format!("\nGaps\n{table}\n\n"));
            for (i, g) in report.gaps.iter().enumerate() {
                self.push_details(
                    &mut out,
                    i + 1,
                    &g.name,
                    &g.keywords,
                    Some(&g.llm),
                    &g.representative_prompts,
                );
            }
        }
        if !report.thin_topics.is_empty() {
            let mut table = new_table(vec![
                "#",
                "Thin topic",
                "Size",
                "Traffic",
                "Tests",
                "Expected",
                "Ratio",
                "Adj. p",
            ]);
            for (i, t) in report.thin_topics.iter().enumerate() {
                table.add_row(vec![
                    right((i + 1).to_string()),
                    Cell::new(cell_text(&t.name, 60)),
                    right(t.size.to_string()),
                    right(percent(t.traffic_share)),
                    right(t.tests.to_string()),
                    right(format!("{:.1}", t.expected_tests)),
                    right(format!("{:.1}x", t.density_ratio)),
                    right(format_p(t.adjusted_p_value)),
                ]);
            }
            out.push_str(&format!("\nThinly tested topics\n{table}\n"));
        }
        if report.gaps.is_empty() && report.thin_topics.is_empty() {
            out.push_str("No gaps and no thinly tested topics.\n");
        }
        Ok(out.into_bytes())
    }
}

impl Exporter<CoverageReport> for MarkdownExporter {
    fn export(&self, report: &CoverageReport) -> Result<Vec<u8>> {
        let mut out = String::from("## faultmap: test coverage\n\n");
        out.push_str(&format!(
            "**{}** of production traffic is covered by the {} tests; {} of {} prompts are \
             uncovered ({} above {:.3}). {} gaps, {} thinly tested topics.\n\n",
            percent(report.overall_coverage_score),
            report.num_tests,
            report.num_uncovered_total,
            report.num_production,
            distance_score(report),
            report.distance_threshold,
            report.num_gaps,
            report.num_thin_topics,
        ));
        if let Some(naming) = &report.llm_naming {
            out.push_str(&format!(
                "{}\n\n",
                md_cell(&naming_summary(naming, "gaps"), 400)
            ));
        }
        if !report.gaps.is_empty() {
            out.push_str("### Gaps\n\n| # | Gap | Size | Traffic | Mean distance |\n");
            out.push_str("|---:|---|---:|---:|---:|\n");
            for (i, g) in report.gaps.iter().enumerate() {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {:.3} |\n",
                    i + 1,
                    md_cell(&g.name, 80),
                    g.size,
                    percent(g.traffic_share),
                    g.mean_distance
                ));
            }
            out.push('\n');
            for (i, g) in report.gaps.iter().enumerate() {
                self.push_details(
                    &mut out,
                    i + 1,
                    &g.name,
                    &g.keywords,
                    Some(&g.llm),
                    &g.representative_prompts,
                );
            }
        }
        if !report.thin_topics.is_empty() {
            out.push_str(
                "### Thinly tested topics\n\n| # | Topic | Size | Traffic | Tests | Expected | Ratio | Adj. p |\n",
            );
            out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|\n");
            for (i, t) in report.thin_topics.iter().enumerate() {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {:.1} | {:.1}x | {} |\n",
                    i + 1,
                    md_cell(&t.name, 80),
                    t.size,
                    percent(t.traffic_share),
                    t.tests,
                    t.expected_tests,
                    t.density_ratio,
                    format_p(t.adjusted_p_value)
                ));
            }
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

/// One line per production prompt, in input order: its nearest test, distance, whether and
/// why it is uncovered, and its gap.
impl Exporter<CoverageReport> for JsonlExporter {
    fn export(&self, report: &CoverageReport) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for prompt in &report.prompts {
            push_line(&mut out, prompt)?;
        }
        Ok(out)
    }
}

/// A line of the `--emit-tests` file: readable as a test file by `faultmap coverage --tests`.
#[derive(Serialize)]
struct SuggestedTest<'a> {
    prompt: &'a str,
    gap: &'a str,
    /// 0-based row of the production file it comes from.
    production_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    production_id: Option<&'a str>,
    distance: f64,
}

/// The `--emit-tests` JSONL: the first `per_gap` representative prompts of each gap, gaps in
/// report order.
pub fn suggested_tests(
    report: &CoverageReport,
    production: &Dataset,
    per_gap: usize,
) -> Result<Vec<u8>> {
    let by_row: std::collections::HashMap<usize, usize> = production
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.row, i))
        .collect();
    let mut out = Vec::new();
    for gap in &report.gaps {
        for &row in gap.representative_indices.iter().take(per_gap) {
            let i = by_row[&row];
            let record = &production.records[i];
            push_line(
                &mut out,
                &SuggestedTest {
                    prompt: &record.prompt,
                    gap: &gap.name,
                    production_index: row,
                    production_id: record.id.as_deref(),
                    distance: report.prompts[i].distance,
                },
            )?;
        }
    }
    Ok(out)
}
