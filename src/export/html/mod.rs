//! HTML reports: one self-contained page per report (issue 19). Everything is inline (CSS,
//! SVG, a few lines of JavaScript): no CDN, no web font, no request of any kind, so the page
//! opens from disk, in CI artifacts and air-gapped networks alike. Every text from the data
//! goes through [`super::escape::html`]; the page embeds no data in its script.

mod bars;
pub(crate) mod chart;
pub mod coverage;
pub mod map;
pub mod regress;
pub mod score;
pub mod slices;
mod tree;

pub use coverage::CoverageHtml;
pub use slices::HtmlExporter;

/// Slice colours (Tableau 10, distinguishable by most colour-blind readers); beyond these,
/// slices are listed but not coloured. Colour is never the only cue: slices are also numbered.
pub(crate) const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#7f7f7f",
];

/// System fonts only (no download); print keeps the charts whole and drops the sort hints.
const CSS: &str = r#"
:root{--fg:#1d1d1f;--muted:#5f6368;--line:#d0d4d9;--bg:#fff;--head:#f3f4f6}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:1.5rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.5rem;margin:0 0 .5rem}
h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.25rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0}
.note{color:var(--muted);font-size:.9rem}
svg{max-width:100%;height:auto;display:block}
svg text{font:11px system-ui,sans-serif;fill:var(--fg)}
svg .axis{stroke:var(--line)}
svg .baseline{stroke:var(--fg);stroke-dasharray:4 3}
svg .label text{font-weight:700;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;padding:0;margin:.5rem 0;list-style:none;font-size:.9rem}
.legend svg{display:inline-block;vertical-align:middle}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{border:1px solid var(--line);padding:.3rem .45rem;vertical-align:top;text-align:left}
th{background:var(--head);cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \25B2"}
th[aria-sort=descending]::after{content:" \25BC"}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td ul{margin:0;padding-left:1.1rem;min-width:14rem}
.wide{overflow-x:auto}
.llm{margin:.3rem 0 0;color:var(--muted)}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:1.2rem}
ul.tree ul{border-left:1px solid var(--line)}
ul.tree li{margin:.15rem 0}
.swatch{display:inline-block;width:.8em;height:.8em;border:1px solid var(--fg);margin-right:.3em;vertical-align:baseline}
@media print{
body{max-width:none;padding:0;font-size:11px}
th{cursor:auto}
th::after{content:none!important}
section,svg,tr{break-inside:avoid}
.noprint{display:none}
}
"#;

/// Sorts a `table.sortable` by the clicked column: numbers by the cells' `data-v`, text
/// otherwise. Without JavaScript the table keeps the report's order.
const SORT_JS: &str = r#"
document.querySelectorAll("table.sortable th").forEach(function(th,i){
th.tabIndex=0;
function go(){
var table=th.closest("table"),body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
var up=th.getAttribute("aria-sort")!=="ascending";
table.querySelectorAll("th").forEach(function(h){h.removeAttribute("aria-sort")});
th.setAttribute("aria-sort",up?"ascending":"descending");
rows.sort(function(a,b){
var x=a.cells[i],y=b.cells[i],p=x.getAttribute("data-v"),q=y.getAttribute("data-v");
var c=(p!==null&&q!==null)?parseFloat(p)-parseFloat(q):x.textContent.localeCompare(y.textContent);
return up?c:-c;});
rows.forEach(function(r){body.appendChild(r)});}
th.addEventListener("click",go);
th.addEventListener("keydown",function(e){if(e.key==="Enter"){go()}});
});
"#;

/// The whole page around `body` (already HTML); `title` is text and is escaped here.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"faultmap {}\">\n<title>{}</title>\n\
         <style>{CSS}</style>\n</head>\n<body>\n{body}<script>{SORT_JS}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        super::escape::html(title),
    )
}

