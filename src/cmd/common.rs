//! Argument groups every subcommand shares, and the glue between them and the library.

pub use super::input_args::{check_named_fields, ReadArgs};
use crate::api::ApiArgs;
use crate::cluster::{ClusterMethod, ClusterParams};
use crate::embed::{
    api::ApiEmbedder, combined::CombinedEmbedder, hashing::HashingEmbedder,
    precomputed::PrecomputedEmbedder, static_model::StaticEmbedder, Embedder,
};
use crate::error::{Error, Result};
use crate::export::Format;
use crate::input::{Dataset, ReadOptions};
use crate::progress::Progress;
use clap::{Args, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Parses a number in the interval from `low` to `high`; each end is open or closed.
fn fraction(s: &str, low_open: bool, high_open: bool) -> std::result::Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    let above_low = if low_open { x > 0.0 } else { x >= 0.0 };
    let below_high = if high_open { x < 1.0 } else { x <= 1.0 };
    if above_low && below_high {
        Ok(x)
    } else {
        let (l, h) = (
            if low_open { '(' } else { '[' },
            if high_open { ')' } else { ']' },
        );
        Err(format!("{x} is outside {l}0, 1{h}"))
    }
}

/// A number in [0, 1].
pub fn unit_interval(s: &str) -> std::result::Result<f64, String> {
    fraction(s, false, false)
}

/// A probability strictly between 0 and 1.
pub fn open_unit_interval(s: &str) -> std::result::Result<f64, String> {
    fraction(s, true, true)
}

/// A count of things shown per slice, gap or topic (representative prompts, examples): at
/// most [`MAX_SHOWN`]. Larger values would only allocate (a billion asked for gigabytes).
pub fn shown_count(s: &str) -> std::result::Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number from 0 to {MAX_SHOWN}, found `{s}`"))?;
    if n > MAX_SHOWN {
        return Err(format!("at most {MAX_SHOWN} (found {n})"));
    }
    Ok(n)
}

/// The most representative prompts or examples one slice, gap or topic can show.
pub const MAX_SHOWN: usize = 1000;

/// A whole number from `MIN` to `MAX`, refused in words ("must be at least 2") rather than
/// as a Rust range ("0 is not in 2..18446744073709551615").
pub fn whole<const MIN: u64, const MAX: u64>(s: &str) -> std::result::Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number, found `{s}`"))?;
    if (MIN..=MAX).contains(&n) {
        Ok(n)
    } else if MAX == u64::MAX {
        Err(format!("must be at least {MIN}"))
    } else {
        Err(format!("must be from {MIN} to {MAX}"))
    }
}

/// A share of the rows: above 0, at most 1.
pub fn share(s: &str) -> std::result::Result<f64, String> {
    fraction(s, true, false)
}

/// How the report is written.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format [default: from the --output extension (.json, .jsonl, .md, .txt, .html); else
    /// table on a terminal, otherwise json (score: jsonl)]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No progress bars, no warnings.
    #[arg(long, short)]
    pub quiet: bool,
    /// Verdicts in colour in table output (REGRESSION, REJECT, significant slices): `auto`
    /// on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl OutputArgs {
    /// `--format`, or by default `table` on a terminal and `json` otherwise.
    pub fn format(&self) -> Format {
        self.format_or(Format::Json)
    }

    /// `--format`; else the `--output` file's extension (`.json`, `.jsonl`/`.ndjson`,
    /// `.md`/`.markdown`, `.txt` for the table, `.html`/`.htm`); else `table` on a terminal and `piped`
    /// otherwise. An extension that names no format gets `piped`, with a warning.
    pub fn format_or(&self, piped: Format) -> Format {
        if let Some(format) = self.format {
            return format;
        }
        let Some(path) = &self.output else {
            return if std::io::stdout().is_terminal() {
                Format::Table
            } else {
                piped
            };
        };
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("json") => Format::Json,
            Some("jsonl" | "ndjson") => Format::Jsonl,
            Some("md" | "markdown") => Format::Markdown,
            Some("txt") => Format::Table,
            Some("html" | "htm") => Format::Html,
            None => piped,
            Some(other) => {
                self.warn(&format!(
                    "{}: no report format is known by `.{}`; writing {} (choose one with --format)",
                    crate::export::escape::terminal(&path.display().to_string()),
                    crate::export::escape::terminal(other),
                    clap::ValueEnum::to_possible_value(&piped)
                        .expect("every format has a name")
                        .get_name()
                ));
                piped
            }
        }
    }

    /// Whether table output is coloured: `--color always`, or `auto` with the report going to
    /// a terminal, NO_COLOR unset or empty (no-color.org) and TERM not `dumb`.
    pub fn color(&self) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                self.output.is_none()
                    && std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }

    pub fn progress(&self) -> Progress {
        Progress::new(self.quiet)
    }

    /// Prints a warning on stderr unless `--quiet`.
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            crate::diag!("warning: {message}");
        }
    }
}

