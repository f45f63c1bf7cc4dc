//! Tables for people on a terminal (comfy-table).

use super::escape::{one_line, terminal, truncate};
use super::Exporter;
use crate::analysis::outcome::OutcomeSummary;
use crate::analysis::slices::{Slice, SliceReport};
use crate::error::Result;
use crate::naming::llm::{LlmNaming, NamingSummary};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};

/// Renders a report as a summary, a table and per-slice details.
pub struct TableExporter {
    /// Representative prompts shown per slice.
    pub prompts_per_slice: usize,
    /// Rows shown in lists of cases (regress: worst cases).
    pub max_cases: usize,
    /// Verdicts in colour (`--color`).
    pub color: bool,
}

impl Default for TableExporter {
    fn default() -> Self {
        TableExporter {
            prompts_per_slice: 3,
            max_cases: 10,
            color: false,
        }
    }
}

/// A p-value in a short, readable form.
pub fn format_p(p: f64) -> String {
    if p == 0.0 {
        "<1e-300".into()
    } else if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

pub fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Untrusted text made safe and short for one table cell.
pub fn cell_text(text: &str, max: usize) -> String {
    terminal(&truncate(&one_line(text), max))
}

/// A right-aligned cell (numbers).
pub fn right(text: String) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}

/// A condensed table with `header`, wrapped to the terminal when its width is known and
/// usable: a pty that reports width 0 would otherwise squeeze every column to one character.
pub fn new_table(header: Vec<&str>) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(header);
    if table.width().is_some_and(|w| w >= 60) {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    table
}

/// Longest model-written text shown (descriptions, causes, fixes, naming errors).
pub const LLM_TEXT_CHARS: usize = 300;

/// The `--name-with-llm` line under a summary: the model, and how many items kept their
/// keyword names. `items` is the plural noun (`slices`, `gaps`).
pub fn naming_summary(summary: &NamingSummary, items: &str) -> String {
    let total = summary.named + summary.kept_keyword_names;
    let mut line = format!(
        "Named by the LLM {}: {} of {total} {items}",
        summary.model, summary.named
    );
    if summary.kept_keyword_names > 0 {
        line.push_str(&format!(
            "; {} kept {} keyword name (the call failed or the answer was unusable)",
            summary.kept_keyword_names,
            if summary.kept_keyword_names == 1 {
                "its"
            } else {
                "their"
            }
        ));
    }
    line.push('.');
    line
}

/// Where derived outcomes came from, in one sentence (`parameters.outcomes`).
pub fn outcome_summary(o: &OutcomeSummary) -> String {
    let mut parts = Vec::new();
    for (n, what) in [
        (o.score, "a score"),
        (o.label, "a label"),
        (o.reference_similarity, "reference similarity"),
        (o.sampling_agreement, "sampling agreement"),
    ] {
        if n > 0 {
            parts.push(format!("{n} from {what}"));
        }
    }
    let mut line = format!(
        "Outcomes: {} (answers embedded with {}, match threshold {})",
        parts.join(", "),
        o.answer_embedder,
        o.match_threshold
    );
    if let Some(s) = &o.sampling {
        line.push_str(&format!(
            "; {} samples per prompt from {} at temperature {}, failing below {}",
            s.samples, s.llm_model, s.temperature, s.failure_threshold
        ));
        if s.failed_rows > 0 {
            line.push_str(&format!(
                ", {} rows left out after failed samples",
                s.failed_rows
            ));
        }
    }
    line.push('.');
    line
}

impl TableExporter {
    /// A slice's rank, name, keywords, what `--name-with-llm` added, and first representative
    /// prompts, below a table.
    pub fn push_details(
        &self,
        out: &mut String,
        rank: usize,
        name: &str,
        keywords: &[String],
        naming: Option<&LlmNaming>,
        prompts: &[String],
    ) {
        out.push_str(&format!(
            "{rank}. {}  [{}]\n",
            cell_text(name, 80),
            cell_text(&keywords.join(", "), 100)
        ));
        for (label, text) in naming.map(llm_lines).unwrap_or_default() {
            out.push_str(&format!(
                "     {label}: {}\n",
                cell_text(text, LLM_TEXT_CHARS)
            ));
        }
        for prompt in prompts.iter().take(self.prompts_per_slice) {
            out.push_str(&format!("     - {}\n", cell_text(prompt, 100)));
        }
    }
}

/// What `--name-with-llm` added to an item, labelled, in display order.
pub fn llm_lines(naming: &LlmNaming) -> Vec<(&'static str, &str)> {
    [
        ("Description", &naming.description),
        ("Likely cause", &naming.root_cause),
        ("Suggested fix", &naming.suggested_fix),
        ("Keyword name kept", &naming.naming_error),
    ]
    .into_iter()
    .filter_map(|(label, text)| text.as_deref().map(|t| (label, t)))
    .collect()
}

fn summary(report: &SliceReport) -> String {
    // The tree places every row; it says how the reported slices were chosen instead.
    let placed = report
        .selection_note()
        .unwrap_or_else(|| format!("{} prompts unclustered.", report.num_noise));
    let mut out = format!(
        "{} prompts, {} failures (baseline failure rate {}). {} candidate slices tested, {} significant at FDR {}. {placed}\n",
        report.total_prompts,
        report.total_failures,
        percent(report.baseline_failure_rate),
        report.num_candidates,
        report.num_significant,
        report.parameters.alpha,
    );
    if let Some(outcomes) = &report.parameters.outcomes {
        out.push_str(&cell_text(&outcome_summary(outcomes), 400));
        out.push('\n');
    }
    if let Some(naming) = &report.llm_naming {
        out.push_str(&cell_text(&naming_summary(naming, "slices"), 400));
        out.push('\n');
    }
    out
}

fn slice_row(rank: usize, s: &Slice) -> Vec<Cell> {
    vec![
        right(rank.to_string()),
        Cell::new(cell_text(&s.name, 60)),
        Cell::new(cell_text(&s.source_label(), 20)),
        right(s.size.to_string()),
        right(format!(
            "{} [{}, {}]",
            percent(s.failure_rate),
            percent(s.failure_rate_ci[0]),
            percent(s.failure_rate_ci[1])
        )),
        right(format!("{:.2}x", s.effect_size)),
        right(format!("{:.1}", s.excess_failures)),
        right(format_p(s.adjusted_p_value)),
    ]
}

impl Exporter<SliceReport> for TableExporter {
    fn export(&self, report: &SliceReport) -> Result<Vec<u8>> {
        let mut out = summary(report);
        if report.slices.is_empty() {
            out.push_str("No slice fails significantly more often than the rest.\n");
            return Ok(out.into_bytes());
        }
        let mut table = new_table(vec![
            "#",
            "Slice",
            "Source",
            "Size",
            "Failure rate [95% CI]",
            "Ratio",
            "Excess",
            "Adj. p",
        ]);
        if self.color {
            table.enforce_styling();
        }
        for (i, s) in report.slices.iter().enumerate() {
            let mut row = slice_row(i + 1, s);
            if s.significant {
                row[1] = row[1]
                    .clone()
                    .fg(super::color::cell_color(super::color::Verdict::Bad));
            }
            table.add_row(row);
        }
        out.push('\n');
        out.push_str(&table.to_string());
        out.push_str("\n\n");
        for (i, s) in report.slices.iter().enumerate() {
            self.push_details(
                &mut out,
                i + 1,
                &s.name,
                &s.keywords,
                Some(&s.llm),
                &s.representative_prompts,
            );
        }
        Ok(out.into_bytes())
    }
}
