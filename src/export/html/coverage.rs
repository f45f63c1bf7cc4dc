//! The coverage page: what was compared and how, one 2-D map of tests and production with the
//! gaps outlined and numbered, the gaps' shares of traffic, and a sortable table of the gaps.

use super::bars::{first_of, Chart, MAX_BARS};
use super::map::{self, drawn_rows, Scale, HOVER_CHARS};
use super::{header_end, llm_notes, num, page, prompt_items, section, text, PALETTE};
use crate::analysis::coverage::rules::ThresholdSource;
use crate::analysis::coverage::{CoverageReport, Gap};
use crate::error::Result;
use crate::export::escape::html;
use crate::export::table::percent;
use crate::export::Exporter;
use std::fmt::Write;

/// `--format html` of `faultmap coverage`.
pub struct CoverageHtml;

/// Tests: the one mark that is a square, in a colour no gap takes.
const TEST_INK: &str = "#1b7837";
const COVERED_INK: &str = "#9aa0a6";
const UNCOVERED_INK: &str = "#202124";
/// Gaps beyond the palette are grey in the chart and the table.
const OTHER_GAP_INK: &str = "#5f6368";
/// Gaps outlined and numbered on the map: one per colour. Beyond a few, outlines and numbers
/// hide the points and each other (210 gaps on 100k prompts made one grey blot).
const MAP_GAPS: usize = PALETTE.len();

impl Exporter<CoverageReport> for CoverageHtml {
    fn export(&self, report: &CoverageReport) -> Result<Vec<u8>> {
        let mut body = String::new();
        header(&mut body, report);
        map(&mut body, report);
        bars(&mut body, report);
        table(&mut body, report);
        let p = &report.parameters;
        let title = format!("faultmap coverage: {} against {}", p.production, p.tests);
        Ok(page(&title, &body).into_bytes())
    }
}

fn gap_ink(k: usize) -> &'static str {
    PALETTE.get(k).copied().unwrap_or(OTHER_GAP_INK)
}

fn header(out: &mut String, r: &CoverageReport) {
    let p = &r.parameters;
    let skipped = |n: usize| {
        if n > 0 {
            format!(" ({n} invalid skipped)")
        } else {
            String::new()
        }
    };
    let traffic = match &p.weight_field {
        Some(field) => format!(
            ", weighted by `{field}` (total traffic {})",
            r.total_traffic
        ),
        None => String::new(),
    };
    let threshold = match p.threshold {
        ThresholdSource::Given => "given (--distance-threshold)".to_string(),
        ThresholdSource::Calibrated {
            quantile,
            calibration_tests,
            smoothed_over,
            ..
        } => format!(
            "calibrated: the conformal {quantile:.4} quantile of {calibration_tests} tests' \
             distances to their nearest other test{}",
            if smoothed_over > 1 {
                format!(
                    ", each averaged with its {} nearest production prompts' as the prompts' \
                     are",
                    smoothed_over - 1
                )
            } else {
                String::new()
            }
        ),
    };
    let neighbours = match &p.neighbour_rule {
        Some(n) => format!(
            "neighbour rule on ({} nearest among {} production prompts)",
            n.k, n.reference_prompts
        ),
        None => "neighbour rule off".to_string(),
    };
    let how = format!(
        "{} embeddings ({} dimensions); cosine distance threshold {:.4}, {threshold}; \
         {neighbours}; alpha {}; gaps of at least {} prompts; seed {}",
        p.embedder, p.embedding_dims, r.distance_threshold, p.alpha, p.min_gap_size, p.seed,
    );
    let _ = writeln!(
        out,
        "<header>\n<h1>faultmap: test coverage</h1>\n<dl class=\"facts\">\n\
         <dt>Tests</dt><dd>{}: {} prompts{}</dd>\n\
         <dt>Production</dt><dd>{}: {} prompts{}{}</dd>\n\
         <dt>Covered</dt><dd><strong>{}</strong> of production traffic</dd>\n\
         <dt>Uncovered</dt><dd>{} prompts ({} of traffic): {} by distance, {} by neighbours, \
         {} by their gap; {} in no gap</dd>\n\
         <dt>Gaps</dt><dd>{} reported; {} thinly tested topics; {} tests with no production \
         prompt within {:.4}</dd>\n\
         <dt>How</dt><dd>{}</dd>",
        html(&p.tests),
        r.num_tests,
        skipped(p.skipped_test_rows),
        html(&p.production),
        r.num_production,
        skipped(p.skipped_production_rows),
        html(&traffic),
        percent(r.overall_coverage_score),
        r.num_uncovered_total,
        percent(r.uncovered_traffic_share),
        r.num_uncovered_by_distance,
        r.num_uncovered_by_neighbours,
        r.num_uncovered_by_gap,
        r.unclustered_prompt_indices.len(),
        r.num_gaps,
        r.num_thin_topics,
        r.num_tests_without_traffic,
        r.nearest_distance_threshold,
        html(&how),
    );
    header_end(out, r.llm_naming.as_ref(), "gaps", &p.tool_version);
}

