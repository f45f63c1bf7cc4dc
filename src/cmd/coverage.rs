//! `faultmap coverage`: which production topics the test suite never touches, or barely.

use super::common::{
    check_named_fields, open_unit_interval, read_input, report_gate, ClusteringArgs, EmbedArgs,
    EmbedFor, OutputArgs, ReadArgs,
};
use super::input_args::EmbeddingFieldArgs;
use crate::analysis::coverage::rules::ThresholdSource;
use crate::analysis::coverage::{analyze, CoverageConfig, CoverageReport};
use crate::cluster::ClusterParams;
use crate::error::{Error, Result, EXIT_GATE, EXIT_OK};
use crate::export::coverage::suggested_tests;
use crate::export::junit_gates;
use crate::export::{
    emit, json::JsonExporter, json::JsonlExporter, markdown::MarkdownExporter,
    table::TableExporter, write_atomic, Exporter, Format,
};
use crate::input::{Dataset, Requirements};
use clap::{Args as ClapArgs, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleArg {
    /// Far from every test, or in a neighbourhood of production prompts with no test.
    Both,
    /// Far from every test only.
    Distance,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    /// The test suite's prompts (JSONL or CSV), or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub tests: String,
    /// Production prompts (JSONL or CSV), or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub production: String,
    /// Production field with each row's traffic weight (e.g. a request count): coverage
    /// becomes the share of traffic covered.
    #[arg(long, value_name = "PATH")]
    pub weight_field: Option<String>,

    /// JSON: also write `coords`, each test's and production prompt's place on one 2-D map of
    /// both (as the HTML report draws them; see --map-layout).
    #[arg(long)]
    pub coords: bool,

    #[command(flatten)]
    pub map: super::common::MapArgs,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub embedding: EmbeddingFieldArgs,

    #[command(flatten)]
    pub chat: crate::api::ChatArgs,

    #[command(flatten)]
    pub rules: RuleArgs,

    #[command(flatten)]
    pub gaps: GapArgs,

    #[command(flatten)]
    pub embed: EmbedArgs,

    #[command(flatten)]
    pub clustering: ClusteringArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Coverage rules")]
pub struct RuleArgs {
    /// Cosine distance to the nearest test above which a prompt is uncovered, compared with each
    /// prompt's own distance (no smoothing) [default: calibrated on the tests: the conformal
    /// (1 - 0.3 alpha) quantile of the tests' distances to their nearest other test, smoothed
    /// as the prompts' are]
    #[arg(long, value_name = "D", value_parser = distance)]
    pub distance_threshold: Option<f64>,
    /// Share of covered traffic the rules may wrongly call uncovered (with both rules, 0.3 of it
    /// goes to the distance rule and 0.7 to the neighbour rule, whose flags count only inside
    /// gaps).
    #[arg(long, default_value_t = 0.05, value_name = "X", value_parser = open_unit_interval)]
    pub alpha: f64,
    /// Which rules mark a prompt uncovered.
    #[arg(long, value_enum, default_value = "both")]
    pub rule: RuleArg,
    /// The neighbour rule and the smoothing look for neighbours among at most this many
    /// distinct production prompts (a seeded sample above it).
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = super::common::whole::<2, { u64::MAX }>)]
    pub max_reference_prompts: u64,
    /// The distance rule averages each prompt's distance to its nearest test with its N - 1
    /// nearest production prompts' (a missing topic is far from the tests as a whole, even
    /// where one prompt sits near a neighbouring topic's test); 1 compares each prompt's own
    /// distance. The threshold is calibrated on the tests scored the same way.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = super::common::whole::<1, 1000>)]
    pub smooth_over: u64,
    /// Exit with code 1 when the covered share of traffic is below X (a CI gate).
    #[arg(long, value_name = "X", value_parser = super::common::unit_interval)]
    pub min_coverage: Option<f64>,
    /// Also write a JUnit XML report to FILE: a test case for the covered share (failing below
    /// --min-coverage) and one per gap.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Gaps and thin topics")]
pub struct GapArgs {
    /// Smallest gap reported (production prompts). 10, as for slices, kept more missing
    /// topics whole than 5 on planted gaps (development draws) and halved false gaps.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = super::common::whole::<2, { u64::MAX }>)]
    pub min_gap_size: u64,
    /// Smallest production topic tested for thin coverage.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = super::common::whole::<2, { u64::MAX }>)]
    pub min_topic_size: u64,
    /// Thin coverage: report topics whose traffic share is at least X times their test share
    /// (and significantly so).
    #[arg(long, default_value_t = 3.0, value_name = "X", value_parser = ratio)]
    pub thin_ratio: f64,
    /// Representative prompts per gap and topic.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = super::common::shown_count)]
    pub representatives: usize,
    /// Write suggested new test prompts (the most representative prompts of each gap, with the
    /// gap's name) to FILE as JSONL, ready to label.
    #[arg(long, value_name = "FILE")]
    pub emit_tests: Option<PathBuf>,
    /// Suggested tests per gap with --emit-tests.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = super::common::whole::<1, { u64::MAX }>)]
    pub tests_per_gap: u64,
    /// Ask the chat model (--llm-model, --api-base) to name each gap from its representative
    /// prompts: a 2-5 word name and a one-sentence description. One call per gap (cached); a
    /// gap whose call fails keeps its keyword name.
    #[arg(long)]
    pub name_with_llm: bool,
}

/// Below this many calibration tests, the threshold gets a warning.
const SMALL_SUITE: usize = 50;

/// Largest share of production a thin-coverage topic may hold (a tree node, or a flat cluster
/// before it is split).
const TOPIC_MAX_SHARE: f64 = 0.5;

/// A cosine distance: a number in [0, 2].
fn distance(s: &str) -> std::result::Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=2.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!("{x} is outside [0, 2] (cosine distance)"))
    }
}

