//! One error type for the library; `main.rs` maps it to an exit code.

use std::fmt;
use std::path::Path;

/// Exit code for a run that succeeded and tripped no gate.
pub const EXIT_OK: i32 = 0;
/// Exit code for a gate that tripped (`--fail-on-slice`, regression, coverage minimum...).
pub const EXIT_GATE: i32 = 1;
/// Exit code for usage errors, bad input and every other failure.
pub const EXIT_ERROR: i32 = 2;

#[derive(Debug)]
pub enum Error {
    /// Bad command-line usage that clap could not catch (incompatible options...).
    Usage(String),
    /// A problem with input data: names the file, line and field, and what was expected.
    Input {
        file: String,
        line: Option<usize>,
        field: Option<String>,
        message: String,
    },
    /// Reading or writing a file failed.
    Io {
        path: String,
        source: std::io::Error,
    },
    /// An analysis step could not run on this data (too few rows to cluster, ...).
    Analysis(String),
    /// An API request failed for good: the endpoint (never the key) and what went wrong.
    Api { endpoint: String, message: String },
    /// A model's reply that a task cannot use (no JSON where JSON was asked for, ...): why,
    /// and the reply's first characters, so a user sees what came back.
    UnusableReply { why: String, began: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn input(
        file: impl Into<String>,
        line: Option<usize>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Error::Input {
            file: file.into(),
            line,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        EXIT_ERROR
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Input {
                file,
                line,
                field,
                message,
            } => {
                write!(f, "{file}")?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                if let Some(field) = field {
                    write!(f, ": field `{field}`")?;
                }
                write!(f, ": {message}")
            }
            Error::Io { path, source } => write!(f, "{path}: {source}"),
            Error::Analysis(msg) => write!(f, "{msg}"),
            Error::Api { endpoint, message } => write!(f, "API request to {endpoint}: {message}"),
            Error::UnusableReply { why, began } => {
                write!(f, "unusable reply: {why}; it began: \"{began}\"")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