/// Says on stderr which gate tripped and why, before the command exits 1. Always shown, even
/// with --quiet: a CI log must say why the job failed. Names in it come from the data, so the
/// line is escaped.
pub fn report_gate(message: &str) {
    crate::diag!("gate: {}", crate::export::escape::terminal(message));
}

/// Reads the dataset and reports skipped rows and reader warnings on stderr.
pub fn read_input(path: &str, options: &ReadOptions, output: &OutputArgs) -> Result<Dataset> {
    let spinner = output.progress().spinner(&format!("reading {path}"));
    let data = crate::input::read_dataset(path, options)?;
    spinner.finish_and_clear();
    for warning in &data.warnings {
        output.warn(warning);
    }
    if !data.skipped.is_empty() {
        // Always shown, even with --quiet: rows were dropped from the analysis.
        crate::diag!(
            "{}: {}",
            data.source,
            crate::input::summarize_skipped(&data.skipped)
        );
    }
    Ok(data)
}

/// Which embedder turns prompts into vectors (`--embedder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderArg {
    /// Precomputed embeddings when every row has one, else [`AUTO_EMBEDDER`].
    Auto,
    /// Built-in offline embedder: hashed word and character n-grams, TF-IDF, truncated SVD.
    Hash,
    /// The static embedding model built into the binary.
    Static,
    /// A model2vec directory (`static:DIR`).
    StaticDir(PathBuf),
    /// `hash` and `static` side by side, similarities averaged (weighted 0.3 / 0.7 in
    /// `coverage`, [`EmbedFor`]; the default: best on both MMLU-Pro slices and CLINC150
    /// coverage, docs/benchmarks.md).
    HashStatic,
    /// The rows' `embedding` field (an error if a row lacks one).
    Precomputed,
    /// An OpenAI-compatible embeddings server (`--api-base`, `--embedding-model`).
    Api,
}

/// What `--embedder auto` uses when the rows carry no embeddings: the one place to change the
/// default (and the `auto` line of [`EmbedderParser`]'s help).
pub const AUTO_EMBEDDER: EmbedderArg = EmbedderArg::HashStatic;

impl EmbedderArg {
    /// The choices and their one-line help, as `--help` lists them.
    const CHOICES: [(&'static str, &'static str); 7] = [
        (
            "auto",
            "Precomputed embeddings when every row has one, else `hash+static`",
        ),
        (
            "hash",
            "Built-in offline embedder: hashed word and character n-grams, TF-IDF, truncated SVD",
        ),
        (
            "static",
            "Built-in static embedding model (distilled from all-MiniLM-L6-v2): semantic, offline",
        ),
        (
            "hash+static",
            "Both side by side, similarities averaged (coverage: 0.3 hash, 0.7 static): topical words and paraphrases",
        ),
        (
            "static:DIR",
            "A model2vec directory (config.json, tokenizer.json, model.safetensors)",
        ),
        (
            "precomputed",
            "The rows' `embedding` field (an error if a row lacks one)",
        ),
        (
            "api",
            "An OpenAI-compatible server's /embeddings (--api-base, --embedding-model; key from FAULTMAP_API_KEY)",
        ),
    ];

