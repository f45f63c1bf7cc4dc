//! The slices page: what was analysed and how, a 2-D map of the prompts with failures and
//! slices marked, the slices' failure rates against the baseline, and a sortable table.

use super::bars::{first_of, Chart, MAX_BARS};
use super::map::{self, drawn_rows, Scale, HOVER_CHARS};
use super::{header_end, llm_notes, num, page, prompt_items, section, skipped, text, PALETTE};
use crate::analysis::slices::{Slice, SliceReport};
use crate::error::Result;
use crate::export::escape::html;
use crate::export::table::{format_p, outcome_summary, percent};
use crate::export::Exporter;
use std::collections::HashMap;
use std::fmt::Write;

pub struct HtmlExporter;

pub use super::map::MAX_POINTS;

impl Exporter<SliceReport> for HtmlExporter {
    fn export(&self, report: &SliceReport) -> Result<Vec<u8>> {
        let mut body = String::new();
        header(&mut body, report);
        map(&mut body, report);
        bars(&mut body, report);
        table(&mut body, report);
        super::tree::tree(&mut body, report);
        let title = format!("faultmap slices: {}", report.parameters.input);
        Ok(page(&title, &body).into_bytes())
    }
}

fn colour(k: usize) -> Option<&'static str> {
    PALETTE.get(k).copied()
}

fn header(out: &mut String, r: &SliceReport) {
    let p = &r.parameters;
    let reported = r.slices.iter().filter(|s| s.selected).count();
    let method = serde_json::to_value(p.clustering.method)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let how = format!(
        "{} embeddings ({} dimensions), {method} clustering in {} dimensions{}, {} test, \
         Benjamini-Hochberg at FDR {}, seed {}",
        p.embedder,
        p.embedding_dims,
        p.clustering.dims,
        if p.failure_scan { ", failure scan" } else { "" },
        serde_json::to_value(p.test)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        p.alpha,
        p.seed,
    );
    let _ = writeln!(
        out,
        "<header>\n<h1>faultmap: failure slices</h1>\n<dl class=\"facts\">\n\
         <dt>Input</dt><dd>{}</dd>\n\
         <dt>Rows</dt><dd>{} analysed{}, {} failing</dd>\n\
         <dt>Baseline failure rate</dt><dd>{}</dd>\n\
         <dt>Slices</dt><dd>{} reported; {} of {} candidates significant</dd>\n\
         <dt>How they were found</dt><dd>{}</dd>",
        html(&p.input),
        r.total_prompts,
        skipped(p.skipped_rows),
        r.total_failures,
        percent(r.baseline_failure_rate),
        reported,
        r.num_significant,
        r.num_candidates,
        html(&how),
    );
    if let Some(note) = r.selection_note() {
        let _ = writeln!(out, "<dt>Selection</dt><dd>{}</dd>", html(&note));
    }
    if let Some(o) = &p.outcomes {
        let _ = writeln!(
            out,
            "<dt>Outcomes</dt><dd>{}</dd>",
            text(&outcome_summary(o), 400)
        );
    }
    header_end(out, r.llm_naming.as_ref(), "slices", &p.tool_version);
}

/// A row's slice shown in colour (if any), and whether it fails.
type Stratum = (Option<usize>, bool);

