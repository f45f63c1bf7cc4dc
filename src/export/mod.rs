//! Exporters: report structs in, bytes out (as in hyperfine's exporter trait). Analyses never
//! print; the subcommand picks an exporter and writes what it returns.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

pub mod coverage;
pub mod escape;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod regress;
pub mod score;
pub mod table;

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

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// crash never leaves a half-written report behind. A replaced file keeps its permissions; a
/// new one gets what the shell would create (0666 less the umask), not the temporary file's
/// private 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    let permissions = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) => new_file_permissions(),
    };
    if let Some(p) = permissions {
        builder.permissions(p);
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// 0666 less the process's umask (Linux reports it in /proc/self/status; elsewhere 022 is
/// assumed), as `open(2)` would give a new file.
#[cfg(unix)]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    Some(std::fs::Permissions::from_mode(0o666 & !umask))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    None
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
