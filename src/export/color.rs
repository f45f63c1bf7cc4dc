//! Colour for the verdicts in table output (`--color`): a red REGRESSION or REJECT, a green
//! pass. Plain SGR escapes, written here because three codes do not need a terminal crate;
//! inside tables comfy-table's own cell colours are used.

/// What a highlighted word means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A failure, a regression, a rejected answer: bold red.
    Bad,
    /// A pass: bold green.
    Good,
}

/// `text` in the verdict's colour when `on`, else unchanged.
pub fn paint(text: &str, verdict: Verdict, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let code = match verdict {
        Verdict::Bad => "1;31",
        Verdict::Good => "1;32",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// comfy-table's colour for the verdict.
pub fn cell_color(verdict: Verdict) -> comfy_table::Color {
    match verdict {
        Verdict::Bad => comfy_table::Color::Red,
        Verdict::Good => comfy_table::Color::Green,
    }
}
