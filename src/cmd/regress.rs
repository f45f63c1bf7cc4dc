//! `faultmap regress`: record a baseline, check a candidate against it, or compare two runs,
//! with paired statistics per run and per slice; exit 1 when a gate trips.

use super::common::{
    check_named_fields, open_unit_interval, read_input, report_gate, ClusteringArgs, EmbedArgs,
    EmbedFor, OutputArgs, ReadArgs,
};
use super::input_args::{EmbeddingFieldArgs, OutcomeArgs};
use crate::analysis::regress::baseline::Baseline;
use crate::analysis::regress::cases::{run_from_dataset, KeyKind, PromptIndex, Run};
use crate::analysis::regress::slicing::{self, SlicingConfig};
use crate::analysis::regress::{compare, Gates, Metric, RegressConfig, RegressReport, Verdict};
use crate::error::{Error, Result, EXIT_GATE, EXIT_OK};
use crate::export::html::regress::RegressHtml;
use crate::export::{
    emit, json::JsonExporter, json::JsonlExporter, junit::JunitExporter,
    markdown::MarkdownExporter, table::TableExporter, write_atomic, write_new, Exporter, Format,
};
use crate::input::{Dataset, ReadOptions, Requirements};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Action {
    /// Store a run as a baseline (cases, outcomes and slices). Written only by this command,
    /// never updated by a check.
    Record(Box<RecordArgs>),
    /// Compare a candidate run with a stored baseline; exit 1 on regression.
    Check(Box<CheckArgs>),
    /// Compare two runs directly (also: two models on the same prompts); exit 1 when the
    /// second is worse.
    Compare(Box<CompareArgs>),
}

/// Where runs come from.
#[derive(Debug, Clone, ClapArgs)]
pub struct RunInputArgs {
    /// JSONL or CSV with `id` and `prompt`: gives the prompt text (and group-by fields) to
    /// runs whose rows carry only an id and an outcome.
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub outcome_fields: OutcomeArgs,
    #[command(flatten)]
    pub embedding: EmbeddingFieldArgs,
}

/// How slices are made (record, compare).
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Slices")]
pub struct SliceArgs {
    /// Also slice by each value of these fields (comma-separated dotted paths).
    #[arg(long, value_delimiter = ',', value_name = "FIELD,...")]
    pub group_by: Vec<String>,
    /// Smallest slice: smaller clusters and groups are not made, smaller paired slices not
    /// tested.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = super::common::whole::<2, { u64::MAX }>)]
    pub min_slice_size: u64,
    /// Representative prompts kept per slice.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = super::common::shown_count)]
    pub representatives: usize,
    /// No regression scan: record stores no neighbour graph (a smaller baseline), compare
    /// tests the fixed slices only.
    #[arg(long)]
    pub no_scan: bool,
    #[command(flatten)]
    pub clustering: ClusteringArgs,
    #[command(flatten)]
    pub embed: EmbedArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Mean score when the runs have scores other than 0 and 1, else pass rate.
    Auto,
    /// The share of passing cases.
    PassRate,
    /// The mean score (every paired case needs a score).
    Score,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GateArg {
    /// The whole run is confidently worse by more than the margin.
    Global,
    /// Some slice is (after Benjamini-Hochberg across slices).
    Slice,
    /// Some case regressed (strict: any pass-to-fail flip or drop above --case-threshold).
    Case,
    /// Some baseline case is missing from the candidate (an incomplete run).
    Missing,
    /// Never fail (report only).
    None,
}

/// The statistics and the gate (check, compare).
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Gate")]
pub struct GateArgs {
    /// Non-inferiority margin in the metric's units (pass rate: 0.01 = 1 point): fail only
    /// when the candidate is confidently worse by more than this.
    #[arg(long, default_value_t = 0.01, value_name = "M", value_parser = margin)]
    pub margin: f64,
    /// One-sided level of the regression tests (slices: false-discovery rate); intervals are
    /// two-sided at 1 - 2·alpha.
    #[arg(long, default_value_t = 0.025, value_name = "A", value_parser = half_interval)]
    pub alpha: f64,
    /// What the gate measures.
    #[arg(long, value_enum, default_value = "auto")]
    pub metric: MetricArg,
    /// Which findings fail the run (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "global,slice",
        value_name = "GATE,..."
    )]
    pub fail_on: Vec<GateArg>,
    /// A case regresses when it flips pass to fail or its score drops by more than this.
    #[arg(long, default_value_t = 0.05, value_name = "X", value_parser = super::common::unit_interval)]
    pub case_threshold: f64,
    /// Bootstrap resamples for the mean-score test.
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = super::common::whole::<100, 1_000_000>)]
    pub resamples: u64,
}

