//! `faultmap score`: scores each response and decides ACCEPT / REVIEW / REJECT; with
//! `--calibrate`, fits the gate thresholds to labelled rows instead.

use super::common::{
    check_named_fields, open_unit_interval, read_input, report_gate, share, unit_interval,
    OutputArgs, ReadArgs,
};
use super::input_args::{ContextArgs, OutcomeArgs, ResponseArgs};
use crate::analysis::score::calibrate::{calibrate, Auroc, CalibrationOptions, CalibrationReport};
use crate::analysis::score::config::{ScoreConfig, DEFAULT_CONFIG_TOML};
use crate::analysis::score::decide::Decision;
use crate::analysis::score::judge::JudgeBand;
use crate::analysis::score::{analyze_with, LlmChecks, ScoreReport};
use crate::error::{Error, Result, EXIT_GATE, EXIT_OK};
use crate::export::html::score::{CalibrationHtml, ScoreHtml, ScoreRun};
use crate::export::{
    emit, json::JsonExporter, json::JsonlExporter, markdown::MarkdownExporter,
    table::TableExporter, write_atomic, Exporter, Format,
};
use crate::export::{junit_gates, rate};
use crate::input::Requirements;
use clap::Args as ClapArgs;
use std::path::PathBuf;

#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    /// Input file (JSONL or CSV), or `-` for stdin. Rows need `prompt` and `response`;
    /// `context` (a string or an array of passages) and `reference` are optional. Texts are
    /// embedded with the built-in scoring embedder (word features, TF-IDF, SVD), which the
    /// thresholds are calibrated on.
    #[arg(value_name = "INPUT", required_unless_present = "print_config")]
    pub input: Option<String>,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub response: ResponseArgs,

    #[command(flatten)]
    pub context: ContextArgs,

    /// Labels for --calibrate.
    #[command(flatten)]
    pub outcome_fields: OutcomeArgs,

    #[command(flatten)]
    pub embed: ScoreEmbedArgs,

    #[command(flatten)]
    pub scoring: ScoringArgs,

    #[command(flatten)]
    pub llm_checks: LlmCheckArgs,

    #[command(flatten)]
    pub calibration: CalibrationArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// The scoring embedder's size, and the server for --judge and --consistency. `score` has no
/// --embedder: it always uses its built-in word embedder, which its thresholds are
/// calibrated on.
#[derive(Debug, Clone, ClapArgs)]
pub struct ScoreEmbedArgs {
    /// Dimensions of the built-in scoring embedder.
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = super::common::whole::<2, 4096>)]
    pub dims: u64,
    #[command(flatten)]
    pub api: crate::api::ApiArgs,
    #[command(flatten)]
    pub chat: crate::api::ChatArgs,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Scoring")]
pub struct ScoringArgs {
    /// Weights and thresholds (TOML); keys left out keep their defaults (see --print-config).
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Print the default configuration, with comments, and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Seeds the built-in embedder and the held-out split of --calibrate.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// CI gate: exit with code 1 when the share of REJECT rows is above X (0 fails on any).
    #[arg(long, value_name = "X", value_parser = unit_interval, conflicts_with = "calibrate")]
    pub max_reject_rate: Option<f64>,
    /// Also write a JUnit XML report to FILE: a test case for the share of REJECT rows,
    /// failing above --max-reject-rate.
    #[arg(long, value_name = "FILE", conflicts_with = "calibrate")]
    pub junit: Option<PathBuf>,
}

/// Opt-in checks that ask a chat model (--llm-model on an OpenAI-compatible server).
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "LLM checks (need --llm-model and --api-base)")]
pub struct LlmCheckArgs {
    /// Ask an LLM judge whether the response is faithful, for the rows in --judge-band only;
    /// its verdict decides them (faithful: ACCEPT, hallucinated: REJECT). Adds
    /// `used_llm_judge` to every row.
    #[arg(long, conflicts_with = "calibrate")]
    pub judge: bool,
    /// Rows the judge sees: `review` (the heuristic decision is REVIEW) or LOW,HIGH (final
    /// score in [LOW, HIGH], whatever the decision; 0,1 is every row).
    #[arg(long, value_name = "review|LOW,HIGH", default_value = "review", value_parser = JudgeBand::parse, requires = "judge")]
    pub judge_band: JudgeBand,
    /// Ask the LLM for N paraphrases of each query and answer each; `scores.consistency` is
    /// the answers' agreement with the response, a scorer in `final` (weights.consistency)
    /// and in `disagreement`. Makes 1 + N calls per row.
    #[arg(long, value_name = "N", value_parser = super::common::whole::<1, 20>)]
    pub consistency: Option<u64>,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Calibration")]
pub struct CalibrationArgs {
    /// Fit the gate thresholds to labelled rows (`label` or `score` on every row) and report,
    /// on held-out prompts, how well the scores tell good answers from bad ones.
    #[arg(long)]
    pub calibrate: bool,
    /// Share of the prompts held out for the reported figures.
    #[arg(long, default_value_t = 0.3, value_name = "X", value_parser = open_unit_interval, requires = "calibrate")]
    pub holdout: f64,
    /// Maximize recall with at least this precision, instead of maximizing F1.
    #[arg(long, value_name = "X", value_parser = share, requires = "calibrate")]
    pub target_precision: Option<f64>,
    /// Write the calibrated configuration (for --config) to FILE.
    #[arg(long, value_name = "FILE", requires = "calibrate")]
    pub write_config: Option<PathBuf>,
}

/// `html` is the page's exporter, which needs the input rows (the report keeps no texts).
fn exporter<'a>(
    format: Format,
    color: bool,
    html: ScoreHtml<'a>,
) -> Box<dyn Exporter<ScoreReport> + 'a> {
    match format {
        Format::Table => Box::new(TableExporter {
            color,
            ..TableExporter::default()
        }),
        Format::Json => Box::new(JsonExporter),
        Format::Jsonl => Box::new(JsonlExporter),
        Format::Markdown => Box::new(MarkdownExporter::default()),
        Format::Html => Box::new(html),
    }
}