    /// Parses `auto`, `hash`, `static`, `static:DIR`, `precomputed` or `api`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "auto" => EmbedderArg::Auto,
            "hash" => EmbedderArg::Hash,
"static" => EmbedderArg::Static,
            "hash+static" => EmbedderArg::HashStatic,
            "precomputed" => EmbedderArg::Precomputed,
            "api" => EmbedderArg::Api,
            _ => match s.strip_prefix("static:") {
                Some("") => {
                    return Err("`static:` needs a directory: static:DIR (a model2vec directory)".into())
                }
                Some(dir) => EmbedderArg::StaticDir(PathBuf::from(dir)),
                None => {
                    return Err(format!(
                        "`{s}` is not an embedder; expected auto, hash, static, hash+static, static:DIR, precomputed or api"
                    ))
                }
            },
        })
    }
}

/// clap parser for [`EmbedderArg`]: `static:DIR` carries a value, so it is not a `ValueEnum`,
/// but `--help` still lists the choices.
#[derive(Debug, Clone, Copy)]
pub struct EmbedderParser;

impl clap::builder::TypedValueParser for EmbedderParser {
    type Value = EmbedderArg;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<EmbedderArg, clap::Error> {
        let name = arg.map_or("--embedder".to_string(), |a| a.to_string());
        let message = match value.to_str() {
            Some(s) => match EmbedderArg::parse(s) {
                Ok(e) => return Ok(e),
                Err(m) => m,
            },
            None => "expected UTF-8 text".to_string(),
        };
        Err(clap::Error::raw(
            clap::error::ErrorKind::InvalidValue,
            format!("invalid value for {name}: {message}\n"),
        )
        .with_cmd(cmd))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(EmbedderArg::CHOICES.iter().map(|(name, help)| {
            clap::builder::PossibleValue::new(*name).help(*help)
        })))
    }
}

/// What the prompts are embedded for: how the built-in static model is set up.
///
/// `coverage` compares distances to the nearest tests. It centers the static model's rows on
/// the corpus ([`StaticEmbedder::centered_on_corpus`]: their common direction shrinks every
/// distance toward it) and weighs `hash+static` 0.3 / 0.7 toward the static model. Each was
/// chosen on planted-gap development seeds and held on others: gap recall and false alarms both
/// better (docs/benchmarks.md, "Centering the static model's rows" and "The weight of the two
/// embedders in coverage"). `slices` and `regress` keep plain rows at 0.5 / 0.5: centering there
/// recovered as many planted groups and ranked MMLU-Pro slices worse. Answers are embedded as
/// for slices: their match threshold is calibrated on plain cosines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedFor {
    Slices,
    Coverage,
}

impl EmbedFor {
    /// Weight of the `hash` similarity in `hash+static`.
    fn hash_weight(self) -> f32 {
        match self {
            EmbedFor::Slices => 0.5,
            EmbedFor::Coverage => 0.3,
        }
    }
}

/// How prompts are embedded.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Embedding")]
pub struct EmbedArgs {
    #[arg(long, default_value = "auto", value_parser = EmbedderParser)]
    pub embedder: EmbedderArg,
    /// Dimensions of the `hash` embedder's output (a static model has its own).
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = whole::<2, 4096>)]
    pub dims: u64,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub embedding_api: crate::api::EmbeddingApiArgs,
}

