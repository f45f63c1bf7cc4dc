//! `faultmap slices`: which input slices fail significantly more often than the rest.

use super::common::{open_unit_interval, read_input, share, EmbedArgs, OutputArgs, ReadArgs};
use crate::analysis::slices::{analyze, SliceReport, SlicesConfig};
use crate::cluster::{ClusterMethod, ClusterParams};
use crate::error::{Error, Result, EXIT_GATE, EXIT_OK};
use crate::export::{
    emit, json::JsonExporter, json::JsonlExporter, markdown::MarkdownExporter,
    table::TableExporter, Exporter, Format,
};
use crate::input::Requirements;
use clap::{Args as ClapArgs, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusteringArg {
    /// Density-based, finds the number of clusters itself and leaves outliers as noise.
    Hdbscan,
    /// Ward linkage; k chosen by silhouette unless --k is given.
    Agglomerative,
    /// k-means (needs --k).
    Kmeans,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    /// Input file (JSONL or CSV), or `-` for stdin.
    #[arg(value_name = "INPUT")]
    pub input: String,

    #[command(flatten)]
    pub read: ReadArgs,

    /// Also test each value of these fields as a slice (comma-separated dotted paths).
    #[arg(long, value_delimiter = ',', value_name = "FIELD,...")]
    pub group_by: Vec<String>,

    /// Exit with code 1 when any slice is significant (a CI gate).
    #[arg(long)]
    pub fail_on_slice: bool,

    #[command(flatten)]
    pub embed: EmbedArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub test: TestArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Clustering")]
pub struct ClusterArgs {
    #[arg(long, value_enum, default_value = "hdbscan")]
    pub clustering: ClusteringArg,
    /// Number of clusters (k-means: required; agglomerative: skips the silhouette search).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..))]
    pub k: Option<u64>,
    /// Smallest slice reported; smaller clusters and metadata groups are not tested.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u64).range(2..))]
    pub min_slice_size: u64,
    /// Above this many rows the clustering is fitted on a seeded sample of this size and the
    /// other rows are assigned to the nearest cluster (or noise).
    #[arg(long, default_value_t = 6_000, value_name = "N", value_parser = clap::value_parser!(u64).range(100..))]
    pub max_fit_rows: u64,
    /// Dimensions the embeddings are reduced to (PCA) before HDBSCAN and Ward.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u64).range(2..))]
    pub cluster_dims: u64,
    /// HDBSCAN: clusters larger than this share of the rows are split into their sub-clusters
    /// (1 disables the cap).
    #[arg(long, default_value_t = 0.1, value_name = "X", value_parser = share)]
    pub max_slice_share: f64,
    /// Seed for every random choice; same input and seed give byte-identical JSON.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Testing and reporting")]
pub struct TestArgs {
    /// False-discovery rate (Benjamini-Hochberg) for calling a slice significant.
    #[arg(long, default_value_t = 0.05, value_name = "Q", value_parser = open_unit_interval)]
    pub alpha: f64,
    /// Report every candidate slice, significant or not.
    #[arg(long)]
    pub all: bool,
    /// Representative prompts per slice.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub representatives: usize,
    /// Failing example rows per slice.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub examples: usize,
}

impl ClusterArgs {
    pub fn params(&self) -> Result<ClusterParams> {
        let method = match self.clustering {
            ClusteringArg::Hdbscan => ClusterMethod::Hdbscan,
            ClusteringArg::Agglomerative => ClusterMethod::Agglomerative,
            ClusteringArg::Kmeans => ClusterMethod::Kmeans,
        };
        if method == ClusterMethod::Kmeans && self.k.is_none() {
            return Err(Error::Usage(
                "--clustering kmeans needs --k N (the number of clusters)".into(),
            ));
        }
        if method == ClusterMethod::Hdbscan && self.k.is_some() {
            return Err(Error::Usage(
                "--k applies to --clustering kmeans or agglomerative; HDBSCAN chooses the number of clusters itself".into(),
            ));
        }
        Ok(ClusterParams {
            method,
            min_cluster_size: self.min_slice_size as usize,
            k: self.k.map(|k| k as usize),
            seed: self.seed,
            max_fit_rows: self.max_fit_rows as usize,
            reduced_dims: self.cluster_dims as usize,
            max_cluster_share: self.max_slice_share,
            ..ClusterParams::default()
        })
    }
}

fn exporter(format: Format) -> Box<dyn Exporter<SliceReport>> {
    match format {
        Format::Table => Box::new(TableExporter::default()),
        Format::Json => Box::new(JsonExporter),
        Format::Jsonl => Box::new(JsonlExporter),
        Format::Markdown => Box::new(MarkdownExporter::default()),
    }
}

/// Runs the subcommand; returns the exit code (0, or 1 when `--fail-on-slice` trips).
pub fn run(args: Args) -> Result<i32> {
    let cluster = args.cluster.params()?;
    let requirements = Requirements {
        outcome: true,
        ..Requirements::default()
    };
    let options = args.read.options(requirements, args.group_by.clone());
    let data = read_input(&args.input, &options, &args.output)?;
    let embedder = args
        .embed
        .build(&data, &args.read.fields.embedding_field, args.cluster.seed)?;
    let config = SlicesConfig {
        cluster,
        group_by: args.group_by.clone(),
        alpha: args.test.alpha,
        include_all: args.test.all,
        representatives: args.test.representatives,
        examples: args.test.examples,
        failure_threshold: args.read.failure_threshold,
        input: args.input.clone(),
    };
    let report = analyze(&data, embedder.as_ref(), &config, &args.output.progress())?;
    let bytes = exporter(args.output.format()).export(&report)?;
    emit(&bytes, args.output.output.as_deref())?;
    Ok(if args.fail_on_slice && report.num_significant > 0 {
        EXIT_GATE
    } else {
        EXIT_OK
    })
}
