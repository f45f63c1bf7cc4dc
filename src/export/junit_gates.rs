//! The gates of `coverage` and `score` (whether they trip, and why in words, for the exit
//! code's `gate:` line and JUnit alike), and JUnit XML for the gates of `slices`, `coverage`
//! and `score` (`--junit FILE`), as `regress` writes for its own: a test case fails exactly
//! when it trips the command's gate, so the CI dashboard agrees with the exit code.

use super::junit::{document, TestCase};
use crate::analysis::coverage::CoverageReport;
use crate::analysis::slices::SliceReport;

/// Prompts quoted per test case.
const SHOWN: usize = 3;

fn quoted_prompts(prompts: &[String]) -> String {
    prompts
        .iter()
        .take(SHOWN)
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `slices`: one test case per reported slice, failing when it is significant and
/// `--fail-on-slice` is on; one passing case when nothing is reported.
pub fn slices(report: &SliceReport, gate: bool) -> Vec<u8> {
    let mut cases: Vec<TestCase> = report
        .slices
        .iter()
        .filter(|s| s.selected)
        .map(|s| {
            let message = format!(
                "{:.1}% of {} rows fail (95% CI {:.1}-{:.1}%) against {:.1}% overall, adjusted p {:.2e}",
                100.0 * s.failure_rate,
                s.size,
                100.0 * s.failure_rate_ci[0],
                100.0 * s.failure_rate_ci[1],
                100.0 * report.baseline_failure_rate,
                s.adjusted_p_value
            );
            TestCase {
                name: s.name.clone(),
                classname: "faultmap.slices.slice",
                regressed: s.significant.then(|| message.clone()),
                fails: gate && s.significant,
                details: format!(
                    "{message}\nrepresentative prompts:\n{}",
                    quoted_prompts(&s.representative_prompts)
                ),
            }
        })
        .collect();
    // The gate counts every significant candidate; should none of them be reported, the
    // dashboard still fails with the exit code.
    if gate && report.num_significant > 0 && !cases.iter().any(|c| c.fails) {
        let message = format!(
            "{} of {} candidate slices are significant",
            report.num_significant, report.num_candidates
        );
        cases.push(TestCase {
            name: "significant candidates".into(),
            classname: "faultmap.slices",
            regressed: Some(message.clone()),
            fails: true,
            details: message,
        });
    }
    if cases.is_empty() {
        cases.push(TestCase {
            name: "no significant slice".into(),
            classname: "faultmap.slices",
            regressed: None,
            fails: false,
            details: String::new(),
        });
    }
    document(
        "faultmap slices",
        &[("faultmap slices", &cases)],
        "significant, not a gate without --fail-on-slice",
    )
}

/// `--min-coverage` trips: the covered share of traffic is below the minimum.
pub fn coverage_trips(report: &CoverageReport, min_coverage: Option<f64>) -> bool {
    min_coverage.is_some_and(|min| report.overall_coverage_score < min)
}

/// What is uncovered, in words.
pub fn uncovered_text(report: &CoverageReport) -> String {
    format!(
        "{} of {} production prompts ({:.1}% of traffic) have no nearby test, in {} gaps",
        report.num_uncovered_total,
        report.num_production,
        100.0 * report.uncovered_traffic_share,
        report.num_gaps
    )
}

/// `--max-reject-rate` trips: the share of REJECT rows is above the maximum.
pub fn reject_trips(rejected: usize, total: usize, max_reject_rate: Option<f64>) -> bool {
    max_reject_rate.is_some_and(|max| rejected as f64 / total.max(1) as f64 > max)
}

/// The REJECT rows, in words.
pub fn reject_text(rejected: usize, total: usize) -> String {
    format!(
        "{rejected} of {total} rows ({:.1}%) are REJECT",
        100.0 * rejected as f64 / total.max(1) as f64
    )
}

/// `coverage`: one test case for the covered share against `--min-coverage`, and one per gap
/// (found, never failing on its own: the minimum is the gate).
pub fn coverage(report: &CoverageReport, min_coverage: Option<f64>) -> Vec<u8> {
    let below = coverage_trips(report, min_coverage);
    let message = format!(
        "coverage {:.4}{}: {}",
        report.overall_coverage_score,
        min_coverage
            .map(|m| format!(" against --min-coverage {m}"))
            .unwrap_or_default(),
        uncovered_text(report)
    );
    let whole = [TestCase {
        name: "covered share of traffic".into(),
        classname: "faultmap.coverage",
        regressed: below.then(|| message.clone()),
        fails: below,
        details: message,
    }];
    let gaps: Vec<TestCase> = report
        .gaps
        .iter()
        .map(|g| {
            let message = format!(
                "{} prompts ({:.1}% of traffic) with no test nearby",
                g.size,
                100.0 * g.traffic_share
            );
            TestCase {
                name: g.name.clone(),
                classname: "faultmap.coverage.gap",
                regressed: Some(message.clone()),
                fails: false,
                details: format!(
                    "{message}\nrepresentative prompts:\n{}",
                    quoted_prompts(&g.representative_prompts)
                ),
            }
        })
        .collect();
    document(
        "faultmap coverage",
        &[
            ("faultmap coverage", &whole),
            ("faultmap coverage: gaps", &gaps),
        ],
        "a gap (the gate is --min-coverage)",
    )
}

/// `score`: one test case for the share of REJECT rows against `--max-reject-rate`.
pub fn score(rejected: usize, total: usize, max_reject_rate: Option<f64>) -> Vec<u8> {
    let above = reject_trips(rejected, total, max_reject_rate);
    let message = format!(
        "{}{}",
        reject_text(rejected, total),
        max_reject_rate
            .map(|m| format!(" against --max-reject-rate {m}"))
            .unwrap_or_default()
    );
    let cases = [TestCase {
        name: "share of REJECT rows".into(),
        classname: "faultmap.score",
        regressed: (rejected > 0).then(|| message.clone()),
        fails: above,
        details: message,
    }];
    document(
        "faultmap score",
        &[("faultmap score", &cases)],
        "REJECT rows, not a gate without --max-reject-rate",
    )
}
