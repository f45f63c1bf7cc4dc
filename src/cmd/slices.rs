//! `faultmap slices`: which input slices fail significantly more often than the rest.

use super::common::{
    check_named_fields, open_unit_interval, read_input, report_gate, ClusteringArgs, EmbedArgs,
    EmbedFor, MapArgs, OutputArgs, ReadArgs,
};
use super::input_args::{EmbeddingFieldArgs, OutcomeArgs, ResponseArgs};
use crate::analysis::slices::{analyze, SliceReport, SlicesConfig};
use crate::error::{Result, EXIT_GATE, EXIT_OK};
use crate::export::{
    emit, html::HtmlExporter, json::JsonExporter, json::JsonlExporter, markdown::MarkdownExporter,
    table::TableExporter, Exporter, Format,
};
use crate::stats::SliceTest;
use clap::Args as ClapArgs;

#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    /// Input file (JSONL or CSV), or `-` for stdin.
    #[arg(value_name = "INPUT")]
    pub input: String,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub outcome_fields: OutcomeArgs,

    #[command(flatten)]
    pub response: ResponseArgs,

    #[command(flatten)]
    pub embedding: EmbeddingFieldArgs,

    #[command(flatten)]
    pub chat: crate::api::ChatArgs,

    /// Also test each value of these fields as a slice (comma-separated dotted paths).
    #[arg(long, value_delimiter = ',', value_name = "FIELD,...")]
    pub group_by: Vec<String>,

    /// Exit with code 1 when any slice is significant (a CI gate).
    #[arg(long)]
    pub fail_on_slice: bool,

    /// JSON: also write `coords`, each row's place on a 2-D map of the prompts (as the HTML
    /// report draws them; see --map-layout).
    #[arg(long)]
    pub coords: bool,

    #[command(flatten)]
    pub map: MapArgs,

    /// Also write a JUnit XML report to FILE: one test case per reported slice, failing when
    /// --fail-on-slice is on.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub embed: EmbedArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub test: TestArgs,

    #[command(flatten)]
    pub outcome: super::outcome::OutcomeArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Clustering")]