fn calibration_exporter(format: Format) -> Result<Box<dyn Exporter<CalibrationReport>>> {
    match format {
        Format::Table => Ok(Box::new(TableExporter::default())),
        Format::Json => Ok(Box::new(JsonExporter)),
        Format::Markdown => Ok(Box::new(MarkdownExporter::default())),
        Format::Jsonl => Err(Error::Usage(
            "--format jsonl writes scored rows; with --calibrate the output is the calibration \
             report: use --format table, json or markdown"
                .into(),
        )),
        Format::Html => Ok(Box::new(CalibrationHtml)),
    }
}

/// Runs the subcommand; returns the exit code (0, or 1 when `--max-reject-rate` trips).
pub fn run(args: Args) -> Result<i32> {
    if args.scoring.print_config {
        emit(DEFAULT_CONFIG_TOML.as_bytes(), None)?;
        return Ok(EXIT_OK);
    }
    let input = args
        .input
        .as_deref()
        .ok_or_else(|| Error::Usage("INPUT is required".into()))?;
    let calibrating = args.calibration.calibrate;
    let format = if calibrating {
        args.output.format()
    } else {
        args.output.format_or(Format::Jsonl)
    };
    let calibration_output = if calibrating {
        Some(calibration_exporter(format)?)
    } else {
        None
    };
    // Before reading the input: a missing --llm-model is a usage error, whatever the rows.
    let checks = &args.llm_checks;
    let llm = match (checks.judge, checks.consistency) {
        (false, None) => None,
        (true, _) => Some(
            args.embed
                .chat
                .llm(&args.embed.api, "--judge", args.output.quiet)?,
        ),
        (false, Some(_)) => Some(args.embed.chat.llm(
            &args.embed.api,
            "--consistency",
            args.output.quiet,
        )?),
    };
    let config = match &args.scoring.config {
        Some(path) => ScoreConfig::from_file(path)?,
        None => ScoreConfig::default(),
    };
    let requirements = Requirements {
        response: true,
        outcome: calibrating,
        ..Requirements::default()
    };
    let options = args.read.options(requirements, Vec::new());
    let mut options = args
        .outcome_fields
        .apply(args.context.apply(args.response.apply(options)));
    // Rows are echoed only in JSONL; other formats do not need them in memory.
    options.keep_raw = format == Format::Jsonl;
    // Labels matter only to --calibrate.
    options.skip_outcomes = !calibrating;
    let data = read_input(input, &options, &args.output)?;
    check_named_fields(&[&data], &args.read, &args.output)?;
    let embedder =
        crate::analysis::score::scoring_embedder(args.embed.dims as usize, args.scoring.seed);
    let report = analyze_with(
        &data,
        &embedder,
        &config,
        &args.output.progress(),
        llm.as_ref()
            .map(|llm| LlmChecks {
                llm,
                judge: args.llm_checks.judge.then_some(args.llm_checks.judge_band),
                consistency: args.llm_checks.consistency.map(|n| n as usize),
                seed: args.scoring.seed,
            })
            .as_ref(),
    )?;

    if let Some(exporter) = calibration_output {
        let options = CalibrationOptions {
            holdout: args.calibration.holdout,
            target_precision: args.calibration.target_precision,
            seed: args.scoring.seed,
        };
        let calibration = calibrate(&data.records, &report, &config, &options)?;
        let (bad, good) = (
            calibration.holdout_bad_rows,
            calibration.holdout_rows - calibration.holdout_bad_rows,
        );
        if bad.min(good) < MIN_HELD_OUT_PER_CLASS {
            args.output.warn(&format!(
                "--calibrate checked its thresholds on {} held-out rows ({bad} bad, {good} good): \
                 too few for the figures to mean much (see the intervals); label at least {} \
                 rows of each kind for the held-out split (--holdout {})",
                calibration.holdout_rows, MIN_HELD_OUT_PER_CLASS, args.calibration.holdout
            ));
        }
        if let Some(path) = &args.calibration.write_config {
            let header = config_header(&data.source, &calibration);
            write_atomic(path, calibration.config.to_toml(&header)?.as_bytes())?;
            if !args.output.quiet {
                crate::diag!("wrote the calibrated configuration to {}", path.display());
            }
        }
        emit(
            &exporter.export(&calibration)?,
            args.output.output.as_deref(),
        )?;
        return Ok(EXIT_OK);
    }

    let html = ScoreHtml {
        data: &data,
        run: ScoreRun {
            config: args.scoring.config.clone(),
            seed: args.scoring.seed,
        },
    };
    emit(
        &exporter(format, args.output.color(), html).export(&report)?,
        args.output.output.as_deref(),
    )?;
    let summary = &report.summary;
    let count = |d: Decision| summary.decisions.get(&d).copied().unwrap_or(0);
    if let Some(path) = &args.scoring.junit {
        write_atomic(
            path,
            &junit_gates::score(
                count(Decision::Reject),
                summary.total_rows,
                args.scoring.max_reject_rate,
            ),
        )?;
    }
    if format == Format::Jsonl && !args.output.quiet {
        crate::diag!(
            "scored {} rows in {:.2}s ({} rows/s): {} ACCEPT, {} REVIEW, {} REJECT",
            summary.total_rows,
            summary.elapsed.as_secs_f64(),
            rate(summary.rows_per_second()),
            count(Decision::Accept),
            count(Decision::Review),
            count(Decision::Reject),
        );
    }
    if !args.output.quiet {
        if let Some(j) = &summary.judge {
            crate::diag!(
                "judge: {} of {} rows in the band ({}) judged by the LLM ({} changed, {} left at REVIEW against heuristic evidence or below score {}); {} failed and kept the heuristic decision",
                j.rows_judged, j.rows_in_band, j.band, j.decisions_changed, j.disagreements, j.accept_score, j.errors
            );
        }
        if let Some(c) = &summary.consistency {
            crate::diag!(
                "consistency: {}; {} failed and were scored without it",
                c.describe(),
                c.errors
            );
        }
    }
    let (rejected, max) = (count(Decision::Reject), args.scoring.max_reject_rate);
    if junit_gates::reject_trips(rejected, summary.total_rows, max) {
        report_gate(&format!(
            "{}, above --max-reject-rate {}",
            junit_gates::reject_text(rejected, summary.total_rows),
            max.unwrap_or_default()
        ));
        return Ok(EXIT_GATE);
    }
    Ok(EXIT_OK)
}

