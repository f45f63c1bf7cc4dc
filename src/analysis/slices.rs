//! Failure slices: embed prompts, cluster them, add metadata groups, test every candidate
//! against the rest of the rows, correct for multiple testing and describe what is significant.

use super::candidates::{self, TreePosition};
use super::discovery::{self, Discovery};
use super::outcome::OutcomeSummary;
use super::representatives::{distinct_prompts, nearest_to_centroid};
use super::selection;
use crate::cluster::{ClusterMethod, ClusterParams, ClusteringInfo, MapLayout};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::input::{Dataset, OutcomeSource};
use crate::naming::llm::{self, Completer, LlmNaming, Material, NamingSummary, Subject};
use crate::naming::{KeywordNamer, SliceNamer};
use crate::progress::Progress;
use crate::stats::{self, TestKind};
use serde::Serialize;
use std::time::Instant;

/// Everything the analysis needs besides the data and the embedder.
#[derive(Debug, Clone)]
pub struct SlicesConfig {
    pub cluster: ClusterParams,
    /// Dotted field paths; each value with at least `min_slice_size` rows is a candidate.
    /// They are read from `Record::extra` in this order.
    pub group_by: Vec<String>,
    /// False-discovery rate for Benjamini-Hochberg.
    pub alpha: f64,
    /// Report every candidate, not only the significant ones.
    pub include_all: bool,
    /// Log-likelihood a tree node's children must gain over it, per extra slice, to be
    /// reported instead of it ([`selection::PENALTY`] by default).
    pub split_penalty: f64,
    /// Also report reported slices that fail alike inside one failing region as one group
    /// ([`super::grouping`]).
    pub group_parts: bool,
    /// The test of each tree node and `--group-by` value (`--test`).
    pub test: stats::SliceTest,
    /// Also search regions where failures gather among nearest neighbours (tree clusterings
    /// only; [`super::scan`]).
    pub scan: bool,
    /// Test every candidate against this failure rate (one-sided binomial) instead of
    /// against the rest of the rows (`coverage` gaps: the rules' false-alarm budget); `None`
    /// for slices.
    pub null_rate: Option<f64>,
    pub representatives: usize,
    pub examples: usize,
    /// Recorded in `parameters` only.
    pub failure_threshold: f64,
    pub input: String,
    /// Where derived outcomes came from ([`super::outcome::derive`]); recorded in `parameters`.
    pub outcomes: Option<OutcomeSummary>,
    /// Also place every row on a 2-D map, by this method (`--coords`, `--format html`):
    /// [`SliceReport::coords`] and [`SliceReport::map_rows`].
    pub map: Option<MapLayout>,
}

impl Default for SlicesConfig {
    fn default() -> Self {
        SlicesConfig {
            cluster: ClusterParams::for_method(ClusterMethod::Tree),
            group_by: vec![],
            alpha: 0.05,
            include_all: false,
            split_penalty: selection::PENALTY,
            group_parts: true,
            test: stats::SliceTest::Exact,
            scan: true,
            null_rate: None,
            representatives: 5,
            examples: 3,
            failure_threshold: 0.5,
            input: String::new(),
            outcomes: None,
            map: None,
        }
    }
}

/// The report: field names follow the Python faultmap's where they overlap.
#[derive(Debug, Clone, Serialize)]
pub struct SliceReport {
    pub total_prompts: usize,
    pub total_failures: usize,
    pub baseline_failure_rate: f64,
    pub num_candidates: usize,
    pub num_significant: usize,
    /// Rows the clustering left as noise (tested together as one candidate).
    pub num_noise: usize,
    /// With `--name-with-llm`: the model and how many slices it named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_naming: Option<NamingSummary>,
    pub slices: Vec<Slice>,
    pub parameters: SliceParameters,
    /// With `--coords` (or for the HTML map): each data row's place on the 2-D map, indexed
    /// like `sample_indices` (`null` for a row `--skip-invalid` dropped), rounded to 4 decimals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coords: Option<Coords>,
    /// What the HTML map shows of each analysed row; kept out of the JSON (the input has it).
    #[serde(skip)]
    pub map_rows: Vec<MapRow>,
    /// Wall time per stage; kept out of the JSON so reports stay byte-identical across runs.
    #[serde(skip)]
    pub timings: StageTimings,
}

/// Each data row's `[x, y]` on the 2-D map; `None` for a skipped row.
pub type Coords = Vec<Option<[f64; 2]>>;

