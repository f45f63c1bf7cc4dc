//! What the pages' horizontal bar charts share: one row per item, its label on the left, a bar
//! from 0 on a plot [`PLOT_W`] wide, the value to the right, ticks along the top.

use super::num;
use std::fmt::Write;

/// Most bars in a chart (the table lists all).
pub(crate) const MAX_BARS: usize = 30;
const LABEL_W: f64 = 280.0;
const PLOT_W: f64 = 400.0;
const ROW_H: f64 = 24.0;
const TOP: f64 = 22.0;

/// One chart's geometry: `rows` bars on an axis from 0 to `end`.
pub(crate) struct Chart {
    pub(crate) height: f64,
    end: f64,
}

impl Chart {
    /// Opens the chart's SVG: `rows` bars, `right` pixels after the plot for the values, an
    /// axis from 0 to `end`; `label` (HTML) names it for screen readers.
    pub(crate) fn open(out: &mut String, rows: usize, right: f64, end: f64, label: &str) -> Chart {
        let width = LABEL_W + PLOT_W + right;
        let height = TOP + ROW_H * rows as f64 + 10.0;
        let _ = writeln!(
            out,
            "<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
             role=\"img\" aria-label=\"{label}\">"
        );
        Chart {
            height,
            end: end.max(1e-9),
        }
    }

    /// Where `value` lies on the plot (clamped to the axis).
    pub(crate) fn x(&self, value: f64) -> f64 {
        LABEL_W + PLOT_W * (value / self.end).clamp(0.0, 1.0)
    }

    /// A vertical grid line at `value` with its `label` (HTML) above the plot.
    pub(crate) fn tick(&self, out: &mut String, value: f64, label: &str) {
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>\
             <text x=\"{0}\" y=\"12\" text-anchor=\"middle\">{label}</text>",
            num(self.x(value)),
            num(TOP - 4.0),
            num(self.height - 6.0),
        );
    }

    /// The middle of row `k`.
    pub(crate) fn mid(&self, k: usize) -> f64 {
        TOP + ROW_H * k as f64 + ROW_H / 2.0
    }

    /// Row `k`'s bar to `value` in `ink`: `title` on hover, `label` before, `extra` drawn over
    /// the bar, `value_text` after (all HTML).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn bar(
        &self,
        out: &mut String,
        k: usize,
        title: &str,
        label: &str,
        value: f64,
        ink: &str,
        extra: &str,
        value_text: &str,
    ) {
        let mid = self.mid(k);
        let _ = writeln!(
            out,
            "<g class=\"bar\"><title>{title}</title>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{ink}\" fill-opacity=\"0.85\"/>\
             {extra}<text x=\"{}\" y=\"{}\">{value_text}</text></g>",
            num(LABEL_W - 6.0),
            num(mid + 4.0),
            num(LABEL_W),
            num(mid - ROW_H / 2.0 + 5.0),
            num(self.x(value) - LABEL_W),
            num(ROW_H - 10.0),
            num(LABEL_W + PLOT_W + 8.0),
            num(mid + 4.0),
        );
    }

    pub(crate) fn span(&self) -> (f64, f64) {
        (TOP - 4.0, self.height - 6.0)
    }
}

/// " The first {shown} of {total} {items}." when the chart leaves some out, else "".
pub(crate) fn first_of(shown: usize, total: usize, items: &str) -> String {
    if shown < total {
        format!(" The first {shown} of {total} {items}.")
    } else {
        String::new()
    }
}