impl EmbedArgs {
    /// One embedder for the prompts of all `data` sets, in order (coverage embeds tests and
    /// production together). `embedding_field` is only used to name the field in errors.
    /// `quiet` silences the API budget line.
    pub fn build(
        &self,
        data: &[&Dataset],
        embedding_field: &str,
        seed: u64,
        quiet: bool,
        purpose: EmbedFor,
    ) -> Result<Box<dyn Embedder>> {
        let precomputed = || -> Result<Box<dyn Embedder>> {
            let mut vectors = Vec::new();
            let mut dims: Option<(usize, &str)> = None;
            for set in data {
                for r in &set.records {
                    let bad = |message: String| {
                        Error::input(&set.source, Some(r.line), Some(embedding_field), message)
                    };
                    let v = r.embedding.as_ref().ok_or_else(|| {
                        bad("expected an embedding on every row with --embedder precomputed".into())
                    })?;
                    if v.iter().all(|&x| x == 0.0) {
                        return Err(bad(
                            "expected a non-zero vector: an all-zero embedding has no direction"
                                .into(),
                        ));
                    }
                    match dims {
                        Some((d, first)) if d != v.len() => {
                            return Err(bad(format!(
                                "expected an embedding of dimension {d} (as in {first}), found {} numbers",
                                v.len()
                            )))
                        }
                        None => dims = Some((v.len(), &set.source)),
                        _ => {}
                    }
                    vectors.push(v.clone());
                }
            }
            Ok(Box::new(PrecomputedEmbedder::new(vectors)?))
        };
        let with_embeddings = data.iter().filter(|d| d.has_embeddings()).count();
        if self.embedder != EmbedderArg::Api && self.embedding_api.embedding_model.is_some() {
            return Err(Error::Usage(
                "--embedding-model applies to --embedder api".into(),
            ));
        }
        match &self.embedder {
            EmbedderArg::Api => {
                let model = self.embedding_api.embedding_model.clone().ok_or_else(|| {
                    Error::Usage(
                        "--embedder api needs --embedding-model NAME (the server's model name)"
                            .into(),
                    )
                })?;
                Ok(Box::new(ApiEmbedder::new(
                    self.embedding_api.config(&self.api, quiet)?,
                    model,
                )))
            }
            EmbedderArg::Precomputed => precomputed(),
            EmbedderArg::Auto if with_embeddings == data.len() => precomputed(),
            EmbedderArg::Auto if with_embeddings > 0 => Err(Error::Usage(format!(
                "{} carries embeddings but {} does not; both sets must be in one space, so give --embedder hash or static to embed the prompts of both",
                data.iter().find(|d| d.has_embeddings()).map_or("", |d| &d.source),
                data.iter().find(|d| !d.has_embeddings()).map_or("", |d| &d.source),
            ))),
            EmbedderArg::Auto => self.text_embedder(&AUTO_EMBEDDER, seed, purpose),
            choice => self.text_embedder(choice, seed, purpose),
        }
    }

    /// The embedder of answer texts (responses, references, samples) when the prompts' one
    /// cannot embed them: with precomputed prompt vectors, [`AUTO_EMBEDDER`]. `None`: reuse the
    /// prompts' embedder (`slices` and `regress` embed for slices: plain cosines).
    pub fn answer_embedder(&self, data: &Dataset, seed: u64) -> Result<Option<Box<dyn Embedder>>> {
        let precomputed = self.embedder == EmbedderArg::Precomputed
            || (self.embedder == EmbedderArg::Auto && data.has_embeddings());
        if precomputed {
            self.text_embedder(&AUTO_EMBEDDER, seed, EmbedFor::Slices)
                .map(Some)
        } else {
            Ok(None)
        }
    }

    /// An embedder that embeds the texts themselves (`hash`, `static`, `static:DIR`).
    fn text_embedder(
        &self,
        choice: &EmbedderArg,
        seed: u64,
        purpose: EmbedFor,
    ) -> Result<Box<dyn Embedder>> {
        let static_model = |model: StaticEmbedder| match purpose {
            EmbedFor::Coverage => model.centered_on_corpus(),
            EmbedFor::Slices => model,
        };
        Ok(match choice {
            EmbedderArg::Static => Box::new(static_model(StaticEmbedder::builtin()?)),
            EmbedderArg::StaticDir(dir) => Box::new(static_model(StaticEmbedder::from_dir(dir)?)),
            EmbedderArg::HashStatic => Box::new(CombinedEmbedder {
                first: self.hashing(seed),
                second: Box::new(static_model(StaticEmbedder::builtin()?)),
                weight: purpose.hash_weight(),
            }),
            _ => self.hashing(seed),
        })
    }

