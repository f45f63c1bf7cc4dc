//! The regress page (`regress check` and `regress compare`): the gate's verdict and what it
//! means for the exit code, the whole run's paired change, a forest plot of the slices'
//! changes with their intervals, a sortable table of the slices, and the worst cases with
//! both responses.

use super::chart::{grid, share_bar, ticks, whisker, Part};
use super::{num, page, skipped, text, PALETTE};
use crate::analysis::regress::{
    CaseChange, Change, Comparison, Metric, RegressReport, SliceComparison, Verdict,
};
use crate::error::Result;
use crate::export::escape::html;
use crate::export::regress::{
    capitalized, case_delta, case_score, change_word, details, difference, interval, metric_name,
    sides, value,
};
use crate::export::table::format_p;
use crate::export::Exporter;
use std::fmt::Write;

pub struct RegressHtml {
    /// `check` (against a recorded baseline) or `compare` (two runs).
    pub mode: &'static str,
    /// Worst cases listed (`--cases`).
    pub max_cases: usize,
}

/// Most slices in the forest plot (the table lists all): the moved ones first, then the
/// largest changes.
const MAX_FOREST: usize = 40;
/// Longest prompt and response in the worst-cases table.
const PROMPT_CHARS: usize = 300;
const RESPONSE_CHARS: usize = 300;

impl Exporter<RegressReport> for RegressHtml {
    fn export(&self, report: &RegressReport) -> Result<Vec<u8>> {
        let mut body = String::new();
        self.header(&mut body, report);
        pairs(&mut body, report);
        forest(&mut body, report);
        slice_table(&mut body, report);
        self.cases(&mut body, report);
        let title = format!(
            "faultmap regress {}: {} vs {}",
            self.mode, report.baseline.source, report.candidate.source
        );
        Ok(page(&title, &body).into_bytes())
    }
}

impl RegressHtml {
    fn header(&self, out: &mut String, r: &RegressReport) {
        let m = r.metric;
        let g = &r.global;
        let (b, c) = sides(m, g);
        let p = &r.parameters;
        let verdict = match r.verdict {
            Verdict::Pass => "<h1 id=\"verdict\" data-verdict=\"pass\">✔ No regression</h1>\n\
                 <p>No gate tripped: <code>faultmap regress</code> exits 0."
                .to_string(),
            Verdict::Regression => format!(
                "<h1 id=\"verdict\" data-verdict=\"regression\">✘ REGRESSION: {} {} \
                 tripped</h1>\n<p><code>faultmap regress</code> exits 1 (a gate tripped; 2 \
                 would be an error).",
                if r.gates_tripped.len() == 1 {
                    "gate"
                } else {
                    "gates"
                },
                html(&r.gates_tripped.join(", "))
            ),
        };
        let on: Vec<&str> = [
            (p.fail_on.global, "global"),
            (p.fail_on.slice, "slice"),
            (p.fail_on.case, "case"),
            (p.fail_on.missing, "missing"),
        ]
        .into_iter()
        .filter_map(|(on, gate)| on.then_some(gate))
        .collect();
        let _ = writeln!(
            out,
            "<header>\n{verdict} Gates checked (<code>--fail-on</code>): {}.</p>\n\
             <p><strong>{} {} → {}</strong> ({}, {:.0}% CI {}): whole run {}.</p>\n\
             <p class=\"note\">{}</p>\n<dl class=\"facts\">\n\
             <dt>Mode</dt><dd>regress {}</dd>\n\
             <dt>Baseline</dt><dd>{} ({} cases{})</dd>\n\
             <dt>Candidate</dt><dd>{} ({} cases{})</dd>\n\
             <dt>Statistics</dt><dd>{}; margin {}, one-sided alpha {}, seed {}</dd>\n\
             <dt>Slices</dt><dd>{} embeddings, at least {} pairs to test, group-by: {}</dd>\n\
             <dt>Tool</dt><dd>faultmap {}</dd>\n</dl>\n</header>",
            if on.is_empty() {
                "none (report only)".to_string()
            } else {
                on.join(", ")
            },
            capitalized(metric_name(m)),
            value(m, b),
            value(m, c),
            difference(m, g.difference),
            100.0 * p.confidence,
            interval(m, g.ci),
            change_word(g.change),
            html(details(r).trim_end()),
            self.mode,
            html(&r.baseline.source),
            r.baseline.cases,
            skipped(r.baseline.skipped_rows),
            html(&r.candidate.source),
            r.candidate.cases,
            skipped(r.candidate.skipped_rows),
            match m {
                Metric::PassRate => "pass rate, paired score test (Tango)",
                Metric::MeanScore => "mean score, paired bootstrap",
            },
            match m {
                Metric::PassRate => format!("{:.1} pts", 100.0 * p.margin),
                Metric::MeanScore => format!("{:.3}", p.margin),
            },
            p.alpha,
            p.seed,
            html(&p.slicing.embedder),
            p.min_slice_size,
            if p.slicing.group_by.is_empty() {
                "none".to_string()
            } else {
                html(&p.slicing.group_by.join(", "))
            },
            html(&p.tool_version),
        );
    }

