//! The score page: how the run was made, the ACCEPT / REVIEW / REJECT breakdown, the final
//! score's distribution per decision, the gate and failure-type counts, and the worst rows with
//! their least supported sentences. `score --calibrate` gets a page of its tables.

use super::chart::{grid, share_bar, ticks, Part};
use super::{num, page, skipped, text, PALETTE};
use crate::analysis::score::calibrate::CalibrationReport;
use crate::analysis::score::decide::Decision;
use crate::analysis::score::{ScoreReport, ScoredRow};
use crate::error::Result;
use crate::export::escape::html;
use crate::export::score::{
    calibration_intro, calibration_sections, changed_gates, name, score_sections, Section,
    NOTHING_CHANGED,
};
use crate::export::Exporter;
use crate::input::Dataset;
use std::fmt::Write;

/// How the run was made, for the header: what the report itself does not hold.
pub struct ScoreRun {
    /// `--config`, when given (else the built-in gates).
    pub config: Option<String>,
    pub seed: u64,
}

/// The score page. It needs the rows' texts, which the report does not keep (only JSONL
/// echoes input rows): `data` is the dataset the report was made from, row for row.
pub struct ScoreHtml<'a> {
    pub data: &'a Dataset,
    pub run: ScoreRun,
}

/// Rows in the worst-rows table.
const WORST_ROWS: usize = 20;
/// Bins of the final-score histogram over [0, 1].
const BINS: usize = 20;
/// Longest query and response excerpt in the table (the cell's title holds a longer one).
const QUERY_CHARS: usize = 300;
const RESPONSE_CHARS: usize = 400;
/// Low-confidence sentences listed per row (least supported first).
const SENTENCES: usize = 3;

const DECISIONS: [(Decision, &str, &str); 3] = [
    (Decision::Accept, "ACCEPT", PALETTE[4]),
    (Decision::Review, "REVIEW", PALETTE[5]),
    (Decision::Reject, "REJECT", PALETTE[2]),
];

impl Exporter<ScoreReport> for ScoreHtml<'_> {
    fn export(&self, report: &ScoreReport) -> Result<Vec<u8>> {
        let mut body = String::new();
        self.header(&mut body, report);
        decisions(&mut body, report);
        histogram(&mut body, report);
        // Side by side: each table is a few short rows, and a full-width one reads badly.
        body.push_str(
            "<section id=\"counts\">\n<h2>Gates, failure types and scores</h2>\n\
             <div style=\"display:flex;flex-wrap:wrap;gap:0 2rem;align-items:flex-start\">\n",
        );
        for section in score_sections(&report.summary) {
            body.push_str("<div>");
            section_table(&mut body, &section);
            body.push_str("</div>\n");
        }
        body.push_str("</div>\n</section>\n");
        self.worst(&mut body, report);
        let title = format!("faultmap score: {}", report.summary.input);
        Ok(page(&title, &body).into_bytes())
    }
}

