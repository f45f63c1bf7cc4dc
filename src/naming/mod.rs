//! Naming slices and coverage gaps: offline by keywords ([`keywords`]), which every report
//! gets, and optionally by a chat model ([`llm`], `--name-with-llm`), which renames the
//! reported ones afterwards and adds a description.

pub mod keywords;
pub mod llm;

pub use keywords::KeywordNamer;

/// A name and its keywords for one slice.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceName {
    pub name: String,
    pub keywords: Vec<String>,
}

/// Names slices given the rows in each. `corpus` is every prompt; each slice is a list of
/// indices into it.
pub trait SliceNamer {
    fn name_slices(&self, corpus: &[&str], slices: &[&[usize]]) -> Vec<SliceName>;
}