/// What a point on the map is; the order is the drawing order (later on top).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Covered,
    Test,
    Uncovered,
}

/// A point's kind and gap: the strata of the sample.
type Stratum = (Kind, Option<usize>);

fn map(out: &mut String, r: &CoverageReport) {
    out.push_str("<section id=\"map\">\n<h2>Map of tests and production</h2>\n");
    let m = &r.map;
    // The map's production points pair with `r.prompts` one to one (both in record order).
    if m.production.is_empty() || m.production.len() != r.prompts.len() {
        out.push_str("<p class=\"note\">No map: no coordinates were computed.</p>\n</section>\n");
        return;
    }
    // One index space: the tests, then production in record order (as `r.prompts`).
    let nt = m.tests.len();
    let coords: Vec<[f64; 2]> = m.tests.iter().chain(&m.production).map(|p| p.xy).collect();
    let strata: Vec<Stratum> = (0..nt)
        .map(|_| (Kind::Test, None))
        .chain(r.prompts.iter().map(|p| {
            let kind = if p.uncovered {
                Kind::Uncovered
            } else {
                Kind::Covered
            };
            (kind, p.gap)
        }))
        .collect();
    let mut drawn = drawn_rows(&strata, r.parameters.seed);
    drawn.sort_by_key(|&i| (strata[i].0, strata[i].1.is_some(), i));
    let scale = Scale::fit(&coords);
    let drawn_tests = drawn.iter().filter(|&&i| i < nt).count();
    let _ = writeln!(
        out,
        "<p class=\"note\">Tests and production prompts on one map, whichever file they come \
         from. {} Showing \
         <strong id=\"drawn-tests\">{drawn_tests}</strong> of {nt} tests and \
         <strong id=\"drawn-production\">{}</strong> of {} production prompts{}. Hover over a \
         point for its prompt.</p>",
        super::layout_sentence(r.parameters.map_layout, r.parameters.seed),
        drawn.len() - drawn_tests,
        m.production.len(),
        if drawn.len() < coords.len() {
            " (a seeded sample; tests, covered and uncovered prompts and each gap keep their \
             share)"
        } else {
            ""
        },
    );
    let test_mark =
        format!("<rect x=\"3.5\" y=\"3.5\" width=\"5\" height=\"5\" fill=\"{TEST_INK}\"/>");
    let gaps =
        "outlined, numbered and coloured: a gap (its number stands over the gap's densest part)";
    let marks = [
        (Some(test_mark.as_str()), "test"),
        (Some(map::LEGEND_DOT), "covered production prompt"),
        (Some(map::LEGEND_CROSS), "uncovered production prompt"),
        (None, gaps),
    ];
    map::legend(out, &marks);
    if r.gaps.len() > MAP_GAPS {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {MAP_GAPS} of {} gaps (the most traffic) are outlined, \
             coloured and numbered on the map; the others' prompts are plain crosses.</p>",
            r.gaps.len()
        );
    }
    map::open(
        out,
        &format!(
            "Map of {nt} tests and {} production prompts",
            m.production.len()
        ),
    );
    // Outlines under the points, numbers above them; both from all the gap's prompts.
    let members = gap_members(r, &coords[nt..]);
    for (k, points) in members.iter().enumerate() {
        outline(out, k, &r.gaps[k], points, &scale);
    }
    for &i in &drawn {
        let at = scale.at(coords[i]);
        if i < nt {
            let t = &m.tests[i];
            let title = format!(
                "<title>test row {}: {}</title>",
                t.row,
                text(&t.prompt, HOVER_CHARS)
            );
            out.push_str(&square(TEST_INK, at, 2.2, &title));
            out.push('\n');
            continue;
        }
        let (p, c) = (&m.production[i - nt], &r.prompts[i - nt]);
        let title = format!(
            "<title>production row {} · {} (distance {:.3}){}: {}</title>",
            p.row,
            if c.uncovered { "uncovered" } else { "covered" },
            c.distance,
            c.gap.map_or(String::new(), |k| format!(" · gap {}", k + 1)),
            text(&p.prompt, HOVER_CHARS)
        );
        match (c.uncovered, c.gap) {
            (false, _) => map::dot(out, "pt covered", at, 2.0, COVERED_INK, false, &title),
            (true, None) => map::cross(out, "pt uncovered", at, 2.5, UNCOVERED_INK, &title),
            (true, Some(k)) if k < MAP_GAPS => {
                map::cross(out, "pt uncovered", at, 3.5, gap_ink(k), &title)
            }
            (true, Some(_)) => map::cross(out, "pt uncovered", at, 2.5, UNCOVERED_INK, &title),
        }
    }
    for (k, points) in members.iter().enumerate() {
        if let Some(centre) = map::anchor(points) {
            let name = text(&r.gaps[k].name, 120);
            map::label(out, k + 1, &name, scale.at(centre), gap_ink(k));
        }
    }
    out.push_str("</svg>\n</section>\n");
}

