//! Analyses: typed records in, report structs out. They never print.
pub mod score;
pub mod slices;