fn map(out: &mut String, r: &SliceReport) {
    out.push_str("<section id=\"map\">\n<h2>Map of the prompts</h2>\n");
    let coords: Vec<[f64; 2]> = match &r.coords {
        Some(c) if !r.map_rows.is_empty() => r
            .map_rows
            .iter()
            .map(|m| c.get(m.row).copied().flatten().unwrap_or([0.0, 0.0]))
            .collect(),
        _ => {
            out.push_str(
                "<p class=\"note\">No map: no coordinates were computed.</p>\n</section>\n",
            );
            return;
        }
    };
    // The first slice (in report order) that holds a row colours it.
    let coloured = r.slices.len().min(PALETTE.len());
    let mut slice_of: HashMap<usize, usize> = HashMap::new();
    for (k, s) in r.slices.iter().take(coloured).enumerate() {
        for &row in &s.sample_indices {
            slice_of.entry(row).or_insert(k);
        }
    }
    let strata: Vec<Stratum> = r
        .map_rows
        .iter()
        .map(|m| (slice_of.get(&m.row).copied(), m.failed))
        .collect();
    let mut drawn = drawn_rows(&strata, r.parameters.seed);
    // Uncoloured passing rows underneath, failures and slice members on top.
    drawn.sort_by_key(|&i| (strata[i].0.is_some(), strata[i].1, i));

    let scale = Scale::fit(&coords);

    let _ = writeln!(
        out,
        "<p class=\"note\">{} Showing <strong id=\"drawn\">{}</strong> of {} prompts{}. Hover \
         over a point for its prompt.</p>",
        super::layout_sentence(r.parameters.map_layout, r.parameters.seed),
        drawn.len(),
        coords.len(),
        if drawn.len() < coords.len() {
            " (a seeded sample; each slice and the failures keep their share)"
        } else {
            ""
        },
    );
    map::legend(
        out,
        &[
            (Some(map::LEGEND_DOT), "passing prompt"),
            (Some(map::LEGEND_CROSS), "failing prompt"),
            (
                None,
                "coloured and larger: in the numbered slice (its number stands over the slice's densest part)",
            ),
        ],
    );
    if r.slices.len() > coloured {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {coloured} of {} slices are coloured and numbered on \
             the map.</p>",
            r.slices.len()
        );
    }
    map::open(out, &format!("Map of {} prompts", coords.len()));
    for &i in &drawn {
        let m = &r.map_rows[i];
        let at = scale.at(coords[i]);
        let (slice, failed) = strata[i];
        let title = format!(
            "<title>row {} · {}{}: {}</title>",
            m.row,
            if failed { "fails" } else { "passes" },
            slice.map_or(String::new(), |k| format!(" · slice {}", k + 1)),
            text(&m.prompt, HOVER_CHARS)
        );
        let ink = slice.and_then(colour);
        let big = if slice.is_some() { 1.4 } else { 1.0 };
        if failed {
            map::cross(
                out,
                "pt fail",
                at,
                2.5 * big,
                ink.unwrap_or("#202124"),
                &title,
            );
        } else {
            let fill = ink.unwrap_or("#9aa0a6");
            map::dot(out, "pt pass", at, 2.0 * big, fill, ink.is_some(), &title);
        }
    }
    // Labels last, above the points; at the centroid of all the slice's rows, drawn or not.
    let index_of: HashMap<usize, usize> = r
        .map_rows
        .iter()
        .enumerate()
        .map(|(i, m)| (m.row, i))
        .collect();
    for (k, s) in r.slices.iter().take(coloured).enumerate() {
        let members: Vec<[f64; 2]> = s
            .sample_indices
            .iter()
            .filter_map(|row| index_of.get(row).map(|&i| coords[i]))
            .collect();
        let Some(centre) = map::anchor(&members) else {
            continue;
        };
        let ink = colour(k).unwrap_or("#202124");
        map::label(out, k + 1, &text(&s.name, 120), scale.at(centre), ink);
    }
    out.push_str("</svg>\n</section>\n");
}

fn bars(out: &mut String, r: &SliceReport) {
    let empty = "No slice fails significantly more often than the rest.";
    if !section(
        out,
        "rates",
        "Failure rates",
        r.slices.is_empty().then_some(empty),
    ) {
        return;
    }
    let shown = r.slices.len().min(MAX_BARS);
    let _ = writeln!(
        out,
        "<p class=\"note\">Each slice's failure rate with its 95% interval (Wilson), against \
         the baseline of all rows (dashed line, {}).{}</p>",
        percent(r.baseline_failure_rate),
        first_of(shown, r.slices.len(), "slices"),
    );
    let label = format!("Failure rates of {shown} slices");
    let chart = Chart::open(out, shown, 110.0, 1.0, &label);
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        chart.tick(out, tick, &format!("{}%", (tick * 100.0) as u32));
    }
    for (k, s) in r.slices.iter().take(shown).enumerate() {
        let mid = chart.mid(k);
        let [lo, hi] = s.failure_rate_ci;
        let whiskers = super::chart::whisker(chart.x(lo), chart.x(hi), mid);
        let title = format!(
            "{}. {}: {} of {} fail ({}, 95% interval {} to {})",
            k + 1,
            text(&s.name, 120),
            s.failures,
            s.size,
            percent(s.failure_rate),
            percent(lo),
            percent(hi),
        );
        let label = format!("{}. {}", k + 1, text(&s.name, 40));
        let value = format!("{} of {}", percent(s.failure_rate), s.size);
        let ink = colour(k).unwrap_or("#9aa0a6");
        chart.bar(
            out,
            k,
            &title,
            &label,
            s.failure_rate,
            ink,
            &whiskers,
            &value,
        );
    }
    let (top, bottom) = chart.span();
    let _ = writeln!(
        out,
        "<line class=\"baseline\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"><title>baseline \
         {3}</title></line>\n</svg>\n</section>",
        num(chart.x(r.baseline_failure_rate)),
        num(top),
        num(bottom),
        percent(r.baseline_failure_rate)
    );
}

