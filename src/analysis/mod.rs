//! The analyses: typed records in, report structs out. Nothing here prints.

pub mod coverage;
pub mod representatives;
pub mod score;
pub mod slices;
