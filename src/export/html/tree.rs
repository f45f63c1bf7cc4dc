//! The slices page's tree: when the listed slices are nodes of the candidate tree and some are
//! nested in others (`--all` lists every node), the nesting as an outline, so a reader sees a
//! failing topic inside its domain. Only significant nodes and their ancestors are drawn: a
//! tree of thousands of nodes where most are unremarkable would bury them.

use super::text;
use crate::analysis::slices::{Slice, SliceReport};
use crate::export::table::{format_p, percent};
use std::collections::HashMap;
use std::fmt::Write;

/// Writes the tree section, or nothing when no listed slice lies inside another.
pub(crate) fn tree(out: &mut String, r: &SliceReport) {
    // Listed tree nodes by node number, with their place in the report (the table's rank).
    let by_node: HashMap<usize, usize> = r
        .slices
        .iter()
        .enumerate()
        .filter_map(|(k, s)| s.tree.as_ref().map(|t| (t.node, k)))
        .collect();
    let parent_of = |k: usize| {
        r.slices[k]
            .tree
            .as_ref()
            .and_then(|t| t.parent)
            .and_then(|p| by_node.get(&p).copied())
    };
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    // In tree order (nodes are numbered in pre-order), so the outline reads as the tree.
    let mut ranks: Vec<usize> = by_node.values().copied().collect();
    ranks.sort_unstable_by_key(|&k| r.slices[k].tree.as_ref().map(|t| t.node));
    for &k in &ranks {
        match parent_of(k) {
            Some(p) => children.entry(p).or_default().push(k),
            None => roots.push(k),
        }
    }
    if children.is_empty() {
        return;
    }
    // Nodes worth drawing: significant ones and their ancestors.
    let mut shown = vec![false; r.slices.len()];
    for &k in &ranks {
        if r.slices[k].significant {
            let mut at = Some(k);
            while let Some(a) = at {
                if shown[a] {
                    break;
                }
                shown[a] = true;
                at = parent_of(a);
            }
        }
    }
    let hidden = ranks.iter().filter(|&&k| !shown[k]).count();
    out.push_str("<section id=\"tree\">\n<h2>Slice tree</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">The candidate tree, and the failure scan's regions as a forest of \
         their own: each node holds the prompts of the nodes under it. Significant nodes are in \
         bold, reported ones marked &#9733; with their number in the table. {}</p>",
        if hidden > 0 {
            format!("{hidden} nodes without a significant node under them are left out.")
        } else {
            String::new()
        }
    );
    if !ranks.iter().any(|&k| shown[k]) {
        out.push_str("<p>No node is significant.</p>\n</section>\n");
        return;
    }
    out.push_str("<ul class=\"tree\">\n");
    for &k in roots.iter().filter(|&&k| shown[k]) {
        node(out, r, k, &children, &shown);
    }
    out.push_str("</ul>\n</section>\n");
}

/// One node and, nested, its drawn children (recursion depth is the tree's depth, which the
/// tree's construction keeps to a few dozen levels).
fn node(
    out: &mut String,
    r: &SliceReport,
    k: usize,
    children: &HashMap<usize, Vec<usize>>,
    shown: &[bool],
) {
    let s = &r.slices[k];
    let _ = write!(out, "<li>{}", label(s, k));
    let kids: Vec<usize> = children
        .get(&k)
        .map(|c| c.iter().copied().filter(|&c| shown[c]).collect())
        .unwrap_or_default();
    if !kids.is_empty() {
        out.push_str("\n<ul>\n");
        for c in kids {
            node(out, r, c, children, shown);
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</li>\n");
}

fn label(s: &Slice, k: usize) -> String {
    let name = text(&s.name, 80);
    let name = if s.significant {
        format!("<b>{name}</b>")
    } else {
        name
    };
    format!(
        "{}{name} <span class=\"note\">{}{} rows, {} fail, adj. p {}</span>",
        if s.selected {
            format!("&#9733; {}. ", k + 1)
        } else {
            String::new()
        },
        match s.source.as_str() {
            "scan" => "scan region, ",
            "group" => "group of reported slices, ",
            _ => "",
        },
        s.size,
        percent(s.failure_rate),
        format_p(s.adjusted_p_value),
    )
}
