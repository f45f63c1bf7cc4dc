//! Markdown for pull-request comments and CI step summaries.

use super::escape::{markdown, one_line, truncate};
use super::table::{format_p, llm_lines, naming_summary, outcome_summary, percent, LLM_TEXT_CHARS};
use super::Exporter;
use crate::analysis::slices::SliceReport;
use crate::error::Result;
use crate::naming::llm::LlmNaming;

pub struct MarkdownExporter {
    pub prompts_per_slice: usize,
    /// Rows shown in lists of cases (regress: worst cases).
    pub max_cases: usize,
}

impl Default for MarkdownExporter {
    fn default() -> Self {
        MarkdownExporter {
            prompts_per_slice: 3,
            max_cases: 10,
        }
    }
}

impl MarkdownExporter {
    /// A slice's rank, name, keywords, what `--name-with-llm` added (as a quote), and first
    /// representative prompts, below a table.
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
            "**{rank}. {}**: {}\n\n",
            md_cell(name, 80),
            md_cell(&keywords.join(", "), 120)
        ));
        let quoted: Vec<String> = naming
            .map(llm_lines)
            .unwrap_or_default()
            .into_iter()
            .map(|(label, text)| format!("> **{label}:** {}", md_cell(text, LLM_TEXT_CHARS)))
            .collect();
        if !quoted.is_empty() {
            out.push_str(&quoted.join("\n>\n"));
            out.push_str("\n\n");
        }
        for prompt in prompts.iter().take(self.prompts_per_slice) {
            out.push_str(&format!("- {}\n", md_cell(prompt, 140)));
        }
        out.push('\n');
    }
}

pub fn md_cell(text: &str, max: usize) -> String {
    markdown(&truncate(&one_line(text), max))
}

impl Exporter<SliceReport> for MarkdownExporter {
    fn export(&self, report: &SliceReport) -> Result<Vec<u8>> {
        let mut out = String::from("## faultmap: failure slices\n\n");
        out.push_str(&format!(
            "**{}** of {} candidate slices fail significantly more often than the rest \
             (FDR {}). {} prompts, {} failures, baseline failure rate {}.{}\n\n",
            report.num_significant,
            report.num_candidates,
            report.parameters.alpha,
            report.total_prompts,
            report.total_failures,
            percent(report.baseline_failure_rate),
            report
                .selection_note()
                .map_or(String::new(), |note| format!(" {note}")),
        ));
        if let Some(outcomes) = &report.parameters.outcomes {
            out.push_str(&format!("{}\n\n", md_cell(&outcome_summary(outcomes), 400)));
        }
        if let Some(naming) = &report.llm_naming {
            out.push_str(&format!(
                "{}\n\n",
                md_cell(&naming_summary(naming, "slices"), 400)
            ));
        }
        if report.slices.is_empty() {
            return Ok(out.into_bytes());
        }
        out.push_str(
            "| # | Slice | Source | Size | Failure rate [95% CI] | Ratio | Excess | Adj. p |\n",
        );
        out.push_str("|---:|---|---|---:|---:|---:|---:|---:|\n");
        for (i, s) in report.slices.iter().enumerate() {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} [{}, {}] | {:.2}x | {:.1} | {} |\n",
                i + 1,
                md_cell(&s.name, 80),
                md_cell(&s.source_label(), 30),
                s.size,
                percent(s.failure_rate),
                percent(s.failure_rate_ci[0]),
                percent(s.failure_rate_ci[1]),
                s.effect_size,
                s.excess_failures,
                format_p(s.adjusted_p_value),
            ));
        }
        out.push('\n');
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