/// A ratio of at least 1.
fn ratio(s: &str) -> std::result::Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if x.is_finite() && x >= 1.0 {
        Ok(x)
    } else {
        Err(format!("{x} is below 1"))
    }
}

fn exporter(format: Format, color: bool) -> Box<dyn Exporter<CoverageReport>> {
    match format {
        Format::Table => Box::new(TableExporter {
            color,
            ..TableExporter::default()
        }),
        Format::Json => Box::new(JsonExporter),
        Format::Jsonl => Box::new(JsonlExporter),
        Format::Markdown => Box::new(MarkdownExporter::default()),
        Format::Html => Box::new(crate::export::html::CoverageHtml),
    }
}

/// The rows' traffic weights (1 each without a weight field).
pub fn weights(data: &Dataset) -> Vec<f64> {
    data.records
        .iter()
        .map(|r| r.weight.unwrap_or(1.0))
        .collect()
}

impl Args {
    /// The analysis settings these arguments ask for.
    pub fn config(&self) -> Result<CoverageConfig> {
        let gap_clustering = self.clustering.params(
            self.gaps.min_gap_size as usize,
            crate::cluster::ClusterMethod::Tree,
        )?;
        // With the tree, thin topics are its nodes of at least --min-topic-size rows (and at
        // most TOPIC_MAX_SHARE of production); with a flat clustering, its clusters.
        let mut topic_clustering = if gap_clustering.method.is_tree() {
            ClusterParams {
                min_cluster_size: self.gaps.min_topic_size as usize,
                seed: self.clustering.seed,
                ..ClusterParams::default()
            }
        } else {
            self.clustering.params(
                self.gaps.min_topic_size as usize,
                crate::cluster::ClusterMethod::Hdbscan,
            )?
        };
        // A thin topic must be seen whole (one with 26% of traffic split at 10% looked like a
        // 5% topic), so topics may hold up to half of production; the cap applies to gaps.
        topic_clustering.max_cluster_share = TOPIC_MAX_SHARE;
        Ok(CoverageConfig {
            gap_clustering,
            topic_clustering,
            distance_threshold: self.rules.distance_threshold,
            alpha: self.rules.alpha,
            neighbour_rule: self.rules.rule == RuleArg::Both,
            max_reference_prompts: self.rules.max_reference_prompts as usize,
            smoothing: self.rules.smooth_over as usize,
            thin_ratio: self.gaps.thin_ratio,
            thin_alpha: 0.05,
            representatives: self.gaps.representatives,
            tests_input: self.tests.clone(),
            production_input: self.production.clone(),
            weight_field: self.weight_field.clone(),
            map: self.coords.then_some(self.map.map_layout),
        })
    }
}