/// Held-out rows of each kind (bad, good) below which `--calibrate` warns: with 20 of each an
/// AUROC near 0.8 still has a 95% interval about ±0.14 wide (Hanley and McNeil).
const MIN_HELD_OUT_PER_CLASS: usize = 20;

fn auroc_text(a: &Option<Auroc>) -> String {
    match a {
        Some(a) => format!("{:.3} [{:.3}, {:.3}]", a.auroc, a.ci_low, a.ci_high),
        None => "n/a".into(),
    }
}

/// The comment block at the top of a `--write-config` file: where the thresholds come from
/// and how good they are. No date, so the same run writes the same file.
fn config_header(source: &str, r: &CalibrationReport) -> String {
    format!(
        "faultmap score configuration, calibrated on labelled rows.\n\
         Input: {source}: {} labelled rows, {} to fit the gates, {} held out ({} bad).\n\
         Held-out F1 of flagging bad rows (REVIEW or REJECT): {:.3} with the default gates, \
         {:.3} calibrated (objective: {}).\n\
         Held-out AUROC of final {}; of attribution {}; response length baseline {} ({}).\n\
         Command: {}",
        r.labelled_rows,
        r.fit_rows,
        r.holdout_rows,
        r.holdout_bad_rows,
        r.holdout_default.f1,
        r.holdout_calibrated.f1,
        r.objective,
        auroc_text(&r.auroc_final),
        auroc_text(&r.auroc_attribution),
        auroc_text(&r.auroc_length_baseline),
        r.length_baseline_direction,
        command_line(),
    )
}

/// This process's command line with the program named `faultmap`, quoted for a POSIX shell.
fn command_line() -> String {
    let quote = |a: String| {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    std::iter::once("faultmap".to_string())
        .chain(std::env::args().skip(1).map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}
