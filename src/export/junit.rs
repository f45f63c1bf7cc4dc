//! JUnit XML for CI dashboards: one test case for the whole run, one per tested slice and one
//! per paired eval case. A test case fails exactly when it trips a gate of the `--fail-on`
//! policy; a regression outside the policy is reported in the case's `system-out` instead, so
//! the dashboard and the exit code agree.
//!
//! Written by hand: the format is three elements deep, and every text goes through
//! [`xml`] escaping; an XML crate would add a dependency for a few `format!` calls.

use super::escape::xml;
use super::regress::comparison_text;
use super::Exporter;
use crate::analysis::regress::{Change, RegressReport};
use crate::error::Result;

pub struct JunitExporter;

/// One `<testcase>`: its name and, when it regressed, the message and whether it fails.
pub(super) struct TestCase {
    pub name: String,
    pub classname: &'static str,
    pub regressed: Option<String>,
    pub fails: bool,
    pub details: String,
}

/// A whole document: `<testsuites>` around the named suites. A finding that fails no gate goes
/// to its case's `system-out` after `note`.
pub(super) fn document(title: &str, suites: &[(&str, &[TestCase])], note: &str) -> Vec<u8> {
    let total: usize = suites.iter().map(|(_, cases)| cases.len()).sum();
    let failures = suites
        .iter()
        .flat_map(|(_, cases)| cases.iter())
        .filter(|c| c.fails)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"{}\" tests=\"{total}\" failures=\"{failures}\" errors=\"0\">\n",
        xml(title)
    ));
    for (name, cases) in suites {
        suite(&mut out, name, cases, note);
    }
    out.push_str("</testsuites>\n");
    out.into_bytes()
}

fn suite(out: &mut String, name: &str, cases: &[TestCase], note: &str) {
    let failures = cases.iter().filter(|c| c.fails).count();
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n",
        xml(name),
        cases.len()
    ));
    for c in cases {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">",
            c.classname,
            xml(&c.name)
        ));
        match (&c.regressed, c.fails) {
            (Some(message), true) => out.push_str(&format!(
                "\n      <failure message=\"{}\" type=\"regression\">{}</failure>\n    ",
                xml(message),
                xml(&c.details)
            )),
            (Some(message), false) => out.push_str(&format!(
                "\n      <system-out>{}: {}</system-out>\n    ",
                xml(note),
                xml(message)
            )),
            (None, _) => {}
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n");
}

impl Exporter<RegressReport> for JunitExporter {
    fn export(&self, report: &RegressReport) -> Result<Vec<u8>> {
        let metric = report.metric;
        let confidence = report.parameters.confidence;
        let gates = report.parameters.fail_on;
        let global_text = comparison_text(metric, &report.global, confidence);
        let missing = &report.only_in_baseline;
        let missing_text = format!(
            "{} baseline cases are missing from the candidate{}",
            missing.len(),
            if missing.is_empty() {
                String::new()
            } else {
                let keys: Vec<&str> = missing.iter().take(20).map(|c| c.key.as_str()).collect();
                format!(
                    ": {}{}",
                    keys.join(", "),
                    if missing.len() > keys.len() {
                        ", ..."
                    } else {
                        ""
                    }
                )
            }
        );
        let mut global = vec![TestCase {
            name: "whole run".into(),
            classname: "faultmap.regress.global",
            regressed: (report.global.change == Change::Regressed).then(|| global_text.clone()),
            fails: gates.global && report.global.change == Change::Regressed,
            details: global_text,
        }];
        // Shown when it can fail or there is something to show.
        if gates.missing || !missing.is_empty() {
            global.push(TestCase {
                name: "missing cases".into(),
                classname: "faultmap.regress.missing",
                regressed: (!missing.is_empty()).then(|| missing_text.clone()),
                fails: gates.missing && !missing.is_empty(),
                details: missing_text,
            });
        }
        let slices: Vec<TestCase> = report
            .slices
            .iter()
            .map(|s| {
                let text = comparison_text(metric, &s.comparison, confidence);
                let regressed = s.comparison.change == Change::Regressed;
                TestCase {
                    name: s.name.clone(),
                    classname: "faultmap.regress.slice",
                    regressed: regressed.then(|| text.clone()),
                    fails: gates.slice && regressed,
                    details: format!("{text}\nregressed cases: {}", s.regressed_cases.join(", ")),
                }
            })
            .collect();
        let cases: Vec<TestCase> = report
            .cases
            .iter()
            .map(|c| {
                let regressed = c.change == Change::Regressed;
                let text = format!(
                    "baseline {} -> candidate {}{}",
                    outcome(c.baseline_score, c.baseline_pass),
                    outcome(c.candidate_score, c.candidate_pass),
                    c.delta
                        .map(|d| format!(" (delta {d:+.3})"))
                        .unwrap_or_default()
                );
                TestCase {
                    name: c.key.clone(),
                    classname: "faultmap.regress.case",
                    regressed: regressed.then(|| text.clone()),
                    fails: gates.case && regressed,
                    details: format!("{text}\nprompt: {}", c.prompt),
                }
            })
            .collect();
        Ok(document(
            "faultmap regress",
            &[
                ("faultmap regress: whole run", &global),
                ("faultmap regress: slices", &slices),
                ("faultmap regress: cases", &cases),
            ],
            "regressed, not a gate under --fail-on",
        ))
    }
}

fn outcome(score: Option<f64>, pass: bool) -> String {
    let word = if pass { "pass" } else { "fail" };
    match score {
        Some(s) => format!("{s:.3} ({word})"),
        None => word.to_string(),
    }
}
