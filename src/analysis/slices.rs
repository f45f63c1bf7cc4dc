//! Failure slices: embed prompts, cluster them, add metadata groups, test every candidate
//! against the rest of the rows, correct for multiple testing and describe what is significant.

use super::candidates::{self, TreePosition};
use super::outcome::OutcomeSummary;
use super::representatives::{distinct_prompts, nearest_to_centroid};
use super::scan;
use super::selection;
use crate::cluster::{ClusterMethod, ClusterParams, ClusteringInfo};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::input::{Dataset, OutcomeSource};
use crate::naming::llm::{self, Completer, LlmNaming, Material, NamingSummary, Subject};
use crate::naming::{KeywordNamer, SliceNamer};
use crate::progress::Progress;
use crate::stats::{self, TestKind};
use serde::Serialize;
use std::time::Instant;

/// Where a scan region and tree slices overlap, the region pays this many slice penalties: its
/// boundary was drawn around failing rows, so its Λ is optimistic against a tree node's, which
/// was fixed before the outcomes were seen. With 1, a region merging three distinct failing
/// topics beat the three topic nodes by 1.4 (support tickets, e5 embeddings).
const SCAN_HANDICAP: f64 = 2.0;

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
    /// The test of each tree node and `--group-by` value (`--test`).
    pub test: stats::SliceTest,
    /// Also search regions where failures gather among nearest neighbours (tree clusterings
    /// only; [`super::scan`]).
    pub scan: bool,
    pub representatives: usize,
    pub examples: usize,
    /// Recorded in `parameters` only.
    pub failure_threshold: f64,
    pub input: String,
    /// Where derived outcomes came from ([`super::outcome::derive`]); recorded in `parameters`.
    pub outcomes: Option<OutcomeSummary>,
}