fn table(out: &mut String, r: &SliceReport) {
    let empty = r.slices.is_empty().then_some("No slice to list.");
    if !section(out, "slices", "Slices", empty) {
        return;
    }
    out.push_str(
        "<p class=\"note noprint\">Click a column header to sort.</p>\n\
         <div class=\"wide\"><table class=\"sortable\">\n<thead><tr><th>#</th><th>Slice</th><th>Source</th>\
         <th>Size</th><th>Failures</th><th>Failure rate</th><th>95% interval</th>\
         <th>Ratio</th><th>Excess</th><th>p</th><th>Adj. p</th><th>Keywords</th>\
         <th>Representative prompts, failing examples</th></tr></thead>\n<tbody>\n",
    );
    for (k, s) in r.slices.iter().enumerate() {
        slice_row(out, k, s);
    }
    out.push_str("</tbody>\n</table></div>\n</section>\n");
}

/// The slice's failing examples (the rows nearest its centre that fail), with their responses
/// and scores where the input has them.
fn examples(out: &mut String, s: &Slice) {
    if s.examples.is_empty() {
        return;
    }
    out.push_str("<p class=\"llm\"><b>Failing:</b></p><ul class=\"examples\">");
    for e in &s.examples {
        let _ = write!(out, "<li>{}", text(&e.prompt, 200));
        if let Some(r) = &e.response {
            let _ = write!(
                out,
                "<br><span class=\"note\">&rarr; {}</span>",
                text(r, 160)
            );
        }
        if let Some(score) = e.score {
            let _ = write!(out, " <span class=\"note\">(score {score:.2})</span>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn slice_row(out: &mut String, k: usize, s: &Slice) {
    let swatch = colour(k).map_or(String::new(), |c| {
        format!("<span class=\"swatch\" style=\"background:{c}\"></span>")
    });
    let mut name = format!("{swatch}{}", text(&s.name, 200));
    if !s.significant {
        name.push_str(" <em>(not significant)</em>");
    }
    llm_notes(&mut name, &s.llm);
    let mut prompts = format!("<ul>{}</ul>", prompt_items(&s.representative_prompts));
    examples(&mut prompts, s);
    let source = match &s.value {
        Some(v) => format!("{} = {}", s.source, v),
        None => s.source_label(),
    };
    let _ = writeln!(
        out,
        "<tr class=\"slice\"><td class=\"n\" data-v=\"{rank}\">{rank}</td><td>{name}</td>\
         <td>{}</td><td class=\"n\" data-v=\"{size}\">{size}</td>\
         <td class=\"n\" data-v=\"{fails}\">{fails}</td>\
         <td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{} to {}</td>\
         <td class=\"n\" data-v=\"{}\">{:.2}x</td><td class=\"n\" data-v=\"{}\">{:.1}</td>\
         <td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>\
         <td>{}</td><td>{prompts}</td></tr>",
        text(&source, 80),
        s.failure_rate,
        percent(s.failure_rate),
        s.failure_rate_ci[0],
        percent(s.failure_rate_ci[0]),
        percent(s.failure_rate_ci[1]),
        s.effect_size,
        s.effect_size,
        s.excess_failures,
        s.excess_failures,
        s.p_value,
        format_p(s.p_value),
        s.adjusted_p_value,
        format_p(s.adjusted_p_value),
        text(&s.keywords.join(", "), 200),
        rank = k + 1,
        size = s.size,
        fails = s.failures,
    );
}