/// A filled square of half-side `h` centred on (x, y): the tests' mark.
fn square(ink: &str, (x, y): (f64, f64), h: f64, title: &str) -> String {
    format!(
        "<rect class=\"pt test\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{ink}\">\
         {title}</rect>",
        num(x - h),
        num(y - h),
        num(2.0 * h),
        num(2.0 * h),
    )
}

/// The production points (all of them, drawn or not) of each gap outlined on the map.
fn gap_members(r: &CoverageReport, production: &[[f64; 2]]) -> Vec<Vec<[f64; 2]>> {
    let mut members = vec![Vec::new(); r.gaps.len().min(MAP_GAPS)];
    for (c, &xy) in r.prompts.iter().zip(production) {
        if let Some(k) = c.gap.filter(|&k| k < members.len()) {
            members[k].push(xy);
        }
    }
    members
}

/// A gap's outline: the convex hull of its points, or a ring around them when they lie on
/// one line or one point.
fn outline(out: &mut String, k: usize, gap: &Gap, points: &[[f64; 2]], scale: &Scale) {
    let ink = gap_ink(k);
    let title = format!("<title>gap {}: {}</title>", k + 1, text(&gap.name, 120));
    let svg: Vec<(f64, f64)> = points.iter().map(|&c| scale.at(c)).collect();
    let hull = convex_hull(svg);
    if hull.len() >= 3 {
        let at: Vec<String> = hull
            .iter()
            .map(|&(x, y)| format!("{},{}", num(x), num(y)))
            .collect();
        let _ = writeln!(
            out,
            "<polygon class=\"gap\" points=\"{}\" fill=\"{ink}\" fill-opacity=\"0.1\" \
             stroke=\"{ink}\" stroke-width=\"1.5\" stroke-linejoin=\"round\">{title}</polygon>",
            at.join(" ")
        );
    } else if let Some(&(x, y)) = hull.first() {
        let (x2, y2) = *hull.last().unwrap_or(&(x, y));
        let r = 8.0 + ((x2 - x).hypot(y2 - y)) / 2.0;
        let _ = writeln!(
            out,
            "<circle class=\"gap\" cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{ink}\" \
             fill-opacity=\"0.1\" stroke=\"{ink}\" stroke-width=\"1.5\">{title}</circle>",
            num((x + x2) / 2.0),
            num((y + y2) / 2.0),
            num(r),
        );
    }
}

/// The convex hull (Andrew's monotone chain), counter-clockwise in SVG coordinates; fewer
/// than 3 points when they are collinear or coincide (then the two extremes, or one point).
fn convex_hull(mut p: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let turn = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let half = |points: &mut dyn Iterator<Item = &(f64, f64)>| {
        let mut h: Vec<(f64, f64)> = Vec::new();
        for &q in points {
            while h.len() >= 2 && turn(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
                h.pop();
            }
            h.push(q);
        }
        // Its last point starts the other half.
        h.pop();
        h
    };
    let mut hull = half(&mut p.iter());
    hull.extend(half(&mut p.iter().rev()));
    if hull.len() < 3 {
        // Collinear: the two ends.
        return vec![p[0], p[p.len() - 1]];
    }
    hull
}

