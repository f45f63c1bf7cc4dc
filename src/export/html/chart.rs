//! SVG pieces shared by the score and regress pages: a bar of shares (decisions, pair flips)
//! and the vertical grid of a numeric axis. Colour is never the only cue: every segment of a
//! bar carries its label and count in text, inside it when it fits and in the legend always.

use super::{num, text};
use std::fmt::Write;

/// One segment of a [`share_bar`]: a label (escaped here), a count and a fill colour.
pub(crate) struct Part<'a> {
    pub label: &'a str,
    pub count: usize,
    pub colour: &'a str,
}

const BAR_W: f64 = 760.0;
const BAR_H: f64 = 34.0;
/// Narrowest segment that gets its label inside (narrower ones are named in the legend only).
const INSIDE_LABEL_W: f64 = 90.0;

/// A percentage with one decimal, from a count and a total (0 of 0 is 0%).
pub(crate) fn share(count: usize, total: usize) -> String {
    format!("{:.1}%", 100.0 * count as f64 / total.max(1) as f64)
}

/// A horizontal bar split in proportion to the parts' counts, in the parts' order, then a
/// legend in the same order with each part's count and share; `aria` describes the bar.
pub(crate) fn share_bar(out: &mut String, aria: &str, parts: &[Part]) {
    let total: usize = parts.iter().map(|p| p.count).sum();
    let _ = writeln!(
        out,
        "<svg viewBox=\"0 0 {BAR_W} {BAR_H}\" width=\"{BAR_W}\" height=\"{BAR_H}\" \
         role=\"img\" aria-label=\"{}\">",
        text(aria, 200)
    );
    let mut x = 0.0;
    for p in parts.iter().filter(|p| p.count > 0) {
        let w = BAR_W * p.count as f64 / total.max(1) as f64;
        let label = text(p.label, 40);
        let _ = write!(
            out,
            "<g><title>{label}: {} ({})</title><rect x=\"{}\" y=\"0\" width=\"{}\" \
             height=\"{BAR_H}\" fill=\"{}\" stroke=\"#fff\"/>",
            p.count,
            share(p.count, total),
            num(x),
            num(w),
            p.colour
        );
        if w >= INSIDE_LABEL_W {
            // White on the palette's darker colours; a dark outline keeps it legible on light ones.
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" style=\"fill:#fff;\
                 paint-order:stroke;stroke:#1d1d1f;stroke-width:2.5px;font-weight:700\">\
                 {label} {}</text>",
                num(x + w / 2.0),
                num(BAR_H / 2.0 + 4.0),
                share(p.count, total)
            );
        }
        out.push_str("</g>\n");
        x += w;
    }
    out.push_str("</svg>\n<ul class=\"legend\">\n");
    for p in parts {
        let _ = writeln!(
            out,
            "<li><span class=\"swatch\" style=\"background:{}\"></span><b>{}</b>: {} ({})</li>",
            p.colour,
            text(p.label, 40),
            p.count,
            share(p.count, total)
        );
    }
    out.push_str("</ul>\n");
}

/// Vertical grid lines from `top` to `bottom` at each tick, labelled under `bottom`; `x` maps a
/// value to its pixel and `label` writes it (trusted text: numbers).
pub(crate) fn grid(
    out: &mut String,
    ticks: &[f64],
    x: impl Fn(f64) -> f64,
    label: impl Fn(f64) -> String,
    top: f64,
    bottom: f64,
) {
    for &t in ticks {
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>\
             <text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
            num(x(t)),
            num(top),
            num(bottom),
            num(bottom + 13.0),
            label(t)
        );
    }
}

/// An interval's horizontal line from `lo` to `hi` at height `mid`, with end caps.
pub(crate) fn whisker(lo: f64, hi: f64, mid: f64) -> String {
    format!(
        "<path d=\"M{},{}H{}M{},{}v8M{},{}v8\" stroke=\"#202124\" stroke-width=\"1.5\" \
         fill=\"none\"/>",
        num(lo),
        num(mid),
        num(hi),
        num(lo),
        num(mid - 4.0),
        num(hi),
        num(mid - 4.0)
    )
}

/// About five round ticks (steps of 1, 2 or 5 times a power of ten) covering [lo, hi].
pub(crate) fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return vec![lo];
    }
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    // Multiples of the step, so 0 is a tick whenever it is in range (and reads "0", never "-0").
    // Rounded to 9 decimals so that 3 × 0.2 is 0.6 in labels and tests.
    (first..=last)
        .map(|k| (k as f64 * step * 1e9).round() / 1e9)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_zero() {
        assert_eq!(ticks(0.0, 1.0), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let t = ticks(-0.13, 0.04);
        assert!(t.contains(&0.0), "{t:?}");
        assert!(t.len() >= 3 && t.len() <= 9, "{t:?}");
        assert!(t.iter().all(|v| (-0.13..=0.04).contains(v)), "{t:?}");
        assert_eq!(ticks(0.5, 0.5), vec![0.5]);
    }

    #[test]
    fn a_share_bar_names_every_part_in_text() {
        let mut out = String::new();
        let parts = [
            Part {
                label: "ACCEPT",
                count: 3,
                colour: "#000",
            },
            Part {
                label: "<b>",
                count: 0,
                colour: "#111",
            },
        ];
        share_bar(&mut out, "decisions", &parts);
        assert!(out.contains("<b>ACCEPT</b>: 3 (100.0%)"), "{out}");
        assert!(out.contains("<b>&lt;b&gt;</b>: 0 (0.0%)"), "{out}");
        assert!(
            !out.contains("<title>&lt;b&gt;"),
            "an empty part draws no segment"
        );
    }
}