/// Opens a `<section>` with its heading; with an `empty` message, writes it, closes the section
/// and returns false (nothing to show).
pub(crate) fn section(out: &mut String, id: &str, title: &str, empty: Option<&str>) -> bool {
    use std::fmt::Write;
    let _ = writeln!(out, "<section id=\"{id}\">\n<h2>{title}</h2>");
    match empty {
        Some(message) => {
            let _ = writeln!(out, "<p>{message}</p>\n</section>");
            false
        }
        None => true,
    }
}

/// The header's last facts, then its end: who named the items (`--name-with-llm`; `items`
/// says what they are) and the tool's version.
pub(crate) fn header_end(
    out: &mut String,
    naming: Option<&crate::naming::llm::NamingSummary>,
    items: &str,
    tool_version: &str,
) {
    use std::fmt::Write;
    if let Some(n) = naming {
        let _ = writeln!(
            out,
            "<dt>Names</dt><dd>{}</dd>",
            text(&super::table::naming_summary(n, items), 400)
        );
    }
    let _ = writeln!(
        out,
        "<dt>Tool</dt><dd>faultmap {}</dd>\n</dl>\n</header>",
        super::escape::html(tool_version)
    );
}

/// The model's texts (`--name-with-llm`) under a name in a table cell, one paragraph each.
pub(crate) fn llm_notes(cell: &mut String, llm: &crate::naming::llm::LlmNaming) {
    use std::fmt::Write;
    for (label, t) in super::table::llm_lines(llm) {
        let _ = write!(
            cell,
            "<p class=\"llm\"><b>{label}:</b> {}</p>",
            text(t, super::table::LLM_TEXT_CHARS)
        );
    }
}

/// The first three representative prompts as list items.
pub(crate) fn prompt_items(prompts: &[String]) -> String {
    prompts
        .iter()
        .take(3)
        .map(|p| format!("<li>{}</li>", text(p, 200)))
        .collect()
}

/// An SVG coordinate with one decimal (a tenth of a pixel is below what a screen shows, and
/// short numbers keep 4,000 points small); never `-0.0`.
pub(crate) fn num(x: f64) -> String {
    let s = format!("{x:.1}");
    if s == "-0.0" {
        "0.0".into()
    } else {
        s
    }
}

/// How the map placed the prompts and how to read it, as the page's note says it.
pub(crate) fn layout_sentence(layout: Option<crate::cluster::MapLayout>, seed: u64) -> String {
    match layout {
        Some(crate::cluster::MapLayout::Pca) => format!(
            "Each prompt placed by the first two principal components of its embedding (seed \
             {seed}): nearby points are similar prompts; the axes have no units."
        ),
        _ => format!(
            "Each prompt placed by UMAP's layout of its nearest neighbours (seed {seed}): nearby \
             points are similar prompts; the distances between far-apart groups, and the axes, \
             mean nothing."
        ),
    }
}

/// " (N invalid skipped)" after a count of rows, when `--skip-invalid` dropped any.
pub(crate) fn skipped(rows: usize) -> String {
    if rows > 0 {
        format!(" ({rows} invalid skipped)")
    } else {
        String::new()
    }
}

/// Untrusted text for the page as [`text`] gives it, but keeping its start and its end (a
/// model's verdict often comes last).
pub(crate) fn text_ends(s: &str, max: usize) -> String {
    use super::escape::{head_and_tail, html, one_line};
    html(&head_and_tail(&one_line(s), max))
}

/// Untrusted text for the page: one line, at most `max` characters, escaped.
pub(crate) fn text(s: &str, max: usize) -> String {
    use super::escape::{html, one_line, truncate};
    html(&truncate(&one_line(s), max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained() {
        let p = page("<t>", "<p>x</p>\n");
        assert!(p.starts_with("<!DOCTYPE html>"));
        assert!(p.contains("<title>&lt;t&gt;</title>"));
        for fetch in ["http://", "https://", "@import", "url(", "<link", " src="] {
            assert!(!p.contains(fetch), "{fetch}");
        }
        assert!(p.contains("@media print"));
    }

    #[test]
    fn numbers_are_short_and_never_negative_zero() {
        assert_eq!(num(-0.04), "0.0");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(-3.0), "-3.0");
    }
}
