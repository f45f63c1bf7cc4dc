//! The integration tests that `cargo test` runs by default, as one test binary: each of the
//! files beside this one was its own binary, and linking the library into every one of them
//! took most of the suite's build time in CI. The tests that need `../shared/data` or a
//! server (ignored by default, run by .ci/run by name) stay separate binaries in `tests/`.

#[path = "../common/mod.rs"]
mod common;

mod api_cli;
mod cli;
mod cli_conventions;
mod coverage_cli;
mod coverage_smoothing;
mod html_coverage;
mod html_report;
mod html_score_regress;
mod input_reader;
mod llm_naming;
mod project_defaults;
mod regress_cli;
mod report_schemas;
mod score_cli;
mod score_llm;
mod slices_outcome;
mod slices_tree;
mod stats_reference;