impl ScoreHtml<'_> {
    fn header(&self, out: &mut String, r: &ScoreReport) {
        let s = &r.summary;
        let mut mode = match &s.judge {
            Some(j) => format!("LLM judge on the rows in band {}", j.band),
            None => "heuristic".to_string(),
        };
        if let Some(c) = &s.consistency {
            let _ = write!(
                mode,
                ", consistency ({} paraphrases per row)",
                c.paraphrases_per_row
            );
        }
        let _ = writeln!(
            out,
            "<header>\n<h1>faultmap: response scores</h1>\n<dl class=\"facts\">\n\
             <dt>Input</dt><dd>{}</dd>\n\
             <dt>Rows</dt><dd>{} scored{}</dd>\n\
             <dt>Mode</dt><dd>{}</dd>\n\
             <dt>Gates</dt><dd>{}</dd>\n\
             <dt>Embedder</dt><dd>{}, seed {}</dd>\n\
             <dt>Tool</dt><dd>faultmap {}</dd>\n</dl>\n</header>",
            html(&s.input),
            s.total_rows,
            skipped(s.skipped_rows),
            html(&mode),
            match &self.run.config {
                Some(path) => html(path),
                None => "built-in defaults (see --print-config)".to_string(),
            },
            html(&s.embedder),
            self.run.seed,
            env!("CARGO_PKG_VERSION"),
        );
    }

    fn worst(&self, out: &mut String, r: &ScoreReport) {
        let mut order: Vec<usize> = (0..r.rows.len()).collect();
        // Lowest final score first; input order breaks ties, so the page is deterministic.
        order.sort_by(|&a, &b| {
            r.rows[a]
                .scores
                .final_score
                .total_cmp(&r.rows[b].scores.final_score)
                .then(a.cmp(&b))
        });
        order.truncate(WORST_ROWS);
        let _ = writeln!(
            out,
            "<section id=\"worst\">\n<h2>The {} lowest final scores</h2>\n\
             <p class=\"note noprint\">Click a column header to sort. Row is the 0-based data \
             row of the input; sentences are the response's least supported ones (support \
             below <code>evidence.sentence_support</code>).</p>\n\
             <table class=\"sortable\">\n<thead><tr><th>Row</th><th>Final</th>\
             <th>Decision</th><th>Failure type, gate, next action</th><th>Reason</th>\
             <th>Query</th><th>Response</th><th>Low-confidence sentences</th></tr></thead>\n\
             <tbody>",
            order.len()
        );
        for i in order {
            let record = self.data.records.get(i);
            let query = record.map_or("", |d| d.prompt.as_str());
            let response = record.and_then(|d| d.response.as_deref()).unwrap_or("");
            worst_row(out, &r.rows[i], query, response);
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }
}

fn worst_row(out: &mut String, row: &ScoredRow, query: &str, response: &str) {
    let v = &row.verdict;
    let mut weakest: Vec<_> = row.low_confidence_sentences.iter().collect();
    weakest.sort_by(|a, b| a.support.total_cmp(&b.support).then(a.index.cmp(&b.index)));
    let sentences: String = weakest
        .iter()
        .take(SENTENCES)
        .map(|s| {
            format!(
                "<li>{} <em>({:.2})</em></li>",
                text(&s.text, 200),
                s.support
            )
        })
        .collect();
    let final_score = row.scores.final_score;
    let _ = writeln!(
        out,
        "<tr><td class=\"n\" data-v=\"{n}\">{n}</td>\
         <td class=\"n\" data-v=\"{final_score}\">{final_score:.3}</td><td><b>{}</b></td>\
         <td>{}<br><span class=\"note\">gate {}<br>then {}</span></td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td></tr>",
        name(&v.decision),
        breakable(&name(&v.failure_type)),
        breakable(&name(&v.gate)),
        breakable(&name(&v.next_action)),
        text(&v.reason, 300),
        text(query, QUERY_CHARS),
        super::text_ends(response, RESPONSE_CHARS),
        if sentences.is_empty() {
            "<span class=\"note\">none</span>".to_string()
        } else {
            format!("<ul>{sentences}</ul>")
        },
        n = row.row,
    );
}

/// A snake_case name (escaped) that may wrap after its underscores in a narrow column.
fn breakable(name: &str) -> String {
    html(name).replace('_', "_<wbr>")
}

fn decisions(out: &mut String, r: &ScoreReport) {
    let s = &r.summary;
    let count = |d: &Decision| s.decisions.get(d).copied().unwrap_or(0);
    out.push_str("<section id=\"decisions\">\n<h2>Decisions</h2>\n");
    let parts: Vec<Part> = DECISIONS
        .iter()
        .map(|(d, label, colour)| Part {
            label,
            count: count(d),
            colour,
        })
        .collect();
    share_bar(out, "Rows per decision", &parts);
    out.push_str("</section>\n");
}

const HIST_W: f64 = 760.0;
const HIST_H: f64 = 90.0;
const HIST_LEFT: f64 = 40.0;
const HIST_TOP: f64 = 18.0;