pub struct ClusterArgs {
    /// Smallest slice reported; smaller clusters and metadata groups are not tested.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = super::common::whole::<2, { u64::MAX }>)]
    pub min_slice_size: u64,
    #[command(flatten)]
    pub clustering: ClusteringArgs,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Testing and reporting")]
pub struct TestArgs {
    /// False-discovery rate for calling a slice significant. With the failure scan, 90% of it
    /// goes to Benjamini-Hochberg over tree nodes and --group-by values and 10% to the scan's
    /// family-wise permutation test.
    #[arg(long, default_value_t = 0.05, value_name = "Q", value_parser = open_unit_interval)]
    pub alpha: f64,
    /// Report every candidate slice, significant or not (with the tree: every node).
    #[arg(long)]
    pub all: bool,
    /// Candidate tree: the log-likelihood a node's children must gain, per extra slice, to be
    /// reported instead of the node. Higher reports fewer, larger slices. The default is half
    /// the 95% point of chi-squared with 1 degree of freedom.
    #[arg(long, default_value_t = crate::analysis::selection::PENALTY, value_name = "X", value_parser = non_negative)]
    pub split_penalty: f64,
    /// Do not report reported slices that fail at one rate inside one failing region as one
    /// group besides its parts (docs/statistics.md, "Groups").
    #[arg(long)]
    pub no_groups: bool,
    /// The test of each candidate's 2x2 table. exact: Fisher's exact test, always. textbook:
    /// Fisher when an expected count is below 5, Yates' chi-squared otherwise (the Python
    /// faultmap's rule, whose p-values are too small in the far tail; docs/statistics.md).
    #[arg(long = "test", value_enum, default_value_t = SliceTest::Exact, value_name = "TEST")]
    pub slice_test: SliceTest,
    /// Turn off the failure scan. With a tree, faultmap also searches regions where failures
    /// gather among each prompt's 15 nearest neighbours (source `scan`), judged by a
    /// permutation test (docs/statistics.md). Without it only tree nodes and --group-by values
    /// are candidates, and Benjamini-Hochberg gets all of --alpha.
    #[arg(long)]
    pub no_scan: bool,
    /// Representative prompts per slice.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = super::common::shown_count)]
    pub representatives: usize,
    /// Failing example rows per slice.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = super::common::shown_count)]
    pub examples: usize,
    /// Ask the chat model (--llm-model, --api-base) to name each reported slice from its
    /// representative prompts and failing examples: a 2-5 word name, a one-sentence
    /// description, a likely root cause and a suggested prompt fix. One call per slice
    /// (cached); a slice whose call fails keeps its keyword name.
    #[arg(long)]
    pub name_with_llm: bool,
}

/// A finite number of at least 0.
fn non_negative(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a number of at least 0 (got {x})")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

fn exporter(format: Format, color: bool) -> Box<dyn Exporter<SliceReport>> {
    match format {
        Format::Table => Box::new(TableExporter {
            color,
            ..TableExporter::default()
        }),
        Format::Json => Box::new(JsonExporter),
        Format::Jsonl => Box::new(JsonlExporter),
        Format::Markdown => Box::new(MarkdownExporter::default()),
        Format::Html => Box::new(HtmlExporter),
    }
}

/// Runs the subcommand; returns the exit code (0, or 1 when `--fail-on-slice` trips).
pub fn run(args: Args) -> Result<i32> {
    // Before any work: a missing --llm-model or --api-base is a usage error.
    let namer = if args.test.name_with_llm {
        Some(
            args.chat
                .llm(&args.embed.api, "--name-with-llm", args.output.quiet)?,
        )
    } else {
        None
    };
    let format = args.output.format();
    let cluster = args.cluster.clustering.params(
        args.cluster.min_slice_size as usize,
        crate::cluster::ClusterMethod::Tree,
    )?;
    let sampler = args
        .outcome
        .llm(&args.chat, &args.embed.api, args.output.quiet)?;
    let options = args
        .read
        .options(args.outcome.requirements(), args.group_by.clone());
    let options = args
        .embedding
        .apply(args.response.apply(args.outcome_fields.apply(options)));
    let mut data = read_input(&args.input, &options, &args.output)?;
    check_named_fields(&[&data], &args.read, &args.output)?;
    let embedder = args.embed.build(
        &[&data],
        &args.embedding.path(),
        args.cluster.clustering.seed,
        args.output.quiet,
        EmbedFor::Slices,
    )?;
    let outcomes = args.outcome.derive(
        &mut data,
        sampler.as_ref(),
        &args.embed,
        embedder.as_ref(),
        args.outcome_fields.failure_threshold,
        args.read.skip_invalid,
        args.cluster.clustering.seed,
        &args.output,
    )?;
    let config = SlicesConfig {
        cluster,
        group_by: args.group_by.clone(),
        alpha: args.test.alpha,
        include_all: args.test.all,
        split_penalty: args.test.split_penalty,
        group_parts: !args.test.no_groups,
        test: args.test.slice_test,
        scan: !args.test.no_scan,
        null_rate: None,
        representatives: args.test.representatives,
        examples: args.test.examples,
        failure_threshold: args.outcome_fields.failure_threshold,
        input: args.input.clone(),
        outcomes,
        map: (args.coords || format == Format::Html).then_some(args.map.map_layout),
    };
    let mut report = analyze(&data, embedder.as_ref(), &config, &args.output.progress())?;
    if let Some(namer) = &namer {
        report.name_with_llm(namer, &args.output.progress())?;
        if let Some(warning) = report
            .llm_naming
            .as_ref()
            .and_then(|n| n.warning("--name-with-llm"))
        {
            args.output.warn(&crate::export::escape::terminal(&warning));
        }
    }
    if let Some(why) = nothing_to_find(&report) {
        args.output.warn(&why);
    }
    if let Some(path) = &args.junit {
        crate::export::write_atomic(
            path,
            &crate::export::junit_gates::slices(&report, args.fail_on_slice),
        )?;
    }
    let bytes = exporter(format, args.output.color()).export(&report)?;
    emit(&bytes, args.output.output.as_deref())?;
    Ok(if args.fail_on_slice && report.num_significant > 0 {
        report_gate(&slices_gate_message(&report));
        EXIT_GATE
    } else {
        EXIT_OK
    })
}

/// Why no slice can be found in this input, when that is so whatever the data say.
fn nothing_to_find(report: &SliceReport) -> Option<String> {
    let (rows, failures) = (report.total_prompts, report.total_failures);
    let min_size = report.parameters.min_slice_size;
    if failures == 0 {
        Some(format!(
            "no row fails (0 of {rows}): there is no failure to locate; check the outcome \
             field and --failure-threshold"
        ))
    } else if failures == rows {
        Some(format!(
            "every row fails ({rows} of {rows}): no slice can fail more often than the rest"
        ))
    } else if rows <= min_size {
        Some(format!(
            "{rows} rows: a slice needs at least --min-slice-size {min_size} rows and some rows \
             outside it to compare with"
        ))
    } else {
        None
    }
}

/// Why `--fail-on-slice` tripped: the reported slices, worst first (at most three named).
fn slices_gate_message(report: &SliceReport) -> String {
    const NAMED: usize = 3;
    let reported: Vec<&crate::analysis::slices::Slice> = report
        .slices
        .iter()
        .filter(|s| s.significant && s.selected)
        .collect();
    let named: Vec<String> = reported
        .iter()
        .take(NAMED)
        .map(|s| {
            format!(
                "\"{}\" ({:.1}% of {} rows fail)",
                s.name,
                100.0 * s.failure_rate,
                s.size
            )
        })
        .collect();
    let more = reported.len().saturating_sub(NAMED);
    format!(
        "--fail-on-slice: {} {} significantly more often than the {:.1}% baseline ({} of {} \
         candidates significant){}{}{}",
        reported.len(),
        if reported.len() == 1 {
            "slice fails"
        } else {
            "slices fail"
        },
        100.0 * report.baseline_failure_rate,
        report.num_significant,
        report.num_candidates,
        if named.is_empty() { "" } else { ": " },
        named.join(", "),
        if more > 0 {
            format!(", and {more} more in the report")
        } else {
            String::new()
        }
    )
}
