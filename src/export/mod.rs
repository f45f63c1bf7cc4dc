//! Exporters: report structs in, bytes out (as in hyperfine's exporter trait). Analyses never
//! print; the subcommand picks an exporter and writes what it returns.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

pub mod color;
pub mod coverage;
pub mod escape;
pub mod file;
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
