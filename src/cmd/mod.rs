//! Subcommands: each has its `Args` and `run`.
