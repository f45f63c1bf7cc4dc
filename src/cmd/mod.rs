//! Subcommands: each has its `Args` and `run`, which returns the exit code.

pub mod common;
pub mod coverage;
pub mod defaults;
pub mod input_args;
pub mod manual;
pub mod outcome;
pub mod regress;
pub mod score;
pub mod slices;