fn bars(out: &mut String, r: &CoverageReport) {
    let empty = "No gap: every topic of production has tests nearby.";
    let title = "Gaps by share of traffic";
    if !section(out, "traffic", title, r.gaps.is_empty().then_some(empty)) {
        return;
    }
    let shown = r.gaps.len().min(MAX_BARS);
    let _ = writeln!(
        out,
        "<p class=\"note\">Each gap's share of production traffic (all uncovered: {}).{}</p>",
        percent(r.uncovered_traffic_share),
        first_of(shown, r.gaps.len(), "gaps"),
    );
    // The axis ends at the largest share: small gaps stay visible.
    let end = r.gaps.iter().map(|g| g.traffic_share).fold(0.0, f64::max);
    let label = format!("Traffic shares of {shown} gaps");
    let chart = Chart::open(out, shown, 130.0, end, &label);
    for tick in [0.0, 0.5, 1.0] {
        chart.tick(out, tick * end, &percent(tick * end));
    }
    for (k, g) in r.gaps.iter().take(shown).enumerate() {
        let share = percent(g.traffic_share);
        let title = format!(
            "{}. {}: {} prompts, {share} of traffic",
            k + 1,
            text(&g.name, 120),
            g.size,
        );
        let label = format!("{}. {}", k + 1, text(&g.name, 40));
        let value = format!("{share} ({} prompts)", g.size);
        chart.bar(
            out,
            k,
            &title,
            &label,
            g.traffic_share,
            gap_ink(k),
            "",
            &value,
        );
    }
    out.push_str("</svg>\n</section>\n");
}

fn table(out: &mut String, r: &CoverageReport) {
    if !section(
        out,
        "gaps",
        "Gaps",
        r.gaps.is_empty().then_some("No gap to list."),
    ) {
        return;
    }
    out.push_str(
        "<p class=\"note noprint\">Click a column header to sort.</p>\n\
         <table class=\"sortable\">\n<thead><tr><th>#</th><th>Gap</th><th>Keywords</th>\
         <th>Size</th><th>Traffic share</th><th>Mean distance to nearest test</th>\
         <th>Representative prompts</th></tr></thead>\n<tbody>\n",
    );
    for (k, g) in r.gaps.iter().enumerate() {
        gap_row(out, k, g);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn gap_row(out: &mut String, k: usize, g: &Gap) {
    let mut name = format!(
        "<span class=\"swatch\" style=\"background:{}\"></span>{}",
        gap_ink(k),
        text(&g.name, 200)
    );
    llm_notes(&mut name, &g.llm);
    let prompts = prompt_items(&g.representative_prompts);
    let _ = writeln!(
        out,
        "<tr class=\"gap\"><td class=\"n\" data-v=\"{rank}\">{rank}</td><td>{name}</td>\
         <td>{}</td><td class=\"n\" data-v=\"{size}\">{size}</td>\
         <td class=\"n\" data-v=\"{share}\">{}</td>\
         <td class=\"n\" data-v=\"{distance}\">{distance:.3}</td><td><ul>{prompts}</ul></td></tr>",
        text(&g.keywords.join(", "), 200),
        percent(g.traffic_share),
        rank = k + 1,
        size = g.size,
        share = g.traffic_share,
        distance = g.mean_distance,
    );
}

#[cfg(test)]
mod tests {
    use super::convex_hull;

    #[test]
    fn the_hull_keeps_the_corners_only() {
        let square = vec![
            (0.0, 0.0),
            (2.0, 0.0),
            (2.0, 2.0),
            (0.0, 2.0),
            (1.0, 1.0),
            (1.0, 0.0),
        ];
        let mut hull = convex_hull(square);
        hull.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(hull, vec![(0.0, 0.0), (0.0, 2.0), (2.0, 0.0), (2.0, 2.0)]);
        assert_eq!(
            convex_hull(vec![(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]),
            vec![(0.0, 0.0), (2.0, 2.0)]
        );
        assert_eq!(convex_hull(vec![(1.0, 1.0), (1.0, 1.0)]), vec![(1.0, 1.0)]);
    }
}