impl Default for SlicesConfig {
    fn default() -> Self {
        SlicesConfig {
            cluster: ClusterParams::for_method(ClusterMethod::Tree),
            group_by: vec![],
            alpha: 0.05,
            include_all: false,
            split_penalty: selection::PENALTY,
            test: stats::SliceTest::Exact,
            scan: true,
            representatives: 5,
            examples: 3,
            failure_threshold: 0.5,
            input: String::new(),
            outcomes: None,
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
    /// Wall time per stage; kept out of the JSON so reports stay byte-identical across runs.
    #[serde(skip)]
    pub timings: StageTimings,
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
    /// `cluster`, `noise`, or the metadata field the slice comes from.
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
    let candidates::Found {
        mut candidates,
        info: clustering_info,
        noise_rows: num_noise,
        classes,
        neighbours,
    } = candidates::from_embeddings(
        &embeddings,
        &config.cluster,
        if config.scan { scan::NEIGHBOURS } else { 0 },
        progress,
    )?;
    timings.cluster = started.elapsed();
    let started = Instant::now();
    // Tree nodes come first (candidate i is node i).
    let nodes = candidates
        .iter()
        .take_while(|c| c.position.is_some())
        .count();
    candidates.extend(candidates::from_groups(
        &config.group_by,
        records.len(),
        |i, f| candidates::group_value(records[i].extra.get(f).and_then(Option::as_ref)),
        min_size,
    ));
    // The failure-scan regions come last, numbered after the tree's nodes.
    let fixed = candidates.len();
    // With the scan, the error budget is split: the scan's family-wise Monte Carlo test gets
    // scan::ALPHA_SHARE of alpha, Benjamini-Hochberg over the other candidates the rest, so the
    // false-discovery rate of the union stays at most alpha (docs/statistics.md).
    let (alpha_fixed, alpha_scan) = match &neighbours {
        Some(_) => (
            config.alpha * (1.0 - scan::ALPHA_SHARE),
            config.alpha * scan::ALPHA_SHARE,
        ),
        None => (config.alpha, 0.0),
    };
    let regions = neighbours.as_ref().map_or(vec![], |graph| {
        scan::regions(
            graph,
            scan::Outcomes::Failures(&failed),
            min_size,
            scan::PERMUTATIONS,
            config.cluster.seed,
        )
    });
    let region_p: Vec<f64> = regions.iter().map(|r| r.p_value).collect();
    candidates.extend(
        regions
            .into_iter()
            .enumerate()
            .map(|(i, r)| candidates::Candidate {
                source: "scan".into(),
                value: None,
                rows: r.rows,
                position: Some(TreePosition {
                    node: nodes + i,
                    parent: r.parent.map(|p| nodes + p),
                    children: r.children.iter().map(|c| nodes + c).collect(),
                    level: r.level,
                }),
            }),
    );

    let total = records.len();
    let total_failures = failed.iter().filter(|&&f| f).count();
    let baseline = total_failures as f64 / total as f64;

    let failures: Vec<usize> = candidates
        .iter()
        .map(|c| c.rows.iter().filter(|&&i| failed[i]).count())
        .collect();
    let mut tests: Vec<stats::EnrichmentTest> = candidates[..fixed]
        .iter()
        .zip(&failures)
        .map(|(c, &fails)| {
            stats::enrichment_test(
                config.test,
                fails as u64,
                c.rows.len() as u64,
                total_failures as u64,
                total as u64,
            )
        })
        .collect();
    let p_values: Vec<f64> = tests.iter().map(|t| t.p_value).collect();
    let mut adjusted = stats::benjamini_hochberg(&p_values);
    tests.extend(region_p.iter().map(|&p| stats::EnrichmentTest {
        p_value: p,
        test: TestKind::PermutationScan,
    }));
    adjusted.extend(&region_p);
    let significant: Vec<bool> = adjusted
        .iter()
        .enumerate()
        .map(|(c, &p)| p <= if c < fixed { alpha_fixed } else { alpha_scan })
        .collect();
    let llr: Vec<f64> = candidates
        .iter()
        .zip(&failures)
        .map(|(c, &fails)| selection::log_likelihood_ratio(fails, c.rows.len(), baseline))
        .collect();
    let num_significant = significant.iter().filter(|&&s| s).count();

    // Among the tree's nodes, and among the scan's regions, only the best antichain is
    // reported, and where the two overlap the side that explains the failures better. Other
    // candidates (flat clusters, noise, group-by values) are reported when significant.
    let penalty = config.split_penalty;
    let tree_chosen = antichain(&candidates, 0..nodes, &llr, &significant, penalty);
    let scan_chosen = antichain(
        &candidates,
        fixed..candidates.len(),
        &llr,
        &significant,
        penalty,
    );
    let mut selected = vec![false; candidates.len()];
    selected[nodes..fixed].copy_from_slice(&significant[nodes..fixed]);
    for c in selection::better_of_overlapping(
        &tree_chosen,
        &scan_chosen,
        |c| &candidates[c].rows[..],
        &llr,
        [penalty, SCAN_HANDICAP * penalty],
    ) {
        selected[c] = true;
    }
    // The reported tree nodes must pass the step-up rule again, with only reported slices
    // counted as discoveries (regions have their own family-wise test).
    let reported: Vec<usize> = (0..fixed).filter(|&c| selected[c]).collect();
    for c in selection::unconfirmed(&p_values, &reported, fixed, alpha_fixed, |c| c < nodes) {
        selected[c] = false;
    }
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

    timings.test_and_describe = started.elapsed();
    Ok(SliceReport {
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
            split_penalty: penalty,
            failure_threshold: config.failure_threshold,
            group_by: config.group_by.clone(),
            failure_scan: neighbours.is_some(),
            skipped_rows: data.skipped.len(),
            outcomes: config.outcomes.clone(),
        },
    })
}

/// The best antichain ([`selection::best_antichain`]) of the nested candidates `range`, whose
/// tree positions number them consecutively from the first one's node; candidate indices.
fn antichain(
    candidates: &[candidates::Candidate],
    range: std::ops::Range<usize>,
    llr: &[f64],
    significant: &[bool],
    penalty: f64,
) -> Vec<usize> {
    let Some(first) = candidates
        .get(range.start)
        .and_then(|c| c.position.as_ref())
    else {
        return Vec::new();
    };
    let base = first.node;
    let positions: Vec<&TreePosition> = candidates[range.clone()]
        .iter()
        .map(|c| {
            c.position
                .as_ref()
                .expect("nested candidates have positions")
        })
        .collect();
    let parents: Vec<Option<usize>> = positions
        .iter()
        .map(|p| p.parent.map(|v| v - base))
        .collect();
    let children: Vec<Vec<usize>> = positions
        .iter()
        .map(|p| p.children.iter().map(|v| v - base).collect())
        .collect();
    selection::best_antichain(
        &parents,
        &children,
        &llr[range.clone()],
        &significant[range.clone()],
        penalty,
    )
    .into_iter()
    .map(|v| range.start + v)
    .collect()
}

impl Slice {
    /// What the model is shown to name this slice.
    fn naming_material(&self) -> Material<'_> {
        let found = match (&self.source[..], &self.value) {
            ("cluster", _) => "a cluster of similar prompts".to_string(),
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
