//! faultmap: find where and why an LLM feature fails.
//!
//! The library turns typed records into report structs; the binary (`src/main.rs`) only parses
//! arguments, calls a subcommand's `run` and maps errors to exit codes.

/// Writes a diagnostic line to stderr, like `eprintln!`, but never panics: when stderr cannot be
/// written (closed, or a full device) the message is dropped and the command keeps its real
/// exit code. `eprintln!` panics there, which turned `2>/dev/full` into exit 101.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

pub mod analysis;
pub mod api;
pub mod cluster;
pub mod cmd;
pub mod disjoint_sets;
pub mod embed;
pub mod error;
pub mod export;
pub mod input;
pub mod matrix;
pub mod naming;
pub mod neighbours;
pub mod progress;
pub mod stats;
pub mod text;

pub use error::{Error, Result};