/// Reports (check, compare).
#[derive(Debug, Clone, ClapArgs)]
pub struct ReportArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// Also write a JUnit XML report to FILE: one test case per slice and per case.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Worst cases shown in table, Markdown and HTML output.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub cases: usize,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct RecordArgs {
    /// The baseline file to write (JSON).
    #[arg(value_name = "BASELINE")]
    pub baseline: PathBuf,
    /// The run to record (JSONL or CSV), or `-` for stdin.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// Replace BASELINE if it exists.
    #[arg(long)]
    pub force: bool,
    /// No progress bars, no warnings.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub input: RunInputArgs,
    #[command(flatten)]
    pub slices: SliceArgs,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct CheckArgs {
    /// A baseline written by `faultmap regress record`.
    #[arg(value_name = "BASELINE")]
    pub baseline: String,
    /// The candidate run (JSONL or CSV), or `-` for stdin.
    #[arg(value_name = "CANDIDATE")]
    pub candidate: String,
    /// Seed of the bootstrap and the scan's permutations; same input and seed give
    /// byte-identical JSON.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Skip the regression scan: test the baseline's fixed slices only.
    #[arg(long)]
    pub no_scan: bool,
    #[command(flatten)]
    pub input: RunInputArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct CompareArgs {
    /// The baseline run (JSONL or CSV), or `-` for stdin.
    #[arg(value_name = "BASELINE_RUN")]
    pub baseline: String,
    /// The candidate run (JSONL or CSV), or `-` for stdin.
    #[arg(value_name = "CANDIDATE_RUN")]
    pub candidate: String,
    #[command(flatten)]
    pub input: RunInputArgs,
    #[command(flatten)]
    pub slices: SliceArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

/// A margin in [0, 1).
fn margin(s: &str) -> std::result::Result<f64, String> {
    let x = super::common::unit_interval(s)?;
    if x < 1.0 {
        Ok(x)
    } else {
        Err("the margin must be below 1".into())
    }
}

/// A one-sided level in (0, 0.5), so the `1 - 2·alpha` interval exists.
fn half_interval(s: &str) -> std::result::Result<f64, String> {
    let x = open_unit_interval(s)?;
    if x < 0.5 {
        Ok(x)
    } else {
        Err(format!("{x} is not below 0.5 (one-sided level)"))
    }
}

/// Runs the subcommand; returns the exit code (1 when a gate trips).
pub fn run(args: Args) -> Result<i32> {
    match args.action {
        Action::Record(a) => record(*a),
        Action::Check(a) => check(*a),
        Action::Compare(a) => compare_runs(*a),
    }
}

fn record(args: RecordArgs) -> Result<i32> {
    let output = quiet_output(args.quiet);
    if args.baseline.exists() && !args.force {
        return Err(Error::Usage(format!(
            "{} exists; a baseline is replaced only on purpose: pass --force",
            args.baseline.display()
        )));
    }
    let group_by = &args.slices.group_by;
    let (data, run) = read_run(&args.run, &args.input, group_by, true, &output)?;
    let key = Run::key_kind(&[&run])?;
    run.check_unique(key)?;
    let slicing = make_slices(&data, &run, &args.slices, &args.input, &output)?;
    let baseline = Baseline::new(
        &run,
        key,
        &slicing,
        args.input.outcome_fields.failure_threshold,
    );
    let bytes = baseline.to_bytes()?;
    if args.force {
        write_atomic(&args.baseline, &bytes)?;
    } else {
        // Created exclusively: another run that made the file meanwhile is not overwritten.
        write_new(&args.baseline, &bytes).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                Error::Usage(format!(
                    "{} was created while this run worked; a baseline is replaced only on \
                     purpose: pass --force",
                    args.baseline.display()
                ))
            }
            other => other,
        })?;
    }
    if !args.quiet {
        crate::diag!(
            "recorded {} cases in {} slices to {}",
            run.cases.len(),
            slicing.slices.len(),
            args.baseline.display()
        );
    }
    Ok(EXIT_OK)
}