    fn hashing(&self, seed: u64) -> Box<dyn Embedder> {
        Box::new(HashingEmbedder::new(crate::embed::hashing::HashingConfig {
            dims: self.dims as usize,
            seed,
            ..Default::default()
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusteringArg {
    /// Nested candidates at every scale (Ward dendrogram); coverage: for gaps (topics use
    /// HDBSCAN).
    Tree,
    /// Nested candidates at every scale (Leiden communities of a neighbour graph); coverage:
    /// for gaps (topics use HDBSCAN).
    Graph,
    /// Density-based, finds the number of clusters itself and leaves outliers as noise.
    Hdbscan,
    /// Ward linkage; k chosen by silhouette unless --k is given.
    Agglomerative,
    /// k-means (needs --k).
    Kmeans,
}

/// How prompts are clustered (slices, coverage gaps and topics).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Clustering")]
pub struct ClusteringArgs {
    /// How candidate groups are built [default: tree for slices and coverage gaps; hdbscan for
    /// regress and coverage topics]
    #[arg(long, value_enum)]
    pub clustering: Option<ClusteringArg>,
    /// Number of clusters (k-means: required; agglomerative: skips the silhouette search).
    #[arg(long, value_name = "N", value_parser = whole::<2, 100_000>)]
    pub k: Option<u64>,
    /// Above this many rows the clustering is fitted on a seeded sample of this size and the
    /// other rows are assigned to the nearest cluster (or noise) [default: 5000 for tree and
    /// graph, 6000 otherwise]
    #[arg(long, value_name = "N", value_parser = whole::<100, { u64::MAX }>)]
    pub max_fit_rows: Option<u64>,
    /// Dimensions the embeddings are reduced to (PCA) before clustering [default: 128 for tree
    /// and graph (at most one per 20 rows), 16 otherwise]
    #[arg(long, value_name = "N", value_parser = whole::<2, 4096>)]
    pub cluster_dims: Option<u64>,
    /// HDBSCAN: clusters larger than this share of the rows are split into their sub-clusters
    /// (1 disables the cap). Coverage: applies to gaps; topics may hold up to half.
    #[arg(long, alias = "max-slice-share", default_value_t = 0.1, value_name = "X", value_parser = share)]
    pub max_cluster_share: f64,
    /// Seed for every random choice; same input and seed give byte-identical JSON.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl ClusteringArgs {
    /// The clustering parameters with clusters of at least `min_cluster_size` rows; `default`
    /// is the method when `--clustering` is not given.
    pub fn params(&self, min_cluster_size: usize, default: ClusterMethod) -> Result<ClusterParams> {
        let method = match self.clustering {
            None => default,
            Some(ClusteringArg::Tree) => ClusterMethod::Tree,
            Some(ClusteringArg::Graph) => ClusterMethod::Graph,
            Some(ClusteringArg::Hdbscan) => ClusterMethod::Hdbscan,
            Some(ClusteringArg::Agglomerative) => ClusterMethod::Agglomerative,
            Some(ClusteringArg::Kmeans) => ClusterMethod::Kmeans,
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
        if method.is_tree() && self.k.is_some() {
            return Err(Error::Usage(
                "--k applies to --clustering kmeans or agglomerative; the candidate tree has every scale (give --clustering agglomerative --k N for one flat partition)".into(),
            ));
        }
        let defaults = ClusterParams::for_method(method);
        Ok(ClusterParams {
            min_cluster_size,
            k: self.k.map(|k| k as usize),
            seed: self.seed,
            max_fit_rows: self
                .max_fit_rows
                .map_or(defaults.max_fit_rows, |r| r as usize),
            reduced_dims: self
                .cluster_dims
                .map_or(defaults.reduced_dims, |d| d as usize),
            max_cluster_share: self.max_cluster_share,
            ..defaults
        })
    }
}

/// `--map-layout`: how a map (the HTML page's, and `--coords`) places the prompts.
#[derive(clap::Args, Debug, Clone)]
pub struct MapArgs {
    /// How the map of the HTML report and of --coords places the prompts: umap (a layout of
    /// the nearest-neighbour graph that keeps topics apart) or pca (the first two principal
    /// components: faster, topics overlap).
    #[arg(long, value_enum, default_value = "umap", value_name = "METHOD")]
    pub map_layout: crate::cluster::MapLayout,
}
