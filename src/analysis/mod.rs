//! The analyses: typed records in, report structs out. Nothing here prints.

pub mod candidates;
pub mod coverage;
pub mod discovery;
pub mod grouping;
pub mod outcome;
pub mod regress;
pub mod representatives;
pub mod scan;
pub mod score;
pub mod selection;
pub mod slices;