fn check(args: CheckArgs) -> Result<i32> {
    let output = &args.report.output;
    if args.baseline == "-" {
        return Err(Error::Usage(
            "the baseline must be a file written by `faultmap regress record`".into(),
        ));
    }
    let baseline = Baseline::read(&args.baseline)?;
    if baseline.failure_threshold != args.input.outcome_fields.failure_threshold {
        output.warn(&format!(
            "the baseline was recorded with --failure-threshold {}, the candidate is read with {}",
            baseline.failure_threshold, args.input.outcome_fields.failure_threshold
        ));
    }
    let key = baseline.key;
    let (baseline_run, slicing) = baseline.into_run(&args.baseline);
    if slicing.graph.is_none() && !args.no_scan {
        output.warn(&format!(
            "{} has no neighbour graph (recorded with --no-scan, or by an older faultmap): no regression scan; re-record it to scan for regressions that no fixed slice matches",
            args.baseline
        ));
    }
    let (_, candidate) = read_run(&args.candidate, &args.input, &[], false, output)?;
    if key == KeyKind::Prompt {
        candidate.check_prompts()?;
    } else if let Some(case) = candidate.cases.iter().find(|c| c.id.is_none()) {
        return Err(Error::input(
            &candidate.source,
            case.line,
            Some("id"),
            "expected an id: the baseline pairs cases by id",
        ));
    }
    candidate.check_unique(key)?;
    let config = RegressConfig {
        scan: !args.no_scan,
        ..gate_config(&args.gate, args.seed, slicing.parameters.min_slice_size)?
    };
    let report = compare(&baseline_run, &candidate, key, &slicing, &config)?;
    finish(&report, &args.report, "check")
}

fn compare_runs(args: CompareArgs) -> Result<i32> {
    let output = &args.report.output;
    if args.baseline == "-" && args.candidate == "-" {
        return Err(Error::Usage(
            "only one of the two runs can come from stdin".into(),
        ));
    }
    let group_by = &args.slices.group_by;
    let (data, baseline) = read_run(&args.baseline, &args.input, group_by, true, output)?;
    let (_, candidate) = read_run(&args.candidate, &args.input, &[], false, output)?;
    let key = Run::key_kind(&[&baseline, &candidate])?;
    if key == KeyKind::Prompt {
        candidate.check_prompts()?;
    }
    baseline.check_unique(key)?;
    candidate.check_unique(key)?;
    let slicing = make_slices(&data, &baseline, &args.slices, &args.input, output)?;
    let config = RegressConfig {
        scan: !args.slices.no_scan,
        representatives: args.slices.representatives,
        ..gate_config(
            &args.gate,
            args.slices.clustering.seed,
            args.slices.min_slice_size as usize,
        )?
    };
    let report = compare(&baseline, &candidate, key, &slicing, &config)?;
    finish(&report, &args.report, "compare")
}

/// Output settings for `record`, which writes no report.
fn quiet_output(quiet: bool) -> OutputArgs {
    OutputArgs {
        format: None,
        output: None,
        quiet,
        color: super::common::ColorChoice::Never,
    }
}

/// Reads a run, joining prompt text (and group values) from `--prompts` by id; see
/// [`run_from_dataset`] for `require_prompt`.
fn read_run(
    path: &str,
    input: &RunInputArgs,
    group_by: &[String],
    require_prompt: bool,
    output: &OutputArgs,
) -> Result<(Dataset, Run)> {
    let prompts_data = match &input.prompts {
        Some(file) => {
            let options = ReadOptions {
                extra_fields: group_by.to_vec(),
                ..input.read.options(Requirements::default(), Vec::new())
            };
            Some(read_input(file, &options, output)?)
        }
        None => None,
    };
    let requirements = Requirements {
        outcome: true,
        optional_prompt: true,
        ..Requirements::default()
    };
    let options = input.read.options(requirements, group_by.to_vec());
    let options = input.embedding.apply(input.outcome_fields.apply(options));
    let data = read_input(path, &options, output)?;
    // A field named by a flag (a group-by field, say) may be in either file.
    let mut read: Vec<&Dataset> = vec![&data];
    read.extend(prompts_data.as_ref());
    check_named_fields(&read, &input.read, output)?;
    let prompts = prompts_data.as_ref().map(PromptIndex::new).transpose()?;
    let run = run_from_dataset(&data, prompts.as_ref(), require_prompt)?;
    Ok((data, run))
}