/// Small multiples, one panel per decision on the same axes: a stack would hide the smaller
/// decisions' shapes, and panels are told apart by their titles, not their colours.
fn histogram(out: &mut String, r: &ScoreReport) {
    let mut bins = [[0usize; BINS]; 3];
    for row in &r.rows {
        let k = DECISIONS
            .iter()
            .position(|(d, _, _)| *d == row.verdict.decision)
            .unwrap_or(1);
        let x = row.scores.final_score;
        let b = if x.is_finite() {
            ((x.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1)
        } else {
            0
        };
        bins[k][b] += 1;
    }
    let peak = bins.iter().flatten().copied().max().unwrap_or(0).max(1);
    let _ = writeln!(
        out,
        "<section id=\"histogram\">\n<h2>Final score by decision</h2>\n<p class=\"note\">Rows per \
         {}-wide bin of the final score, one panel per decision, on the same scale (tallest \
         bin: {peak} rows).</p>",
        1.0 / BINS as f64
    );
    let plot_w = HIST_W - HIST_LEFT - 10.0;
    let x = |v: f64| HIST_LEFT + plot_w * v;
    let bin_w = plot_w / BINS as f64;
    for (k, (_, label, colour)) in DECISIONS.iter().enumerate() {
        let rows: usize = bins[k].iter().sum();
        let height = HIST_TOP + HIST_H + 18.0;
        let _ = writeln!(
            out,
            "<svg viewBox=\"0 0 {HIST_W} {height}\" width=\"{HIST_W}\" height=\"{height}\" \
             role=\"img\" aria-label=\"Final scores of the {label} rows\">\n\
             <text x=\"0\" y=\"12\" style=\"font-weight:700\">{label} ({rows} rows)</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{peak}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
            num(HIST_LEFT - 4.0),
            num(HIST_TOP + 8.0),
            num(HIST_LEFT - 4.0),
            num(HIST_TOP + HIST_H),
        );
        grid(
            out,
            &ticks(0.0, 1.0),
            x,
            |t| format!("{t:.1}"),
            HIST_TOP,
            HIST_TOP + HIST_H,
        );
        for (b, &n) in bins[k].iter().enumerate().filter(|(_, &n)| n > 0) {
            let h = HIST_H * n as f64 / peak as f64;
            let lo = b as f64 / BINS as f64;
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\" \
                 stroke=\"#1d1d1f\" stroke-width=\"0.5\"><title>{label}: {n} rows with final in \
                 [{lo:.2}, {:.2}{}</title></rect>",
                num(x(lo)),
                num(HIST_TOP + HIST_H - h),
                num(bin_w),
                num(h),
                lo + 1.0 / BINS as f64,
                if b + 1 == BINS { "]" } else { ")" },
            );
        }
        out.push_str("</svg>\n");
    }
    out.push_str("</section>\n");
}

/// One of the text reports' sections as a small table (labels and numbers, escaped anyway).
fn section_table(out: &mut String, section: &Section) {
    let _ = write!(
        out,
        "<h3>{}</h3>\n<table class=\"counts\">\n<thead><tr>",
        html(&section.title)
    );
    for h in &section.header {
        let _ = write!(out, "<th>{}</th>", html(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &section.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if i == 0 { "" } else { " class=\"n\"" };
            let _ = write!(out, "<td{class}>{}</td>", html(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The `--calibrate` page: the text report's tables.
pub struct CalibrationHtml;

impl Exporter<CalibrationReport> for CalibrationHtml {
    fn export(&self, report: &CalibrationReport) -> Result<Vec<u8>> {
        let mut body = format!(
            "<header>\n<h1>faultmap: score calibration</h1>\n<p>{}</p>\n</header>\n<section>\n",
            html(&calibration_intro(report))
        );
        for section in calibration_sections(report) {
            section_table(&mut body, &section);
        }
        if changed_gates(report).is_empty() {
            let _ = writeln!(body, "<p>{NOTHING_CHANGED}</p>");
        }
        body.push_str("</section>\n");
        Ok(page("faultmap score calibration", &body).into_bytes())
    }
}
