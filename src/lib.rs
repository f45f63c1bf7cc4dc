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

/// Defines `$generic(args)`, which runs `imp::$generic` (a function of the calling module's
/// `imp`, marked `#[inline(always)]`) through a copy compiled for AVX2 when the CPU has it, and
/// `$avx2`, that copy. Loops written so that each output is one sum in a fixed order give the
/// same bits on both paths. Shared by the embedding kernels and the tree's distance matrix.
macro_rules! dispatch {
    ($generic:ident, $avx2:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        pub(crate) fn $generic($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            imp::$generic($($arg),*)
        }

        /// # Safety
        /// The CPU must support AVX2.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        pub(crate) unsafe fn $avx2($($arg: $ty),*) $(-> $ret)? {
            imp::$generic($($arg),*)
        }
    };
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
