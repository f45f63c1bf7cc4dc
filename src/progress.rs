//! Progress bars on stderr: drawn only when stderr is a terminal and `--quiet` is off, so
//! stdout carries only the report and logs stay clean.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::OnceLock;

/// Every drawn bar goes through one multi-bar, so bars of steps running at the same time (the
/// candidate tree's merges beside its row assignment) take a line each instead of overwriting
/// one another; indicatif drops finished bars from it.
fn shared() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Bars on stderr when it is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Self {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Never draws: for library callers and tests.
    pub fn hidden() -> Self {
        Progress { enabled: false }
    }

    /// A bar counting `len` items of work named `message`.
    pub fn bar(&self, len: u64, message: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = shared().add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:<12} [{wide_bar}] {human_pos}/{human_len} ({elapsed})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar
    }

    /// A spinner for a step whose length is unknown.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = shared().add(ProgressBar::no_length());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("static template"),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }
}