    fn cases(&self, out: &mut String, r: &RegressReport) {
        out.push_str("<section id=\"cases\">\n<h2>Worst cases</h2>\n");
        let shown = r.regressed_cases.len().min(self.max_cases);
        if shown == 0 {
            let _ = writeln!(
                out,
                "<p>{}</p>\n</section>",
                if r.regressed_cases.is_empty() {
                    "No case went from pass to fail or dropped by more than the case threshold."
                } else {
                    "Cases are not listed (--cases 0)."
                }
            );
            return;
        }
        let _ = writeln!(
            out,
            "<p class=\"note\">{shown} of {} regressed cases (pass to fail, or a score drop \
             above {}), worst first. A baseline file keeps no responses: with <code>check</code> \
             the baseline's column is empty.</p>\n<table class=\"sortable\">\n<thead><tr>\
             <th>Case</th><th>Prompt</th><th>Baseline</th><th>Baseline response</th>\
             <th>Candidate</th><th>Candidate response</th><th>Δ</th><th>Slices</th></tr>\
             </thead>\n<tbody>",
            r.regressed_cases.len(),
            r.parameters.case_threshold,
        );
        for case in r.regressed_cases.iter().take(shown) {
            case_row(out, case);
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }
}

/// A score cell: sorted by score when there is one, else fail (0) before pass (1).
fn score_cell(score: Option<f64>, pass: bool) -> String {
    let v = score.unwrap_or(if pass { 1.0 } else { 0.0 });
    format!(
        "<td class=\"n\" data-v=\"{v}\">{}</td>",
        case_score(score, pass)
    )
}

fn case_row(out: &mut String, case: &CaseChange) {
    let response = |r: &Option<String>| {
        r.as_deref()
            .map_or(String::new(), |t| super::text_ends(t, RESPONSE_CHARS))
    };
    let _ = writeln!(
        out,
        "<tr><td>{}</td><td>{}</td>{}<td>{}</td>{}<td>{}</td>\
         <td class=\"n\" data-v=\"{}\">{}</td><td>{}</td></tr>",
        text(&case.key, 60),
        text(&case.prompt, PROMPT_CHARS),
        score_cell(case.baseline_score, case.baseline_pass),
        response(&case.baseline_response),
        score_cell(case.candidate_score, case.candidate_pass),
        response(&case.candidate_response),
        case.delta.unwrap_or(-1.0),
        case_delta(case),
        text(&case.slices.join("; "), 200),
    );
}

fn pairs(out: &mut String, r: &RegressReport) {
    let g = &r.global;
    let flipped = (g.pass_to_fail + g.fail_to_pass) as usize;
    out.push_str("<section id=\"pairs\">\n<h2>Paired cases</h2>\n");
    share_bar(
        out,
        "Pairs by change of outcome",
        &[
            Part {
                label: "pass → fail",
                count: g.pass_to_fail as usize,
                colour: PALETTE[2],
            },
            Part {
                label: "same outcome",
                count: g.pairs.saturating_sub(flipped),
                colour: PALETTE[9],
            },
            Part {
                label: "fail → pass",
                count: g.fail_to_pass as usize,
                colour: PALETTE[4],
            },
        ],
    );
    out.push_str("</section>\n");
}

/// The slices drawn: every one that moved (up to the cap), then the largest changes; drawn
/// in order of change, worst first.
fn forest_rows(r: &RegressReport) -> Vec<&SliceComparison> {
    let mut picked: Vec<&SliceComparison> = r.slices.iter().collect();
    picked.sort_by(|a, b| {
        // false (moved) sorts before true.
        let unchanged = |s: &SliceComparison| s.comparison.change == Change::Unchanged;
        unchanged(a)
            .cmp(&unchanged(b))
            .then(
                b.comparison
                    .difference
                    .abs()
                    .total_cmp(&a.comparison.difference.abs()),
            )
            .then(a.name.cmp(&b.name))
    });
    picked.truncate(MAX_FOREST);
    picked.sort_by(|a, b| {
        a.comparison
            .difference
            .total_cmp(&b.comparison.difference)
            .then(a.name.cmp(&b.name))
    });
    picked
}

const LABEL_W: f64 = 300.0;
const PLOT_W: f64 = 360.0;
const ROW_H: f64 = 22.0;
const TOP: f64 = 8.0;

/// The marker of a change: its shape and word say it, the colour only repeats them.
fn marker(change: Change, x: f64, y: f64) -> String {
    match change {
        Change::Regressed => format!(
            "<path d=\"M{},{}l6,6l-6,6l-6,-6z\" fill=\"{}\" stroke=\"#1d1d1f\"/>",
            num(x),
            num(y - 6.0),
            PALETTE[2]
        ),
        Change::Improved => format!(
            "<path d=\"M{},{}l6,10h-12z\" fill=\"{}\" stroke=\"#1d1d1f\"/>",
            num(x),
            num(y - 6.0),
            PALETTE[4]
        ),
        Change::Unchanged => format!(
            "<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"#fff\" stroke=\"#1d1d1f\" \
             stroke-width=\"1.5\"/>",
            num(x),
            num(y)
        ),
    }
}

fn forest(out: &mut String, r: &RegressReport) {
    let m = r.metric;
    let level = format!("{:.0}%", 100.0 * r.parameters.confidence);
    let rows = forest_rows(r);
    out.push_str("<section id=\"forest\">\n<h2>Change by slice</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">Candidate minus baseline {} with its {level} interval, for the whole \
         run (top) and {} of {} tested slices, worst first. ◆ regressed (trips the slice gate \
         when it is on), ▲ improved, ○ unchanged. Solid line: no change; dashed: minus the \
         margin.</p>",
        metric_name(m),
        rows.len(),
        r.slices.len(),
    );
    let scale = |x: f64| match m {
        Metric::PassRate => 100.0 * x,
        Metric::MeanScore => x,
    };
    // The axis covers every drawn interval, zero and the margin.
    let (mut lo, mut hi) = (-r.parameters.margin, 0.0f64);
    for c in std::iter::once(&r.global).chain(rows.iter().map(|s| &s.comparison)) {
        lo = lo.min(c.ci[0]).min(c.difference);
        hi = hi.max(c.ci[1]).max(c.difference);
    }
    let pad = 0.05 * (hi - lo).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |v: f64| LABEL_W + PLOT_W * (v - lo) / (hi - lo);
    let height = TOP + ROW_H * (rows.len() + 1) as f64 + 24.0;
    let width = LABEL_W + PLOT_W + 170.0;
    let bottom = height - 20.0;
    let _ = writeln!(
        out,
        "<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         role=\"img\" aria-label=\"Change of {} by slice with {level} intervals\">",
        metric_name(m)
    );
    let unit = match m {
        Metric::PassRate => " pts",
        Metric::MeanScore => "",
    };
    grid(
        out,
        &ticks(scale(lo), scale(hi)),
        |t| {
            x(match m {
                Metric::PassRate => t / 100.0,
                Metric::MeanScore => t,
            })
        },
        |t| {
            if t == 0.0 {
                "0".to_string()
            } else {
                format!("{t:+}{unit}")
            }
        },
        TOP,
        bottom,
    );
    let _ = writeln!(
        out,
        "<line x1=\"{0}\" x2=\"{0}\" y1=\"{2}\" y2=\"{3}\" stroke=\"#1d1d1f\"/>\
         <line class=\"baseline\" x1=\"{1}\" x2=\"{1}\" y1=\"{2}\" y2=\"{3}\"><title>minus the \
         margin</title></line>",
        num(x(0.0)),
        num(x(-r.parameters.margin)),
        num(TOP),
        num(bottom),
    );
    forest_row(out, "Whole run", &r.global, m, 0, &x);
    for (k, s) in rows.iter().enumerate() {
        forest_row(out, &s.name, &s.comparison, m, k + 1, &x);
    }
    out.push_str("</svg>\n</section>\n");
}

fn forest_row(
    out: &mut String,
    name: &str,
    c: &Comparison,
    m: Metric,
    k: usize,
    x: &dyn Fn(f64) -> f64,
) {
    let mid = TOP + ROW_H * k as f64 + ROW_H / 2.0;
    let (lo, hi) = (x(c.ci[0]), x(c.ci[1]));
    let weight = if k == 0 { "font-weight:700" } else { "" };
    let _ = writeln!(
        out,
        "<g><title>{}: {} ({} pairs), interval {}, {}</title>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" style=\"{weight}\">{}</text>\
         {}{}<text x=\"{}\" y=\"{}\">{} {}</text></g>",
        text(name, 120),
        difference(m, c.difference),
        c.pairs,
        interval(m, c.ci),
        change_word(c.change),
        num(LABEL_W - 8.0),
        num(mid + 4.0),
        text(name, 45),
        whisker(lo, hi, mid),
        marker(c.change, x(c.difference), mid),
        num(LABEL_W + PLOT_W + 8.0),
        num(mid + 4.0),
        difference(m, c.difference),
        if c.change == Change::Unchanged {
            String::new()
        } else {
            format!(
                "<tspan style=\"font-weight:700\">{}</tspan>",
                change_word(c.change)
            )
        },
    );
}

fn slice_table(out: &mut String, r: &RegressReport) {
    out.push_str("<section id=\"slices\">\n<h2>Slices</h2>\n");
    if r.slices.is_empty() {
        let _ = writeln!(
            out,
            "<p>No slice had the {} pairs a test needs.</p>\n</section>",
            r.parameters.min_slice_size
        );
        return;
    }
    let m = r.metric;
    let _ = writeln!(
        out,
        "<p class=\"note noprint\">Click a column header to sort.</p>\n\
         <table class=\"sortable\">\n<thead><tr><th>Slice</th><th>Source</th><th>Pairs</th>\
         <th>Baseline</th><th>Candidate</th><th>Change</th><th>{:.0}% CI</th><th>Adj. p</th>\
         <th>Verdict</th><th>Regressed cases</th><th>Representative prompts</th></tr></thead>\n\
         <tbody>",
        100.0 * r.parameters.confidence
    );
    // Eleven columns: the prompts' list may be narrower than elsewhere (`td ul`'s 14rem), or
    // the table overflows the page's 1100 pixels.
    for s in &r.slices {
        let c = &s.comparison;
        let (b, k) = sides(m, c);
        let p = match c.change {
            Change::Improved => c.p_better,
            _ => c.p_worse,
        };
        let source = match &s.value {
            Some(v) => format!("{} = {v}", s.source),
            None => s.source.clone(),
        };
        let prompts: String = s
            .representative_prompts
            .iter()
            .take(2)
            .map(|p| format!("<li>{}</li>", text(p, 160)))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td>\
             <td class=\"n\" data-v=\"{b}\">{}</td><td class=\"n\" data-v=\"{k}\">{}</td>\
             <td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>\
             <td class=\"n\" data-v=\"{p}\">{}</td><td>{}</td>\
             <td class=\"n\" data-v=\"{n}\">{n}</td><td><ul style=\"min-width:10rem\">{prompts}\
             </ul></td></tr>",
            text(&s.name, 200),
            text(&source, 80),
            c.pairs,
            c.pairs,
            value(m, b),
            value(m, k),
            c.difference,
            difference(m, c.difference),
            c.ci[0],
            interval(m, c.ci),
            format_p(p),
            match c.change {
                Change::Unchanged => change_word(c.change).to_string(),
                other => format!("<b>{}</b>", change_word(other)),
            },
            n = s.regressed_cases.len(),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}