fn make_slices(
    data: &Dataset,
    run: &Run,
    args: &SliceArgs,
    input: &RunInputArgs,
    output: &OutputArgs,
) -> Result<slicing::Slicing> {
    let min_size = args.min_slice_size as usize;
    let config = SlicingConfig {
        cluster: args
            .clustering
            .params(min_size, crate::cluster::ClusterMethod::Hdbscan)?,
        group_by: args.group_by.clone(),
        representatives: args.representatives,
        scan_neighbours: if args.no_scan {
            0
        } else {
            crate::analysis::scan::NEIGHBOURS
        },
    };
    let embedder = args.embed.build(
        &[data],
        &input.embedding.path(),
        args.clustering.seed,
        output.quiet,
        EmbedFor::Slices,
    )?;
    slicing::build(&run.cases, embedder.as_ref(), &config, &output.progress())
}

fn gate_config(gate: &GateArgs, seed: u64, min_slice_size: usize) -> Result<RegressConfig> {
    let gates = if gate.fail_on.contains(&GateArg::None) {
        if gate.fail_on.len() > 1 {
            return Err(Error::Usage(
                "--fail-on none cannot be combined with other gates".into(),
            ));
        }
        Gates {
            global: false,
            slice: false,
            case: false,
            missing: false,
        }
    } else {
        Gates {
            global: gate.fail_on.contains(&GateArg::Global),
            slice: gate.fail_on.contains(&GateArg::Slice),
            case: gate.fail_on.contains(&GateArg::Case),
            missing: gate.fail_on.contains(&GateArg::Missing),
        }
    };
    Ok(RegressConfig {
        metric: match gate.metric {
            MetricArg::Auto => None,
            MetricArg::PassRate => Some(Metric::PassRate),
            MetricArg::Score => Some(Metric::MeanScore),
        },
        margin: gate.margin,
        alpha: gate.alpha,
        case_threshold: gate.case_threshold,
        resamples: gate.resamples as usize,
        seed,
        gates,
        min_slice_size,
        ..RegressConfig::default()
    })
}

/// `mode` names the subcommand (`check` or `compare`) for the HTML page.
fn exporter(
    format: Format,
    cases: usize,
    color: bool,
    mode: &'static str,
) -> Box<dyn Exporter<RegressReport>> {
    match format {
        Format::Table => Box::new(TableExporter {
            max_cases: cases,
            color,
            ..TableExporter::default()
        }),
        Format::Json => Box::new(JsonExporter),
        Format::Jsonl => Box::new(JsonlExporter),
        Format::Markdown => Box::new(MarkdownExporter {
            max_cases: cases,
            ..MarkdownExporter::default()
        }),
        Format::Html => Box::new(RegressHtml {
            mode,
            max_cases: cases,
        }),
    }
}

/// Writes the report (and JUnit file) and turns the verdict into the exit code.
fn finish(report: &RegressReport, args: &ReportArgs, mode: &'static str) -> Result<i32> {
    for (side, list) in [
        ("baseline", &report.only_in_baseline),
        ("candidate", &report.only_in_candidate),
    ] {
        if !list.is_empty() {
            args.output.warn(&format!(
                "{} {} only in the {side} run (listed in the report)",
                list.len(),
                if list.len() == 1 { "case" } else { "cases" }
            ));
        }
    }
    if let Some(path) = &args.junit {
        write_atomic(path, &JunitExporter.export(report)?)?;
    }
    let bytes =
        exporter(args.output.format(), args.cases, args.output.color(), mode).export(report)?;
    emit(&bytes, args.output.output.as_deref())?;
    Ok(match report.verdict {
        Verdict::Pass => EXIT_OK,
        Verdict::Regression => {
            report_gate(&crate::export::regress::gate_summary(report));
            EXIT_GATE
        }
    })
}