/// One analysed row as the HTML map draws it.
#[derive(Debug, Clone)]
pub struct MapRow {
    /// 0-based data row (as in `sample_indices`).
    pub row: usize,
    pub prompt: String,
    pub failed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct StageTimings {
    pub embed: std::time::Duration,
    pub cluster: std::time::Duration,
    pub test_and_describe: std::time::Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Slice {
    pub name: String,
    /// With `--name-with-llm`: the keyword name, description, root cause and fix.
    #[serde(flatten)]
    pub llm: LlmNaming,
    pub keywords: Vec<String>,
    /// `cluster`, `scan`, `group`, `noise`, or the metadata field the slice comes from.
    pub source: String,
    /// The field's value, for metadata slices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub significant: bool,
    /// Reported by default: a significant group-by value or flat cluster, or a tree node of
    /// the best explaining set (docs/statistics.md). `--all` also lists the others.
    pub selected: bool,
    /// The node's place in the candidate tree (tree nodes only).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreePosition>,
    pub size: usize,
    pub failures: usize,
    pub failure_rate: f64,
    /// 95% Wilson score interval of `failure_rate`.
    pub failure_rate_ci: [f64; 2],
    /// Failure rate of all rows.
    pub baseline_rate: f64,
    /// Failure rate of the rows outside the slice (what the test compares against).
    pub rest_failure_rate: f64,
    /// Rate ratio: `failure_rate / baseline_rate`.
    pub effect_size: f64,
    /// Failures above what the baseline rate predicts for the slice's size.
    pub excess_failures: f64,
    pub p_value: f64,
    pub adjusted_p_value: f64,
    /// One-sided Bernoulli log-likelihood ratio against the baseline rate (the scan statistic
    /// the selection maximizes).
    pub log_likelihood_ratio: f64,
    pub test_used: TestKind,
    /// 0-based data rows of the input, in input order.
    pub sample_indices: Vec<usize>,
    /// The rows' ids, when the input has them.
    pub ids: Vec<String>,
    /// Prompts nearest the slice's centroid.
    pub representative_prompts: Vec<String>,
    /// Failing rows nearest the centroid.
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub prompt: String,
    pub response: Option<String>,
    pub score: Option<f64>,
    pub failed: bool,
    /// Set when `score` was derived (reference similarity, sampling agreement), not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_source: Option<OutcomeSource>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SliceParameters {
    pub input: String,
    pub tool_version: String,
    pub embedder: String,
    pub embedding_dims: usize,
    pub clustering: ClusteringInfo,
    pub min_slice_size: usize,
    pub seed: u64,
    pub alpha: f64,
    /// The test of tree nodes and `--group-by` values: `exact` (Fisher) or `textbook`.
    pub test: stats::SliceTest,
    /// The penalty per reported slice that the selection used (`--split-penalty`).
    pub split_penalty: f64,
    pub failure_threshold: f64,
    pub group_by: Vec<String>,
    /// Whether the failure scan ran (a tree, and not `--no-scan`): then `alpha` is split, 0.9
    /// to Benjamini-Hochberg and 0.1 to the scan.
    pub failure_scan: bool,
    pub skipped_rows: usize,
    /// Rows per outcome source and how outcomes were derived; only when some row's outcome was
    /// derived or `--sample` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<OutcomeSummary>,
    /// How the map placed the rows; only when there is a map (`--coords`, `--format html`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_layout: Option<MapLayout>,
}

/// Runs the whole slice analysis over `data` (every record must carry an outcome).
pub fn analyze(
    data: &Dataset,
    embedder: &dyn Embedder,
    config: &SlicesConfig,
    progress: &Progress,
) -> Result<SliceReport> {
    let records = &data.records;
    let failed: Vec<bool> = records
        .iter()
        .map(|r| {
            r.failed.ok_or_else(|| {
                Error::input(
                    &data.source,
                    Some(r.line),
                    None,
                    "expected a score or a label to tell pass from fail",
                )
            })
        })
        .collect::<Result<_>>()?;
    let prompts: Vec<&str> = records.iter().map(|r| r.prompt.as_str()).collect();

    let mut timings = StageTimings::default();
    let started = Instant::now();
    let embeddings = embedder.embed(&prompts, progress)?;
    timings.embed = started.elapsed();
    let started = Instant::now();
    let min_size = config.cluster.min_cluster_size;
    let groups = candidates::from_groups(
        &config.group_by,
        records.len(),
        |i, f| candidates::group_value(records[i].extra.get(f).and_then(Option::as_ref)),
        min_size,
    );
    let Discovery {
        candidates,
        failures,
        tests,
        adjusted,
        significant,
        llr,
        selected,
        baseline,
        total_failures,
        clustering: clustering_info,
        classes,
        noise_rows: num_noise,
        scanned,
        clustering_time,
    } = discovery::discover(&embeddings, &failed, groups, config, progress)?;
    timings.cluster = clustering_time;
    // The rest (group-by values, tests, selection, descriptions) is test_and_describe.
    let started = started + clustering_time;
    let total = records.len();
    let num_significant = significant.iter().filter(|&&s| s).count();
    let kept: Vec<usize> = (0..candidates.len())
        .filter(|&c| config.include_all || selected[c])
        .collect();

    let namer = KeywordNamer {
        classes,
        ..KeywordNamer::default()
    };
    let kept_rows: Vec<&[usize]> = kept.iter().map(|&c| &candidates[c].rows[..]).collect();
    let names = namer.name_slices(&prompts, &kept_rows);

    let mut slices: Vec<Slice> = kept
        .iter()
        .zip(names)
        .map(|(&c, name)| {
            let cand = &candidates[c];
            let size = cand.rows.len();
            let fails = failures[c];
            let rate = fails as f64 / size as f64;
            let rest = total - size;
            let rest_rate = if rest == 0 {
                0.0
            } else {
                (total_failures - fails) as f64 / rest as f64
            };
            let (lo, hi) = stats::wilson_interval(fails as u64, size as u64, 0.95);
            let nearest = nearest_to_centroid(&embeddings, &cand.rows);
            let display = match (&cand.source[..], &cand.value) {
                ("noise", _) => format!("unclustered prompts: {}", name.name),
                (_, Some(value)) => format!("{} = {}", cand.source, value),
                _ => name.name,
            };
            Slice {
                name: display,
                llm: LlmNaming::default(),
                keywords: name.keywords,
                source: cand.source.clone(),
                value: cand.value.clone(),
                significant: significant[c],
                selected: selected[c],
                tree: cand.position.clone(),
                log_likelihood_ratio: llr[c],
                size,
                failures: fails,
                failure_rate: rate,
                failure_rate_ci: [lo, hi],
                baseline_rate: baseline,
                rest_failure_rate: rest_rate,
                effect_size: if baseline > 0.0 { rate / baseline } else { 0.0 },
                excess_failures: fails as f64 - size as f64 * baseline,
                p_value: tests[c].p_value,
                adjusted_p_value: adjusted[c],
                test_used: tests[c].test,
                sample_indices: cand.rows.iter().map(|&i| records[i].row).collect(),
                ids: cand
                    .rows
                    .iter()
                    .filter_map(|&i| records[i].id.clone())
                    .collect(),
                representative_prompts: distinct_prompts(
                    &prompts,
                    &nearest,
                    config.representatives,
                )
                .into_iter()
                .map(|i| prompts[i].to_string())
                .collect(),
                examples: nearest
                    .iter()
                    .filter(|&&i| failed[i])
                    .take(config.examples)
                    .map(|&i| example(data, i))
                    .collect(),
            }
        })
        .collect();
    slices.sort_by(|a, b| {
        b.excess_failures
            .total_cmp(&a.excess_failures)
            .then(a.adjusted_p_value.total_cmp(&b.adjusted_p_value))
            .then(a.sample_indices.first().cmp(&b.sample_indices.first()))
    });

    let (coords, map_rows) = if let Some(layout) = config.map {
        map(
            data,
            &embeddings,
            &failed,
            layout,
            config.cluster.seed,
            progress,
        )?
    } else {
        (None, Vec::new())
    };
    timings.test_and_describe = started.elapsed();
    Ok(SliceReport {
        coords,
        map_rows,
        timings,
        total_prompts: total,
        total_failures,
        baseline_failure_rate: baseline,
        num_candidates: candidates.len(),
        num_significant,
        num_noise,
        llm_naming: None,
        slices,
        parameters: SliceParameters {
            input: config.input.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            embedder: embedder.name(),
            embedding_dims: embeddings.cols(),
            clustering: clustering_info,
            min_slice_size: min_size,
            seed: config.cluster.seed,
            alpha: config.alpha,
            test: config.test,
            split_penalty: config.split_penalty,
            failure_threshold: config.failure_threshold,
            group_by: config.group_by.clone(),
            failure_scan: scanned,
            skipped_rows: data.skipped.len(),
            outcomes: config.outcomes.clone(),
            map_layout: config.map,
        },
    })
}

impl Slice {
    /// `source` for people: a group says how many reported slices it joins.
    pub fn source_label(&self) -> String {
        match (&self.source[..], &self.tree) {
            ("group", Some(t)) => format!("group of {}", t.parts.len()),
            _ => self.source.clone(),
        }
    }

    /// What the model is shown to name this slice.
    fn naming_material(&self) -> Material<'_> {
        let found = match (&self.source[..], &self.value) {
            ("cluster", _) => "a cluster of similar prompts".to_string(),
            ("scan", _) => "a region of similar prompts where failures gather".to_string(),
            ("group", _) => "neighbouring clusters of similar prompts that fail alike".to_string(),
            ("noise", _) => "the prompts that fit no cluster (a mixed group)".to_string(),
            (field, Some(value)) => format!("the rows whose {field} is {value}"),
            (field, None) => format!("the rows grouped by {field}"),
        };
        Material {
            keyword_name: &self.name,
            keywords: &self.keywords,
            facts: vec![
                format!(
                    "A failure slice: {} prompts, of which {} ({:.1}%) fail, against {:.1}% of all prompts.",
                    self.size,
                    self.failures,
                    100.0 * self.failure_rate,
                    100.0 * self.baseline_rate
                ),
                format!("Found as: {found}."),
            ],
            prompts: self.representative_prompts.iter().map(String::as_str).collect(),
            failures: self
                .examples
                .iter()
                .map(|e| (e.prompt.as_str(), e.response.as_deref()))
                .collect(),
        }
    }
}

impl SliceReport {
    /// With a candidate tree, how many slices are reported and how they were chosen (the
    /// significant count includes nested nodes); `None` for a flat clustering.
    pub fn selection_note(&self) -> Option<String> {
        self.parameters.clustering.method.is_tree().then(|| {
            let among = if self.parameters.failure_scan {
                "tree nodes and failure-scan regions"
            } else {
                "tree nodes"
            };
            format!(
                "{} reported: among nested significant {among}, those that best explain the failures (--all shows every candidate).",
                self.slices.iter().filter(|s| s.selected).count()
            )
        })
    }

