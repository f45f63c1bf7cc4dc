//! What the pages' 2-D maps share: which points are drawn, where they go in the SVG box, how a
//! point, a legend and a numbered label are written. Each page says in its own words what its
//! map shows.

use super::num;
use std::collections::HashMap;
use std::fmt::Write;
use std::hash::Hash;

/// Most points drawn: beyond a few thousand SVG elements a browser slows down and the page
/// grows by ~150 bytes a point, while the picture no longer changes.
pub const MAX_POINTS: usize = 4000;
/// Stream of the seeded sample of drawn points (the clustering uses others).
const MAP_STREAM: u64 = 19;
/// Longest prompt shown on hover.
pub(crate) const HOVER_CHARS: usize = 200;

pub(crate) const MAP_W: f64 = 760.0;
pub(crate) const MAP_H: f64 = 500.0;
const MAP_PAD: f64 = 20.0;

/// Which points are drawn: all of them up to [`MAX_POINTS`], else a seeded sample of each
/// stratum (points of one kind: a slice or gap, failing or not, test or production) in
/// proportion to its size, so that every kind keeps its share of the picture. At least one
/// point of every stratum.
pub(crate) fn drawn_rows<K: Copy + Eq + Hash>(strata: &[K], seed: u64) -> Vec<usize> {
    let n = strata.len();
    if n <= MAX_POINTS {
        return (0..n).collect();
    }
    // Groups in order of first appearance, so the sample does not depend on hashing.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut at: HashMap<K, usize> = HashMap::new();
    for (i, key) in strata.iter().enumerate() {
        let g = *at.entry(*key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let mut drawn = Vec::with_capacity(MAX_POINTS + groups.len());
    for rows in &groups {
        let quota = ((rows.len() * MAX_POINTS) as f64 / n as f64)
            .round()
            .max(1.0) as usize;
        let picked = crate::cluster::sample_indices(rows.len(), quota, seed, MAP_STREAM);
        drawn.extend(picked.into_iter().map(|j| rows[j]));
    }
    drawn.sort_unstable();
    drawn
}

/// Map coordinates to the SVG box: one scale for both axes, so that distances on the map mean
/// the same in every direction, fitted to every point (drawn or not) and centred.
pub(crate) struct Scale {
    lo: [f64; 2],
    scale: f64,
    ox: f64,
    oy: f64,
}

impl Scale {
    pub(crate) fn fit(coords: &[[f64; 2]]) -> Scale {
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for c in coords {
            for d in 0..2 {
                lo[d] = lo[d].min(c[d]);
                hi[d] = hi[d].max(c[d]);
            }
        }
        let span = |d: usize| (hi[d] - lo[d]).max(1e-9);
        let scale = ((MAP_W - 2.0 * MAP_PAD) / span(0)).min((MAP_H - 2.0 * MAP_PAD) / span(1));
        Scale {
            lo,
            scale,
            ox: (MAP_W - scale * span(0)) / 2.0,
            oy: (MAP_H - scale * span(1)) / 2.0,
        }
    }

    /// The SVG position of a map point.
    pub(crate) fn at(&self, c: [f64; 2]) -> (f64, f64) {
        (
            self.ox + (c[0] - self.lo[0]) * self.scale,
            // SVG's y grows downwards.
            MAP_H - self.oy - (c[1] - self.lo[1]) * self.scale,
        )
    }
}

/// Legend marks of the points drawn by [`dot`] and [`cross`] in their default inks.
pub(crate) const LEGEND_DOT: &str = "<circle cx=\"6\" cy=\"6\" r=\"2.5\" fill=\"#9aa0a6\"/>";
pub(crate) const LEGEND_CROSS: &str =
    "<path d=\"M2,2l8,8m0,-8l-8,8\" stroke=\"#202124\" stroke-width=\"1.6\"/>";

/// A legend: each item an optional 12-pixel SVG mark (its inner elements) and its text (HTML).
pub(crate) fn legend(out: &mut String, items: &[(Option<&str>, &str)]) {
    out.push_str("<ul class=\"legend\">");
    for (mark, label) in items {
        out.push_str("<li>");
        if let Some(mark) = mark {
            let _ = write!(
                out,
                "<svg width=\"12\" height=\"12\" aria-hidden=\"true\">{mark}</svg> "
            );
        }
        let _ = write!(out, "{label}</li>");
    }
    out.push_str("</ul>\n");
}

/// Opens the map's SVG with its frame; `label` (HTML) names it for screen readers.
pub(crate) fn open(out: &mut String, label: &str) {
    let _ = writeln!(
        out,
        "<svg viewBox=\"0 0 {MAP_W} {MAP_H}\" width=\"{MAP_W}\" height=\"{MAP_H}\" role=\"img\" \
         aria-label=\"{label}\">\n<rect x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"{}\" \
         fill=\"none\" class=\"axis\"/>",
        MAP_W - 1.0,
        MAP_H - 1.0
    );
}

/// A cross of half-width `h` centred on (x, y); `title` is the hover text (HTML, `<title>…`).
pub(crate) fn cross(
    out: &mut String,
    class: &str,
    (x, y): (f64, f64),
    h: f64,
    ink: &str,
    title: &str,
) {
    let _ = writeln!(
        out,
        "<path class=\"{class}\" d=\"M{},{}l{},{}m0,-{}l-{},{}\" stroke=\"{ink}\" \
         stroke-width=\"1.4\">{title}</path>",
        num(x - h),
        num(y - h),
        num(2.0 * h),
        num(2.0 * h),
        num(2.0 * h),
        num(2.0 * h),
        num(2.0 * h),
    );
}

/// A dot of radius `r`; faint (`fill-opacity` 0.6) unless `solid`.
pub(crate) fn dot(
    out: &mut String,
    class: &str,
    (x, y): (f64, f64),
    r: f64,
    ink: &str,
    solid: bool,
    title: &str,
) {
    let _ = writeln!(
        out,
        "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{ink}\"{}>{title}</circle>",
        num(x),
        num(y),
        num(r),
        if solid { "" } else { " fill-opacity=\"0.6\"" },
    );
}

/// Where a group's number goes: its medoid (the member closest in sum to the others), not its
/// mean. On a UMAP map a group may lie in several islands, and the mean of two islands is empty
/// space between them; the medoid sits in the largest. At most [`ANCHOR_POINTS`] members,
/// evenly strided, are compared (quadratic work). `None` for no points.
pub(crate) fn anchor(points: &[[f64; 2]]) -> Option<[f64; 2]> {
    let step = points.len().div_ceil(ANCHOR_POINTS).max(1);
    let some: Vec<[f64; 2]> = points.iter().step_by(step).copied().collect();
    let cost = |p: &[f64; 2]| -> f64 {
        some.iter()
            .map(|q| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
            .sum()
    };
    // The first of equal costs, so the choice does not depend on float ties' order.
    some.iter()
        .map(|p| (cost(p), *p))
        .reduce(|best, c| if c.0 < best.0 { c } else { best })
        .map(|(_, p)| p)
}

/// Most members [`anchor`] compares.
const ANCHOR_POINTS: usize = 400;

/// A numbered disc just above (x, y), with a tick down to it, over the points: `number` in a
/// white circle ringed in `ink`; `name` (HTML) on hover. Above, not on, the point, so the disc
/// does not hide the group it names.
pub(crate) fn label(out: &mut String, number: usize, name: &str, (x, y): (f64, f64), ink: &str) {
    // Kept inside the map's top edge.
    let cy = (y - 16.0).max(11.0);
    let _ = writeln!(
        out,
        "<g class=\"label\"><title>{number}. {name}</title><path d=\"M{},{}V{}\" \
         stroke=\"{ink}\" stroke-width=\"2\"/><circle cx=\"{}\" cy=\"{}\" r=\"10\" \
         fill=\"#fff\" stroke=\"{ink}\" stroke-width=\"2.5\"/><text x=\"{}\" y=\"{}\" \
         text-anchor=\"middle\">{number}</text></g>",
        num(x),
        num(cy + 10.0),
        num(y.max(cy + 10.0)),
        num(x),
        num(cy),
        num(x),
        num(cy + 4.0),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_sits_on_the_largest_island_not_between_islands() {
        let mut points: Vec<[f64; 2]> = (0..30).map(|i| [i as f64 * 0.01, 0.0]).collect();
        points.extend((0..20).map(|i| [10.0 + i as f64 * 0.01, 0.0]));
        let [x, _] = anchor(&points).unwrap();
        assert!(x < 0.3, "{x}");
        assert_eq!(anchor(&[]), None);
        assert_eq!(anchor(&[[1.0, 2.0]]), Some([1.0, 2.0]));
    }

    #[test]
    fn the_sample_keeps_every_stratum_in_proportion() {
        let mut strata = vec![(None, false); 90_000];
        strata.extend(vec![(Some(0), true); 9_000]);
        strata.extend(vec![(Some(1), false); 5]);
        let drawn = drawn_rows(&strata, 42);
        assert!(drawn.len() <= MAX_POINTS + 3, "{}", drawn.len());
        let in_slice0 = drawn.iter().filter(|&&i| strata[i].0 == Some(0)).count();
        assert!((355..=365).contains(&in_slice0), "{in_slice0}");
        assert_eq!(drawn.iter().filter(|&&i| strata[i].0 == Some(1)).count(), 1);
        assert_eq!(drawn, drawn_rows(&strata, 42), "seeded");
        assert_eq!(drawn_rows(&strata[..100], 1).len(), 100);
    }

    #[test]
    fn both_axes_share_one_scale_and_y_points_up() {
        let s = Scale::fit(&[[0.0, 0.0], [2.0, 1.0]]);
        let (a, b) = (s.at([0.0, 0.0]), s.at([2.0, 1.0]));
        assert!(
            (((b.0 - a.0) / 2.0) - (a.1 - b.1)).abs() < 1e-9,
            "{a:?} {b:?}"
        );
        assert!(b.1 < a.1, "higher y is higher on the page");
        assert!(a.0 >= MAP_PAD - 1e-9 && b.0 <= MAP_W - MAP_PAD + 1e-9);
    }
}