/// Runs the subcommand; returns the exit code (0, or 1 when `--min-coverage` trips).
pub fn run(args: Args) -> Result<i32> {
    if args.tests == "-" && args.production == "-" {
        return Err(Error::Usage(
            "--tests and --production cannot both be `-` (stdin)".into(),
        ));
    }
    let format = args.output.format();
    let mut config = args.config()?;
    // The map costs a projection of every prompt (seconds at 100k): only when it is shown.
    if format == Format::Html {
        config.map = Some(args.map.map_layout);
    }
    // Before any work: a missing --llm-model or --api-base is a usage error.
    let llm = if args.gaps.name_with_llm {
        Some(
            args.chat
                .llm(&args.embed.api, "--name-with-llm", args.output.quiet)?,
        )
    } else {
        None
    };
    // Coverage reads no outcome (ReadArgs leaves it unread).
    let options = args
        .embedding
        .apply(args.read.options(Requirements::default(), Vec::new()));
    let tests = read_input(&args.tests, &options, &args.output)?;
    let production_options = match &args.weight_field {
        Some(field) => options.clone().with_weight_field(field),
        None => options,
    };
    let production = read_input(&args.production, &production_options, &args.output)?;
    check_named_fields(&[&tests, &production], &args.read, &args.output)?;
    let embedder = args.embed.build(
        &[&tests, &production],
        &args.embedding.path(),
        args.clustering.seed,
        args.output.quiet,
        EmbedFor::Coverage,
    )?;
    let mut report = analyze(
        &tests,
        &production,
        &weights(&production),
        embedder.as_ref(),
        &config,
        &args.output.progress(),
    )?;
    if let ThresholdSource::Calibrated {
        calibration_tests, ..
    } = report.parameters.threshold
    {
        if calibration_tests < SMALL_SUITE {
            args.output.warn(&format!(
                "only {calibration_tests} distinct test prompts calibrate the distance threshold; it rests on its largest few spacings and may move a lot as tests are added (consider --distance-threshold)"
            ));
        }
    }
    // Before --emit-tests, so that the suggested tests carry the model's gap names.
    if let Some(llm) = &llm {
        report.name_with_llm(llm, &args.output.progress())?;
        if let Some(warning) = report
            .llm_naming
            .as_ref()
            .and_then(|n| n.warning("--name-with-llm"))
        {
            args.output.warn(&crate::export::escape::terminal(&warning));
        }
    }
    if let Some(path) = &args.gaps.emit_tests {
        write_atomic(
            path,
            &suggested_tests(&report, &production, args.gaps.tests_per_gap as usize)?,
        )?;
    }
    if let Some(path) = &args.rules.junit {
        write_atomic(
            path,
            &junit_gates::coverage(&report, args.rules.min_coverage),
        )?;
    }
    let bytes = exporter(format, args.output.color()).export(&report)?;
    emit(&bytes, args.output.output.as_deref())?;
    let min = args.rules.min_coverage;
    Ok(if junit_gates::coverage_trips(&report, min) {
        report_gate(&format!(
            "coverage {:.4} is below --min-coverage {}: {}",
            report.overall_coverage_score,
            min.unwrap_or_default(),
            junit_gates::uncovered_text(&report)
        ));
        EXIT_GATE
    } else {
        EXIT_OK
    })
}
