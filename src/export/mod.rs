//! Exporters: report structs in, bytes out (as in hyperfine's exporter trait). Analyses never
//! print; the subcommand picks an exporter and writes what it returns.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

pub mod color;
pub mod coverage;
pub mod escape;
pub mod file;
pub mod html;
pub mod json;
pub mod junit;
pub mod junit_gates;
pub mod markdown;
pub mod regress;
pub mod score;
pub mod table;

pub use file::{write_atomic, write_new};

/// Turns a report of type `R` into the bytes of one output format.
pub trait Exporter<R: ?Sized> {
    fn export(&self, report: &R) -> Result<Vec<u8>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people (the default on a terminal).
    Table,
    /// One JSON document (the default of slices when stdout is not a terminal).
    Json,
    /// One JSON object per line: one per slice (slices), one per row (score; its default when
    /// stdout is not a terminal), one per production prompt (coverage).
    Jsonl,
    /// Markdown, for pull-request comments and CI step summaries.
    Markdown,
    /// One self-contained HTML page with charts: slices (a map of the prompts, failure rates,
    /// the slice table), coverage (a map of tests and production, the gaps), score (decisions,
    /// score histogram, worst rows), regress (verdict, forest plot, worst cases).
    Html,
}

/// A rate for people: whole numbers from 10 up ("17", "1234"), two significant digits below
/// ("2.5", "0.18", "0.0042"), so that a slow run does not read "0 rows/s".
pub fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second <= 0.0 || per_second >= 10.0 {
        return format!("{per_second:.0}");
    }
    // Digits after the point that leave two significant ones, one fewer when rounding carries
    // to the next power of ten (9.96 is 10, 0.0996 is 0.10); at most 6 (0.0000012 is 0).
    let mut decimals = 1 - per_second.log10().floor() as i32;
    if (per_second * 10f64.powi(decimals)).round() >= 100.0 {
        decimals -= 1;
    }
    let decimals = decimals.clamp(0, 6) as usize;
    format!("{per_second:.decimals$}")
}

/// Writes a report to `--output` (atomically) or to stdout.
pub fn emit(bytes: &[u8], output: Option<&Path>) -> Result<()> {
    match output {
        Some(path) => write_atomic(path, bytes),
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(bytes).and_then(|_| out.flush()) {
                // A closed pipe (`| head`) is the reader's choice, not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| Error::io("<stdout>", e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rates_keep_two_significant_digits_below_ten() {
        assert_eq!(rate(17.0 / 92.8), "0.18");
        assert_eq!(rate(0.004_21), "0.0042");
        assert_eq!(rate(2.54), "2.5");
        assert_eq!(rate(9.96), "10");
        assert_eq!(rate(0.0996), "0.10");
        assert_eq!(rate(17.4), "17");
        assert_eq!(rate(12_345.6), "12346");
        assert_eq!(rate(0.0), "0");
    }
}