    /// `--name-with-llm`: asks `completer` to name every reported slice (one call each, all
    /// at once). A slice whose call fails or whose answer is unusable keeps its keyword name.
    /// Errs only when the budget refuses the calls.
    pub fn name_with_llm(&mut self, completer: &dyn Completer, progress: &Progress) -> Result<()> {
        let materials: Vec<Material> = self.slices.iter().map(Slice::naming_material).collect();
        let outcomes = llm::name_all(completer, Subject::FailureSlice, &materials, progress)?;
        let items = self.slices.iter_mut().map(|s| (&mut s.name, &mut s.llm));
        self.llm_naming = Some(llm::apply(items, outcomes, completer.model()));
        Ok(())
    }
}

/// The rows' 2-D coordinates by data row, and the rows drawn.
fn map(
    data: &Dataset,
    embeddings: &crate::matrix::Matrix,
    failed: &[bool],
    layout: MapLayout,
    seed: u64,
    progress: &Progress,
) -> Result<(Option<Coords>, Vec<MapRow>)> {
    let points = crate::cluster::map_2d_with(embeddings, layout, seed, progress)?;
    let rows = data
        .records
        .iter()
        .zip(failed)
        .map(|(r, &f)| MapRow {
            row: r.row,
            prompt: r.prompt.clone(),
            failed: f,
        })
        .collect();
    Ok((Some(coords_by_row(&data.records, &points)), rows))
}

/// A map point rounded to 4 decimals (so the JSON stays short and the HTML byte-identical
/// across platforms whose last float bits differ), as f64: the JSON writes f64s, and an f32
/// widened would print as 0.07660000026226044.
pub(crate) fn round_point(p: [f32; 2]) -> [f64; 2] {
    let round = |x: f32| (x as f64 * 1e4).round() / 1e4;
    [round(p[0]), round(p[1])]
}

/// Each record's point (in record order) placed at its data row; `None` for the rows between
/// (skipped as invalid).
pub(crate) fn coords_by_row(records: &[crate::input::Record], points: &[[f32; 2]]) -> Coords {
    let width = records.iter().map(|r| r.row + 1).max().unwrap_or(0);
    let mut coords = vec![None; width];
    for (r, &p) in records.iter().zip(points) {
        coords[r.row] = Some(round_point(p));
    }
    coords
}

fn example(data: &Dataset, i: usize) -> Example {
    let r = &data.records[i];
    Example {
        index: r.row,
        id: r.id.clone(),
        prompt: r.prompt.clone(),
        response: r.response.clone(),
        score: r.score,
        failed: r.failed.unwrap_or(false),
        outcome_source: r.outcome_source.filter(|s| s.is_derived()),
    }
}
