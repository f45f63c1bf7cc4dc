//! Test coverage: which production prompts have no nearby test prompt, grouped into named gaps,
//! and which production topics get far fewer tests than their share of traffic.
//!
//! 1. Tests and production are embedded in one call (one fitted space for both).
//! 2. Each production prompt's nearest test, and each test's nearest production prompt, by
//!    exact blocked products ([`crate::neighbours`]).
//! 3. The distance rule (each prompt's nearest-test distance averaged over its nearest
//!    production prompts, calibrated on the tests scored alike) and the neighbour rule flag
//!    prompts ([`rules`]).
//! 4. Gaps: the candidate-tree nodes where flagged prompts gather significantly and are the
//!    majority, searched as failure slices are ([`super::discovery`]); or, with a flat
//!    clustering, clusters of the flagged prompts. A prompt is uncovered when it is beyond the
//!    distance threshold or in a gap ([`Uncovered::confirm`]); uncovered prompts in no gap are
//!    listed as unclustered.
//! 5. Production is clustered into topics and each topic's test count is compared with its
//!    traffic share ([`regions`]).

pub mod map;
mod naming;
pub mod regions;
pub mod rules;

use super::candidates::Candidate;
use super::discovery;
use super::representatives::{distinct_prompts, nearest_to_centroid};
use super::selection;
use super::slices::SlicesConfig;
use crate::cluster::{self, ClusterParams, ClusteringInfo};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::input::Dataset;
use crate::matrix::Matrix;
use crate::naming::llm::{LlmNaming, NamingSummary};
use crate::naming::{KeywordNamer, SliceNamer};
use crate::neighbours::{self, Nearest};
use crate::progress::Progress;
use regions::{Allocation, ThinCoverageRule};
use rules::{NeighbourRule, ThresholdSource};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Similarity at or above which two test prompts count as copies when calibrating.
const DUPLICATE_SIMILARITY: f32 = 0.9999;

/// Everything the analysis needs besides the data and the embedder.
#[derive(Debug, Clone)]
pub struct CoverageConfig {
    /// Clustering of the uncovered prompts; `min_cluster_size` is the minimum gap size.
    pub gap_clustering: ClusterParams,
    /// Clustering of all production prompts into topics for thin coverage.
    pub topic_clustering: ClusterParams,
    /// Fixed cosine-distance threshold; `None` calibrates it on the tests.
    pub distance_threshold: Option<f64>,
    /// Share of covered traffic the rules may call uncovered (split between the two rules when
    /// both run).
    pub alpha: f64,
    /// Run the neighbour rule.
    pub neighbour_rule: bool,
    /// The neighbour rule and the smoothing draw neighbours from at most this many distinct
    /// production prompts.
    pub max_reference_prompts: usize,
    /// The distance rule averages the nearest-test distance over this many prompts: the prompt
    /// and its nearest production prompts ([`rules`]). 1 is the plain nearest-test distance.
    pub smoothing: usize,
    /// Thin coverage: smallest density ratio reported, and the FDR of its test.
    pub thin_ratio: f64,
    pub thin_alpha: f64,
    pub representatives: usize,
    /// Recorded in `parameters` only.
    pub tests_input: String,
    pub production_input: String,
    pub weight_field: Option<String>,
    /// Also place tests and production on one 2-D map, by this method (`--coords`,
    /// `--format html`): [`CoverageReport::coords`] and [`CoverageReport::map`].
    pub map: Option<crate::cluster::MapLayout>,
}

/// The distance rule's share of `alpha` when both rules run; the neighbour rule gets the rest.
/// The distance rule's flags are verdicts wherever they fall, while the neighbour rule's count
/// only inside a gap ([`Uncovered::confirm`]), so an even split spends more than `alpha` on
/// covered traffic when tests and traffic are not spread alike. Chosen on the development
/// seeds of the planted-gap benchmark as the largest gap recall with at most 4.5% false alarms
/// (docs/benchmarks.md, "Splitting alpha between the rules").
pub const DISTANCE_RULE_SHARE: f64 = 0.3;

impl CoverageConfig {
    /// The distance rule's share of `alpha`: all of it when it runs alone.
    pub fn distance_alpha(&self) -> f64 {
        if self.neighbour_rule {
            self.alpha * DISTANCE_RULE_SHARE
        } else {
            self.alpha
        }
    }

    /// The neighbour rule's share of `alpha`.
    pub fn neighbour_alpha(&self) -> f64 {
        self.alpha * (1.0 - DISTANCE_RULE_SHARE)
    }
}

impl Default for CoverageConfig {
    fn default() -> Self {
        CoverageConfig {
            gap_clustering: ClusterParams {
                min_cluster_size: 10,
                ..ClusterParams::for_method(cluster::ClusterMethod::Tree)
            },
            topic_clustering: ClusterParams::default(),
            distance_threshold: None,
            alpha: 0.05,
            neighbour_rule: true,
            max_reference_prompts: 10_000,
            smoothing: 10,
            thin_ratio: 3.0,
            thin_alpha: 0.05,
            representatives: 5,
            tests_input: String::new(),
            production_input: String::new(),
            weight_field: None,
            map: None,
        }
    }
}

/// Why a production prompt counts as uncovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UncoveredReason {
    /// Its distance to its nearest test, averaged over its nearest production prompts (see
    /// `--smooth-over`), is beyond the distance threshold.
    Distance,
    /// Its nearest neighbours are all production prompts (see [`rules`]), and it lies in a gap.
    Neighbours,
    /// Neither rule flagged it, but it lies in a gap: most prompts of its region are
    /// uncovered, so its topic has no tests even if one test sits near it.
    Gap,
}

/// The report. Field names follow the Python faultmap's where they overlap.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageReport {
    /// Share of production traffic (weighted when a weight field is given) that is covered.
    pub overall_coverage_score: f64,
    pub num_tests: usize,
    pub num_production: usize,
    /// Sum of production weights (the row count without a weight field).
    pub total_traffic: f64,
    /// What the distance rule compares with each prompt's `smoothed_distance`.
    pub distance_threshold: f64,
    /// The threshold of the plain nearest-test distance (the conformal quantile of the tests'
    /// own spacing; `distance_threshold` without smoothing): within it a test counts as near a
    /// production prompt (`num_tests_without_traffic`, the thin topics' test counts).
    pub nearest_distance_threshold: f64,
    pub num_uncovered_total: usize,
    pub uncovered_traffic_share: f64,
    /// Uncovered by each rule (a prompt counts under the distance rule first).
    pub num_uncovered_by_distance: usize,
    pub num_uncovered_by_neighbours: usize,
    /// In a gap but flagged by neither rule.
    pub num_uncovered_by_gap: usize,
    pub num_gaps: usize,
    /// With `--name-with-llm`: the model and how many gaps it named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_naming: Option<NamingSummary>,
    pub gaps: Vec<Gap>,
    /// Uncovered prompts in no gap: those beyond the distance threshold (0-based rows of the
    /// production file).
    pub unclustered_prompt_indices: Vec<usize>,
    pub num_thin_topics: usize,
    pub thin_topics: Vec<ThinTopic>,
    /// Tests whose nearest production prompt is farther than `nearest_distance_threshold`:
    /// nobody asks anything like them.
    pub num_tests_without_traffic: usize,
    pub parameters: CoverageParameters,
    /// With `--coords` (or for the HTML map): each test's and production prompt's place on
    /// one 2-D map of both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coords: Option<map::CoverageCoords>,
    /// One entry per production prompt, in input order: for JSONL output, not the JSON report.
    #[serde(skip)]
    pub prompts: Vec<PromptCoverage>,
    /// What the HTML map draws (empty unless asked); the inputs have it, so not in the JSON.
    #[serde(skip)]
    pub map: map::CoverageMap,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub name: String,
    /// With `--name-with-llm`: the keyword name and a description.
    #[serde(flatten)]
    pub llm: LlmNaming,
    pub keywords: Vec<String>,
    pub size: usize,
    /// Share of all production traffic in this gap.
    pub traffic_share: f64,
    /// Mean cosine distance of its prompts to their nearest test.
    pub mean_distance: f64,
    pub representative_prompts: Vec<String>,
    /// Production rows of the representative prompts, same order.
    pub representative_indices: Vec<usize>,
    /// 0-based rows of the production file, in input order.
    pub prompt_indices: Vec<usize>,
    /// The prompts' ids, when the production file has them.
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThinTopic {
    pub name: String,
    pub keywords: Vec<String>,
    pub size: usize,
    pub traffic_share: f64,
    /// Tests placed in this topic, and its share of all tests.
    pub tests: usize,
    pub test_share: f64,
    /// Tests under proportional allocation: traffic share × number of tests.
    pub expected_tests: f64,
    /// traffic share / smoothed test share.
    pub density_ratio: f64,
    pub p_value: f64,
    pub adjusted_p_value: f64,
    /// Share of the topic's prompts that are uncovered.
    pub uncovered_share: f64,
    pub representative_prompts: Vec<String>,
    pub prompt_indices: Vec<usize>,
}

/// One production prompt's coverage.
#[derive(Debug, Clone, Serialize)]
pub struct PromptCoverage {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// 0-based row of the nearest test in the tests file.
    pub nearest_test_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_test_id: Option<String>,
    pub distance: f64,
    /// What the distance rule compared with the threshold: `distance` averaged over the
    /// prompt's nearest production prompts (`distance` itself without smoothing, or within
    /// the neighbour rule's floor).
    pub smoothed_distance: f64,
    pub uncovered: bool,
    pub reason: Option<UncoveredReason>,
    /// Index into `gaps` of the gap it belongs to.
    pub gap: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageParameters {
    pub tests: String,
    pub production: String,
    pub tool_version: String,
    pub embedder: String,
    pub embedding_dims: usize,
    pub alpha: f64,
    pub threshold: ThresholdSource,
    /// `None` when switched off or when there are too few tests for it to have power.
    pub neighbour_rule: Option<NeighbourRule>,
    pub min_gap_size: usize,
    pub gap_clustering: ClusteringInfo,
    pub topic_clustering: ClusteringInfo,
    pub thin_coverage: ThinCoverageRule,
    pub weight_field: Option<String>,
    pub seed: u64,
    pub skipped_test_rows: usize,
    pub skipped_production_rows: usize,
    /// How the map placed the prompts; only when there is a map (`--coords`, `--format html`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_layout: Option<crate::cluster::MapLayout>,
}

/// Runs the coverage analysis. `weights` has one traffic weight per production record (all 1
/// without a weight field).
///
/// The stages run in order and are public so that they can be timed one by one
/// (`benches/coverage_bench.rs`): [`embed`], [`nearest_tests`], [`reference_sample`],
/// [`calibrate_threshold`], [`uncovered`], [`find_gaps`], [`find_thin_topics`].
pub fn analyze(
    tests: &Dataset,
    production: &Dataset,
    weights: &[f64],
    embedder: &dyn Embedder,
    config: &CoverageConfig,
    progress: &Progress,
) -> Result<CoverageReport> {
    let embedded = embed(tests, production, weights, embedder, config, progress)?;
    let nearest = nearest_tests(&embedded, progress);
    let references = reference_sample(&embedded, config);
    let threshold = calibrate_threshold(&embedded, &nearest, &references, config, progress)?;
    let uncovered = uncovered(
        &embedded,
        &nearest,
        &references,
        &threshold,
        config,
        progress,
    );
    let gaps = find_gaps(&embedded, &nearest, &uncovered, config, progress)?;
    let uncovered = uncovered.confirm(&gaps);
    let thin = find_thin_topics(
        &embedded,
        &nearest,
        &threshold,
        &uncovered.reasons,
        &gaps,
        config,
        progress,
    )?;
    let mut report = report(
        &embedded, &nearest, threshold, uncovered, gaps, thin, embedder, config,
    );
    if let Some(layout) = config.map {
        let (coords, drawn) = map::place(&embedded, layout, config.gap_clustering.seed, progress)?;
        report.coords = Some(coords);
        report.map = drawn;
    }
    Ok(report)
}

/// Both prompt sets and their embeddings, in one fitted space: what every later stage reads.
pub struct Embedded<'a> {
    pub tests: &'a Dataset,
    pub production: &'a Dataset,
    pub test_prompts: Vec<&'a str>,
    pub prompts: Vec<&'a str>,
    /// One traffic weight per production prompt, and their sum.
    pub weights: &'a [f64],
    pub total_traffic: f64,
    pub test_emb: Matrix,
    pub prod_emb: Matrix,
}

/// Stage 1: checks the weights and embeds tests and production in one call.
pub fn embed<'a>(
    tests: &'a Dataset,
    production: &'a Dataset,
    weights: &'a [f64],
    embedder: &dyn Embedder,
    config: &CoverageConfig,
    progress: &Progress,
) -> Result<Embedded<'a>> {
    assert_eq!(
        weights.len(),
        production.records.len(),
        "one weight per row"
    );
    let total_traffic: f64 = weights.iter().sum();
    // Each weight is finite, but their sum can pass the largest f64 (1e308 each): every share
    // would then be inf / inf = NaN.
    if !total_traffic.is_finite() {
        return Err(Error::input(
            &production.source,
            None,
            config.weight_field.as_deref(),
            format!(
                "expected production weights whose sum is a finite number; these {} weights \
                 add up past {:e}: scale them down (only their ratios matter)",
                weights.len(),
                f64::MAX
            ),
        ));
    }
    if total_traffic <= 0.0 {
        return Err(Error::input(
            &production.source,
            None,
            config.weight_field.as_deref(),
            "expected some traffic: every production weight is 0",
        ));
    }
    let test_prompts: Vec<&str> = tests.records.iter().map(|r| r.prompt.as_str()).collect();
    let prompts: Vec<&str> = production
        .records
        .iter()
        .map(|r| r.prompt.as_str())
        .collect();
    let all: Vec<&str> = test_prompts.iter().chain(&prompts).copied().collect();
    let embeddings = embedder.embed(&all, progress)?;
    let (test_emb, prod_emb) = split_rows(embeddings, test_prompts.len());
    Ok(Embedded {
        tests,
        production,
        test_prompts,
        prompts,
        weights,
        total_traffic,
        test_emb,
        prod_emb,
    })
}

/// Each production prompt's nearest test, and each test's nearest production prompt.
pub struct NearestTests {
    pub production: Vec<Nearest>,
    pub tests: Vec<Nearest>,
    /// Cosine distance of each production prompt to its nearest test (2 without tests).
    pub distances: Vec<f64>,
    /// ... and to its nearest test once that one (and its copies) is left out (2 without).
    pub runner_up_distances: Vec<f64>,
}

/// Stage 2: the nearest-test search, both ways, with each production prompt's runner-up test.
/// Production logs repeat prompts and suites repeat tests, so only distinct vectors are
/// searched ([`neighbours::nearest_both_ways_distinct`]).
pub fn nearest_tests(embedded: &Embedded, progress: &Progress) -> NearestTests {
    let found =
        neighbours::nearest_both_ways_distinct(&embedded.prod_emb, &embedded.test_emb, progress);
    let distances = found
        .a_to_b
        .iter()
        .map(|n| n.distance().unwrap_or(2.0))
        .collect();
    let runner_up_distances = found
        .runner_up
        .iter()
        .map(|&s| neighbours::cosine_distance(s))
        .collect();
    NearestTests {
        production: found.a_to_b,
        tests: found.b_to_a,
        distances,
        runner_up_distances,
    }
}

/// The distinct production prompts, and the seeded sample of them among which the neighbour
/// rule and the smoothing look for a prompt's neighbours.
pub struct ReferenceSample {
    /// The first row of each distinct prompt text, in row order.
    pub distinct: Vec<usize>,
    /// Each production row's position in `distinct`.
    pub distinct_of: Vec<usize>,
    /// Positions in `distinct` of the sampled prompts.
    pub sample: Vec<usize>,
    /// Their embeddings, in sample order.
    pub embeddings: Matrix,
}

impl ReferenceSample {
    /// The production row of the reference at position `p` of the sample.
    fn row(&self, p: usize) -> usize {
        self.distinct[self.sample[p]]
    }
}

/// Stage 3: the reference sample. Distinct texts: repeated traffic is weight, not a denser
/// topic.
pub fn reference_sample(embedded: &Embedded, config: &CoverageConfig) -> ReferenceSample {
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let mut distinct: Vec<usize> = Vec::new();
    let mut distinct_of = vec![0usize; embedded.prompts.len()];
    for (i, p) in embedded.prompts.iter().enumerate() {
        let d = *first_of.entry(p).or_insert_with(|| {
            distinct.push(i);
            distinct.len() - 1
        });
        distinct_of[i] = d;
    }
    let sample = cluster::sample_indices(
        distinct.len(),
        config.max_reference_prompts,
        config.gap_clustering.seed,
        7,
    );
    let embeddings = embedded
        .prod_emb
        .select_rows(&sample.iter().map(|&d| distinct[d]).collect::<Vec<_>>());
    ReferenceSample {
        distinct,
        distinct_of,
        sample,
        embeddings,
    }
}

/// The distance rule's threshold and where it came from.
pub struct Threshold {
    /// What the distance rule compares with each prompt's (smoothed) nearest-test distance.
    pub distance: f64,
    pub source: ThresholdSource,
    /// Median distance of a test to its nearest other test (copies skipped).
    pub median_test_spacing: Option<f64>,
    /// Prompts the rule averages over (1: the plain nearest-test distance).
    pub smoothing: usize,
    /// The threshold of the plain nearest-test distance (the same as `distance` without
    /// smoothing): within it a test sits in a production topic.
    pub nearest_distance: f64,
}

impl Threshold {
    /// The neighbour rule only asks prompts farther than this from their nearest test, and
    /// the distance rule smooths only their distances.
    fn neighbour_floor(&self) -> f64 {
        self.median_test_spacing
            .unwrap_or(self.nearest_distance)
            .min(self.nearest_distance)
    }
}

/// Stage 4: the distance threshold, calibrated on the tests unless it is given. Each test is
/// scored as a production prompt would be with that test left out of the suite: its nearest
/// other test, averaged with smoothing over its nearest reference prompts' nearest tests
/// (each with that test left out).
pub fn calibrate_threshold(
    embedded: &Embedded,
    nearest: &NearestTests,
    references: &ReferenceSample,
    config: &CoverageConfig,
    progress: &Progress,
) -> Result<Threshold> {
    let distance_alpha = config.distance_alpha();
    let spacing_of: Vec<Option<f64>> =
        neighbours::nearest_other(&embedded.test_emb, DUPLICATE_SIMILARITY, progress)
            .iter()
            .map(Nearest::distance)
            .collect();
    let spacing: Vec<f64> = spacing_of.iter().flatten().copied().collect();
    let median_test_spacing = rules::median(&spacing);
    let too_few = || {
        Error::Usage(format!(
            "{} needs at least two distinct test prompts to calibrate the distance threshold; give --distance-threshold",
            embedded.tests.source
        ))
    };
    if let Some(d) = config.distance_threshold {
        return Ok(Threshold {
            distance: d,
            source: ThresholdSource::Given,
            median_test_spacing,
            smoothing: 1,
            nearest_distance: d,
        });
    }
    let nearest_distance =
        rules::conformal_quantile(&spacing, distance_alpha).ok_or_else(too_few)?;
    let mut threshold = Threshold {
        // Set below from the tests' scores (their spacing itself without smoothing).
        distance: nearest_distance,
        source: ThresholdSource::Calibrated {
            quantile: 1.0 - distance_alpha,
            calibration_tests: spacing.len(),
            median_test_spacing: median_test_spacing.unwrap_or(0.0),
            smoothed_over: config.smoothing,
        },
        median_test_spacing,
        smoothing: config.smoothing,
        nearest_distance,
    };
    let scores = smoothed_test_scores(
        embedded,
        nearest,
        references,
        &spacing_of,
        threshold.neighbour_floor(),
        config,
        progress,
    );
    threshold.distance = rules::conformal_quantile(&scores, distance_alpha).ok_or_else(too_few)?;
    Ok(threshold)
}

/// Each test's score as a production prompt's (see [`rules`]): beyond `floor`, its nearest
/// other test's distance averaged with its nearest reference prompts' nearest-test distances,
/// each with this test (and its copies) left out; within it, or without smoothing, the distance
/// alone. Tests with no distinct other test are left out.
fn smoothed_test_scores(
    embedded: &Embedded,
    nearest: &NearestTests,
    references: &ReferenceSample,
    spacing_of: &[Option<f64>],
    floor: f64,
    config: &CoverageConfig,
    progress: &Progress,
) -> Vec<f64> {
    let test_emb = &embedded.test_emb;
    let smoothed: Vec<usize> = (0..spacing_of.len())
        .filter(|&t| spacing_of[t].is_some_and(|d| d > floor))
        .collect();
    let lists = neighbours::k_nearest(
        neighbours::Queries::rows(test_emb, &smoothed),
        &references.embeddings,
        config.smoothing - 1,
        progress,
    );
    let same_vector = |a: usize, b: usize| {
        test_emb
            .row(a)
            .iter()
            .zip(test_emb.row(b))
            .all(|(x, y)| x.to_bits() == y.to_bits())
    };
    let mut score_of: Vec<Option<f64>> = spacing_of.to_vec();
    for (t, list) in smoothed.iter().zip(&lists) {
        let others = list.iter().map(|&(p, _)| {
            let i = references.row(p);
            match nearest.production[i].index {
                Some(j) if same_vector(j, *t) => nearest.runner_up_distances[i],
                _ => nearest.distances[i],
            }
        });
        score_of[*t] = spacing_of[*t].map(|own| rules::mean_with(own, others));
    }
    score_of.into_iter().flatten().collect()
}

/// Which production prompts are uncovered, and why. Between [`uncovered`] and
/// [`Uncovered::confirm`] the reasons are the rules' evidence; after it, the verdicts.
pub struct Uncovered {
    /// One per production prompt; `None` when covered.
    pub reasons: Vec<Option<UncoveredReason>>,
    /// The neighbour rule's settings; `None` when it is off or has too few tests.
    pub neighbour_rule: Option<NeighbourRule>,
    /// Each production prompt's score under the distance rule: its nearest-test distance,
    /// averaged over its neighbourhood when smoothed.
    pub scores: Vec<f64>,
    /// With smoothing, each prompt beyond the distance threshold and the production rows of
    /// the neighbours its score was averaged over (ascending by row): [`find_gaps`] lets it
    /// join the gap its neighbourhood lies in.
    pub flagged_neighbourhoods: Vec<(usize, Vec<usize>)>,
}

impl Uncovered {
    /// The verdicts once the gaps are known: a prompt beyond the distance threshold is
    /// uncovered; one the neighbour rule flagged is uncovered only inside a gap, since the rule
    /// judges a neighbourhood (tests thinner than traffic around it), which a thinly tested
    /// topic also is; and every other prompt of a gap is uncovered too (reason `gap`).
    pub fn confirm(mut self, gaps: &Gaps) -> Uncovered {
        let mut outside_gaps = 0;
        for (reason, gap) in self.reasons.iter_mut().zip(&gaps.gap_of) {
            *reason = match (*reason, gap.is_some()) {
                (Some(UncoveredReason::Distance), _) => Some(UncoveredReason::Distance),
                (Some(r), true) => Some(r),
                (None, true) => Some(UncoveredReason::Gap),
                (Some(_), false) => {
                    outside_gaps += 1;
                    None
                }
                (None, false) => None,
            };
        }
        if let Some(rule) = &mut self.neighbour_rule {
            rule.flagged_outside_gaps = outside_gaps;
        }
        self
    }
}

/// Stage 5: the distance rule, then the neighbour rule on the prompts it left covered (the
/// evidence; [`Uncovered::confirm`] turns it into verdicts once the gaps are found). With
/// smoothing, one pass over the reference sample finds both rules' neighbours.
pub fn uncovered(
    embedded: &Embedded,
    nearest: &NearestTests,
    references: &ReferenceSample,
    threshold: &Threshold,
    config: &CoverageConfig,
    progress: &Progress,
) -> Uncovered {
    let distances = &nearest.distances;
    let smoothed = threshold.smoothing > 1;
    let flag = |score: f64| (score > threshold.distance).then_some(UncoveredReason::Distance);
    // Each prompt's own distance, until the pass below smooths those beyond the floor.
    let mut scores = distances.clone();
    let mut reasons: Vec<Option<UncoveredReason>> = scores.iter().map(|&s| flag(s)).collect();
    let neighbour_rule = config
        .neighbour_rule
        .then(|| neighbour_rule(embedded, references, threshold, config))
        .flatten();
    if neighbour_rule.is_none() && !smoothed {
        return Uncovered {
            reasons,
            neighbour_rule,
            scores,
            flagged_neighbourhoods: Vec::new(),
        };
    }
    // Prompts within the floor keep their own distance (and no neighbour-rule flag); without
    // smoothing, prompts the distance rule flagged need no neighbours.
    let floor = threshold.neighbour_floor();
    let queries: Vec<usize> = (0..references.distinct.len())
        .filter(|&d| {
            let i = references.distinct[d];
            distances[i] > floor && (smoothed || reasons[i].is_none())
        })
        .collect();
    let position: HashMap<usize, usize> = references
        .sample
        .iter()
        .enumerate()
        .map(|(p, &d)| (d, p))
        .collect();
    let query_rows: Vec<usize> = queries.iter().map(|&d| references.distinct[d]).collect();
    let bounds: Vec<f32> = query_rows
        .iter()
        .map(|&i| nearest.production[i].similarity)
        .collect();
    let exclude: Vec<Option<usize>> = queries.iter().map(|d| position.get(d).copied()).collect();
    let cap = neighbour_rule.map_or(0, |r| r.k);
    let found = neighbours::closer_and_nearest(
        neighbours::Queries::rows(&embedded.prod_emb, &query_rows),
        &references.embeddings,
        &bounds,
        &exclude,
        cap,
        threshold.smoothing - 1,
        progress,
    );
    // Per distinct prompt: its score, its evidence and, beyond the threshold, its neighbours'
    // rows.
    type Verdict = (f64, Option<UncoveredReason>, Vec<usize>);
    let mut verdict: Vec<Option<Verdict>> = vec![None; references.distinct.len()];
    for ((&d, &i), (closer, list)) in queries.iter().zip(&query_rows).zip(found) {
        // Without smoothing the list is empty and the score is the prompt's own distance.
        let score = rules::mean_with(
            distances[i],
            list.iter().map(|&(p, _)| distances[references.row(p)]),
        );
        let by_neighbours = neighbour_rule.is_some_and(|r| closer >= r.k);
        let reason = flag(score).or(by_neighbours.then_some(UncoveredReason::Neighbours));
        let mut rows = Vec::new();
        if reason == Some(UncoveredReason::Distance) {
            rows = list.iter().map(|&(p, _)| references.row(p)).collect();
            rows.sort_unstable();
        }
        verdict[d] = Some((score, reason, rows));
    }
    let mut flagged_neighbourhoods = Vec::new();
    for (i, (reason, score)) in reasons.iter_mut().zip(&mut scores).enumerate() {
        if let Some((s, r, rows)) = &verdict[references.distinct_of[i]] {
            *score = *s;
            *reason = *r;
            if !rows.is_empty() {
                flagged_neighbourhoods.push((i, rows.clone()));
            }
        }
    }
    Uncovered {
        reasons,
        neighbour_rule,
        scores,
        flagged_neighbourhoods,
    }
}

/// The neighbour rule's settings, or `None` when there are too few tests for it to reach its
/// share of alpha.
fn neighbour_rule(
    embedded: &Embedded,
    references: &ReferenceSample,
    threshold: &Threshold,
    config: &CoverageConfig,
) -> Option<NeighbourRule> {
    let tests = embedded.test_prompts.iter().collect::<HashSet<_>>().len();
    let reference_prompts = references.sample.len();
    let k = rules::neighbour_k(tests, reference_prompts, config.neighbour_alpha())?;
    Some(NeighbourRule {
        k,
        reference_prompts,
        tests,
        test_probability: tests as f64 / (tests + reference_prompts) as f64,
        min_distance: threshold.neighbour_floor(),
        flagged_outside_gaps: 0,
    })
}

/// The gaps, ranked, and where each production prompt went.
pub struct Gaps {
    pub gaps: Vec<Gap>,
    /// Per production prompt: the rank of its gap.
    pub gap_of: Vec<Option<usize>>,
    /// Uncovered prompts in no gap (indices into the production records).
    pub unclustered: Vec<usize>,
    pub clustering: ClusteringInfo,
    /// The candidate tree's nodes the gaps were chosen from (with `--clustering tree`): thin
    /// topics are chosen from the same tree.
    pub tree: Option<Vec<Candidate>>,
}

/// Stage 6: clusters the uncovered prompts into named gaps, most traffic first.
pub fn find_gaps(
    embedded: &Embedded,
    nearest: &NearestTests,
    uncovered: &Uncovered,
    config: &CoverageConfig,
    progress: &Progress,
) -> Result<Gaps> {
    let reasons = &uncovered.reasons;
    let Embedded {
        production,
        prompts,
        weights,
        prod_emb,
        ..
    } = embedded;
    let GapSearch {
        rows: mut gap_rows,
        clustering,
        tree,
    } = if config.gap_clustering.method.is_tree() {
        gap_regions(prod_emb, reasons, config, progress)?
    } else {
        uncovered_clusters(prod_emb, reasons, config, progress)?
    };
    join_neighbourhood_gaps(
        &mut gap_rows,
        &uncovered.flagged_neighbourhoods,
        prompts.len(),
    );
    let namer = KeywordNamer {
        classes: gap_rows.len() + 1,
        ..KeywordNamer::default()
    };
    let gap_refs: Vec<&[usize]> = gap_rows.iter().map(Vec::as_slice).collect();
    let names = namer.name_slices(prompts, &gap_refs);
    let mut gaps: Vec<Gap> = gap_rows
        .iter()
        .zip(names)
        .map(|(rows, name)| {
            let weight: f64 = rows.iter().map(|&i| weights[i]).sum();
            let order = nearest_to_centroid(prod_emb, rows);
            let shown = distinct_prompts(prompts, &order, config.representatives);
            Gap {
                name: name.name,
                llm: LlmNaming::default(),
                keywords: name.keywords,
                size: rows.len(),
                traffic_share: weight / embedded.total_traffic,
                mean_distance: rows.iter().map(|&i| nearest.distances[i]).sum::<f64>()
                    / rows.len() as f64,
                representative_prompts: shown.iter().map(|&i| prompts[i].to_string()).collect(),
                representative_indices: shown.iter().map(|&i| production.records[i].row).collect(),
                prompt_indices: rows.iter().map(|&i| production.records[i].row).collect(),
                ids: rows
                    .iter()
                    .filter_map(|&i| production.records[i].id.clone())
                    .collect(),
            }
        })
        .collect();
    // Most traffic first; ties by first row, so the order is deterministic.
    let mut order: Vec<usize> = (0..gaps.len()).collect();
    order.sort_by(|&a, &b| {
        gaps[b]
            .traffic_share
            .total_cmp(&gaps[a].traffic_share)
            .then(gaps[a].prompt_indices[0].cmp(&gaps[b].prompt_indices[0]))
    });
    let mut gap_of = vec![None; prompts.len()];
    for (rank, &g) in order.iter().enumerate() {
        for &i in &gap_rows[g] {
            gap_of[i] = Some(rank);
        }
    }
    // In no gap, only the distance rule's verdict stands (Uncovered::confirm).
    let unclustered: Vec<usize> = (0..prompts.len())
        .filter(|&i| reasons[i] == Some(UncoveredReason::Distance) && gap_of[i].is_none())
        .collect();
    let mut taken: Vec<Option<Gap>> = gaps.drain(..).map(Some).collect();
    let gaps: Vec<Gap> = order.iter().filter_map(|&g| taken[g].take()).collect();
    Ok(Gaps {
        gaps,
        gap_of,
        unclustered,
        clustering,
        tree,
    })
}

/// A prompt beyond the distance threshold joins a gap when more than this share of the
/// neighbours its score was averaged over lie in that gap.
pub const JOIN_NEIGHBOURS_SHARE: f64 = 0.3;

/// Lets each prompt beyond the distance threshold that is in no gap join the gap holding more
/// than [`JOIN_NEIGHBOURS_SHARE`] of its neighbours (the most of them; the lower gap index on a
/// tie). A gap is a tree node, and a missing topic's uncovered prompts can straddle the node
/// boundary; such a prompt is already uncovered, so joining only says which gap it belongs to.
/// Decided against the gaps as found, so the order of prompts does not matter.
/// `prompts` is the number of production prompts.
fn join_neighbourhood_gaps(
    gap_rows: &mut [Vec<usize>],
    flagged: &[(usize, Vec<usize>)],
    prompts: usize,
) {
    let mut gap_of: Vec<Option<usize>> = vec![None; prompts];
    for (g, rows) in gap_rows.iter().enumerate() {
        for &i in rows {
            gap_of[i] = Some(g);
        }
    }
    let mut joins = Vec::new();
    for (i, neighbours) in flagged {
        if gap_of[*i].is_some() {
            continue;
        }
        let mut count: BTreeMap<usize, usize> = BTreeMap::new();
        for g in neighbours.iter().filter_map(|&j| gap_of[j]) {
            *count.entry(g).or_default() += 1;
        }
        // The largest count, and on a tie the first gap (max_by_key keeps the last maximum).
        let best = count.into_iter().rev().max_by_key(|&(_, n)| n);
        if let Some((g, n)) = best {
            if n as f64 > JOIN_NEIGHBOURS_SHARE * neighbours.len() as f64 {
                joins.push((g, *i));
            }
        }
    }
    for (g, i) in joins {
        gap_rows[g].push(i);
    }
    for rows in gap_rows.iter_mut() {
        rows.sort_unstable();
    }
}

/// The gaps' rows, before naming and ranking, and what they were found with.
struct GapSearch {
    rows: Vec<Vec<usize>>,
    clustering: ClusteringInfo,
    /// The candidate tree's nodes, with `--clustering tree`.
    tree: Option<Vec<Candidate>>,
}

/// A gap must be a region where most production prompts are uncovered: one where a few are
/// (a thinly tested topic, an outlying phrasing) is not a missing topic.
pub const GAP_MIN_UNCOVERED_SHARE: f64 = 0.5;
/// False-discovery rate of the gap regions (Benjamini-Hochberg over the tree's nodes).
pub const GAP_ALPHA: f64 = 0.05;

/// Gaps from the candidate tree of all production prompts, searched like failure slices with
/// "flagged" as the failure ([`discovery::discover`], no failure scan): the reported nodes
/// whose flagged share is at least [`GAP_MIN_UNCOVERED_SHARE`]. A gap holds every prompt of
/// its node, so a missing topic is reported whole even where a stray test sits near some of its
/// prompts, and uncovered prompts outside any such node stay unclustered. Also returns the
/// tree's nodes, from which thin topics are chosen.
fn gap_regions(
    prod_emb: &Matrix,
    reasons: &[Option<UncoveredReason>],
    config: &CoverageConfig,
    progress: &Progress,
) -> Result<GapSearch> {
    let uncovered: Vec<bool> = reasons.iter().map(Option::is_some).collect();
    // Each node is tested against production's flagged share, as slices test failures against
    // the rest, but at most against GAP_MIN_UNCOVERED_SHARE: when most of production is flagged
    // (a suite written for another product area), "flagged more than production as a whole"
    // would leave no gap, and a majority is what a gap needs anyway.
    let flagged_share = uncovered.iter().filter(|&&u| u).count() as f64 / uncovered.len() as f64;
    let search = SlicesConfig {
        cluster: config.gap_clustering.clone(),
        alpha: GAP_ALPHA,
        scan: false,
        // Gaps are reported as found (not measured with groups on the planted-gap benchmark).
        group_parts: false,
        null_rate: Some(flagged_share.min(GAP_MIN_UNCOVERED_SHARE)),
        ..SlicesConfig::default()
    };
    let found = discovery::discover(prod_emb, &uncovered, Vec::new(), &search, progress)?;
    let gaps = (0..found.candidates.len())
        .filter(|&c| {
            let size = found.candidates[c].rows.len();
            found.selected[c]
                && size >= config.gap_clustering.min_cluster_size
                && found.failures[c] as f64 >= GAP_MIN_UNCOVERED_SHARE * size as f64
        })
        .map(|c| found.candidates[c].rows.clone())
        .collect();
    let nodes = found
        .candidates
        .into_iter()
        .take_while(|c| c.position.is_some())
        .collect();
    Ok(GapSearch {
        rows: gaps,
        clustering: found.clustering,
        tree: Some(nodes),
    })
}

/// Gaps from a flat clustering (`--clustering hdbscan|agglomerative|kmeans`) of the uncovered
/// prompts alone; its noise stays unclustered.
fn uncovered_clusters(
    prod_emb: &Matrix,
    reasons: &[Option<UncoveredReason>],
    config: &CoverageConfig,
    progress: &Progress,
) -> Result<GapSearch> {
    let uncovered: Vec<usize> = (0..reasons.len())
        .filter(|&i| reasons[i].is_some())
        .collect();
    let clustering = cluster::cluster(
        &prod_emb.select_rows(&uncovered),
        &config.gap_clustering,
        progress,
    )?;
    let mut gap_rows = vec![Vec::new(); clustering.num_clusters];
    for (k, label) in clustering.labels.iter().enumerate() {
        if let Some(c) = label {
            gap_rows[*c].push(uncovered[k]);
        }
    }
    Ok(GapSearch {
        rows: gap_rows,
        clustering: clustering.info,
        tree: None,
    })
}

/// The thin topics and the settings of their test.
pub struct ThinTopics {
    pub topics: Vec<ThinTopic>,
    pub rule: ThinCoverageRule,
    pub clustering: ClusteringInfo,
}

/// Stage 7: the production topics with far fewer tests than their share of traffic. With the
/// candidate tree (the gaps' tree), every node of topic size is tested and the reported ones
/// are the antichain that best explains the shortfall, as slices are chosen; with a flat
/// clustering, its clusters of all production are the topics.
pub fn find_thin_topics(
    embedded: &Embedded,
    nearest: &NearestTests,
    threshold: &Threshold,
    reasons: &[Option<UncoveredReason>],
    gaps: &Gaps,
    config: &CoverageConfig,
    progress: &Progress,
) -> Result<ThinTopics> {
    // Each test sits at its nearest production prompt, when that is within the threshold (a
    // test nobody asks anything like belongs to no topic).
    let mut tests_at = vec![0usize; embedded.prompts.len()];
    for n in &nearest.tests {
        if let (Some(i), Some(d)) = (n.index, n.distance()) {
            if d <= threshold.nearest_distance {
                tests_at[i] += 1;
            }
        }
    }
    let num_tests = embedded.test_prompts.len();
    let placed_tests = tests_at.iter().sum();
    // A topic with no test whose prompts are mostly uncovered is already reported as gaps.
    let mostly_uncovered = |a: &Allocation| {
        2 * a.rows.iter().filter(|&&i| reasons[i].is_some()).count() > a.rows.len()
    };
    let (thin, topics, clustering) = match &gaps.tree {
        Some(nodes) => {
            let (thin, topics) = thin_tree_nodes(nodes, embedded, &gaps.gap_of, &tests_at, config);
            (thin, topics, gaps.clustering.clone())
        }
        None => {
            let clustering =
                cluster::cluster(&embedded.prod_emb, &config.topic_clustering, progress)?;
            let groups = regions::groups_of(&clustering.labels, clustering.num_clusters);
            let allocations = regions::allocations(groups, embedded.weights, &tests_at, num_tests);
            let rule = thin_rule(config, clustering.num_clusters, placed_tests);
            let thin = allocations
                .into_iter()
                .filter(|a| regions::is_thin(a, &rule))
                .collect();
            (thin, clustering.num_clusters, clustering.info)
        }
    };
    let rule = thin_rule(config, topics, placed_tests);
    let topics = describe_thin_topics(
        thin.into_iter()
            .filter(|a| !(a.tests == 0 && mostly_uncovered(a)))
            .collect(),
        embedded,
        reasons,
        rule.topics,
        num_tests,
        config.representatives,
    );
    Ok(ThinTopics {
        topics,
        rule,
        clustering,
    })
}

fn thin_rule(config: &CoverageConfig, topics: usize, placed_tests: usize) -> ThinCoverageRule {
    ThinCoverageRule {
        min_ratio: config.thin_ratio,
        alpha: config.thin_alpha,
        topics,
        placed_tests,
    }
}

/// The thin topics among the candidate tree's nodes, and how many nodes were tested. Prompts in
/// gaps are already reported, so they are left out of every node. Nodes of topic size (at
/// least `--min-topic-size` rows left, at most the topics' share of production) are tested and
/// adjusted together; among nested thin nodes, the antichain with the largest summed shortfall
/// log-likelihood ratio, less one [`selection::PENALTY`] per topic, is reported: a parent whose
/// children are equally short of tests is one topic, and a parent that is thin only through one
/// child loses to that child.
fn thin_tree_nodes(
    nodes: &[Candidate],
    embedded: &Embedded,
    gap_of: &[Option<usize>],
    tests_at: &[usize],
    config: &CoverageConfig,
) -> (Vec<Allocation>, usize) {
    let max_rows = (config.topic_clustering.max_cluster_share * embedded.prompts.len() as f64)
        .floor() as usize;
    let size_ok =
        |size: usize| size >= config.topic_clustering.min_cluster_size && size <= max_rows;
    let (eligible, groups): (Vec<usize>, Vec<Vec<usize>>) = nodes
        .iter()
        .enumerate()
        .filter(|(_, c)| size_ok(c.rows.len()))
        .map(|(v, c)| {
            let rows: Vec<usize> = c
                .rows
                .iter()
                .copied()
                .filter(|&i| gap_of[i].is_none())
                .collect();
            (v, rows)
        })
        .filter(|(_, rows)| size_ok(rows.len()))
        .unzip();
    let num_tests = embedded.test_prompts.len();
    let allocations = regions::allocations(groups, embedded.weights, tests_at, num_tests);
    let rule = thin_rule(config, eligible.len(), 0);
    let mut llr = vec![0.0; nodes.len()];
    let mut thin = vec![false; nodes.len()];
    for (a, &v) in allocations.iter().zip(&eligible) {
        llr[v] = a.shortfall_llr(num_tests);
        thin[v] = regions::is_thin(a, &rule);
    }
    let position = |v: usize| {
        nodes[v]
            .position
            .as_ref()
            .expect("tree nodes have positions")
    };
    let parent: Vec<Option<usize>> = (0..nodes.len()).map(|v| position(v).parent).collect();
    let children: Vec<Vec<usize>> = (0..nodes.len())
        .map(|v| position(v).children.clone())
        .collect();
    let chosen: HashSet<usize> =
        selection::best_antichain(&parent, &children, &llr, &thin, selection::PENALTY)
            .into_iter()
            .collect();
    let tested = eligible.len();
    let thin = allocations
        .into_iter()
        .zip(eligible)
        .filter(|(_, v)| chosen.contains(v))
        .map(|(a, _)| a)
        .collect();
    (thin, tested)
}

/// Assembles the report from the stages' results.
#[allow(clippy::too_many_arguments)]
fn report(
    embedded: &Embedded,
    nearest: &NearestTests,
    threshold: Threshold,
    uncovered: Uncovered,
    gaps: Gaps,
    thin: ThinTopics,
    embedder: &dyn Embedder,
    config: &CoverageConfig,
) -> CoverageReport {
    let Embedded {
        tests,
        production,
        prompts,
        weights,
        total_traffic,
        ..
    } = embedded;
    let reasons = &uncovered.reasons;
    let num_uncovered = reasons.iter().flatten().count();
    let uncovered_weight: f64 = (0..prompts.len())
        .filter(|&i| reasons[i].is_some())
        .map(|i| weights[i])
        // Not `.sum()`: an empty f64 sum is -0.0, which the report would print.
        .fold(0.0, |total, w| total + w);
    let num_tests_without_traffic = nearest
        .tests
        .iter()
        .filter(|n| n.distance().is_none_or(|d| d > threshold.nearest_distance))
        .count();
    let prompt_rows: Vec<PromptCoverage> = (0..prompts.len())
        .map(|i| {
            let record = &production.records[i];
            let test = nearest.production[i].index.map(|j| &tests.records[j]);
            PromptCoverage {
                index: record.row,
                id: record.id.clone(),
                nearest_test_index: test.map_or(0, |t| t.row),
                nearest_test_id: test.and_then(|t| t.id.clone()),
                distance: nearest.distances[i],
                smoothed_distance: uncovered.scores[i],
                uncovered: reasons[i].is_some(),
                reason: reasons[i],
                gap: gaps.gap_of[i],
            }
        })
        .collect();
    let count_reason = |r: UncoveredReason| reasons.iter().filter(|&&x| x == Some(r)).count();
    CoverageReport {
        overall_coverage_score: 1.0 - uncovered_weight / total_traffic,
        num_tests: embedded.test_prompts.len(),
        num_production: prompts.len(),
        total_traffic: *total_traffic,
        distance_threshold: threshold.distance,
        nearest_distance_threshold: threshold.nearest_distance,
        num_uncovered_total: num_uncovered,
        uncovered_traffic_share: uncovered_weight / total_traffic,
        num_uncovered_by_distance: count_reason(UncoveredReason::Distance),
        num_uncovered_by_neighbours: count_reason(UncoveredReason::Neighbours),
        num_uncovered_by_gap: count_reason(UncoveredReason::Gap),
        num_gaps: gaps.gaps.len(),
        llm_naming: None,
        gaps: gaps.gaps,
        unclustered_prompt_indices: gaps
            .unclustered
            .iter()
            .map(|&i| production.records[i].row)
            .collect(),
        num_thin_topics: thin.topics.len(),
        thin_topics: thin.topics,
        num_tests_without_traffic,
        parameters: CoverageParameters {
            tests: config.tests_input.clone(),
            production: config.production_input.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            embedder: embedder.name(),
            embedding_dims: embedded.prod_emb.cols(),
            alpha: config.alpha,
            threshold: threshold.source,
            neighbour_rule: uncovered.neighbour_rule,
            min_gap_size: config.gap_clustering.min_cluster_size,
            gap_clustering: gaps.clustering,
            topic_clustering: thin.clustering,
            thin_coverage: thin.rule,
            weight_field: config.weight_field.clone(),
            seed: config.gap_clustering.seed,
            skipped_test_rows: tests.skipped.len(),
            skipped_production_rows: production.skipped.len(),
            map_layout: config.map,
        },
        coords: None,
        prompts: prompt_rows,
        map: map::CoverageMap::default(),
    }
}

/// Splits the stacked embeddings into the first `first` rows and the rest.
fn split_rows(embeddings: Matrix, first: usize) -> (Matrix, Matrix) {
    let (rows, cols) = (embeddings.rows(), embeddings.cols());
    let mut data = embeddings.into_vec();
    // The first rows (the tests) are copied out and the rest moved down in place: splitting
    // off the rest would copy the production rows, doubling the peak (2 GB more at 1M rows).
    let head: Vec<f32> = data.drain(..first * cols).collect();
    (
        Matrix::from_vec(first, cols, head),
        Matrix::from_vec(rows - first, cols, data),
    )
}

/// Names and describes the thin topics, most missing tests first.
fn describe_thin_topics(
    thin: Vec<Allocation>,
    embedded: &Embedded,
    reasons: &[Option<UncoveredReason>],
    num_topics: usize,
    num_tests: usize,
    representatives: usize,
) -> Vec<ThinTopic> {
    let Embedded {
        production,
        prompts,
        prod_emb,
        ..
    } = embedded;
    let namer = KeywordNamer {
        classes: num_topics + 1,
        ..KeywordNamer::default()
    };
    let rows: Vec<&[usize]> = thin.iter().map(|a| a.rows.as_slice()).collect();
    let names = namer.name_slices(prompts, &rows);
    let mut out: Vec<ThinTopic> = thin
        .iter()
        .zip(names)
        .map(|(a, name)| {
            let order = nearest_to_centroid(prod_emb, &a.rows);
            ThinTopic {
                name: name.name,
                keywords: name.keywords,
                size: a.rows.len(),
                traffic_share: a.traffic_share,
                tests: a.tests,
                test_share: if num_tests == 0 {
                    0.0
                } else {
                    a.tests as f64 / num_tests as f64
                },
                expected_tests: a.expected_tests,
                density_ratio: a.density_ratio,
                p_value: a.p_value,
                adjusted_p_value: a.adjusted_p_value,
                uncovered_share: a.rows.iter().filter(|&&i| reasons[i].is_some()).count() as f64
                    / a.rows.len() as f64,
                representative_prompts: distinct_prompts(prompts, &order, representatives)
                    .into_iter()
                    .map(|i| prompts[i].to_string())
                    .collect(),
                prompt_indices: a.rows.iter().map(|&i| production.records[i].row).collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (b.expected_tests - b.tests as f64)
            .total_cmp(&(a.expected_tests - a.tests as f64))
            .then(a.prompt_indices[0].cmp(&b.prompt_indices[0]))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_share_alpha_and_the_distance_rule_alone_has_all_of_it() {
        let both = CoverageConfig {
            alpha: 0.05,
            ..CoverageConfig::default()
        };
        assert!((both.distance_alpha() - 0.015).abs() < 1e-12);
        assert!((both.neighbour_alpha() - 0.035).abs() < 1e-12);
        let alone = CoverageConfig {
            neighbour_rule: false,
            ..both
        };
        assert_eq!(alone.distance_alpha(), 0.05);
    }

    #[test]
    fn a_flagged_prompt_joins_the_gap_its_neighbourhood_lies_in() {
        let mut gaps = vec![vec![0, 1, 2], vec![10, 11, 12]];
        let others = |from: usize, n: usize| (from..from + n).collect::<Vec<usize>>();
        let flagged = vec![
            // 2 of 9 neighbours in gap 0: not more than 0.3 of them.
            (5, [vec![0, 1], others(20, 7)].concat()),
            // 3 of 9: joins gap 0.
            (6, [vec![0, 1, 2], others(20, 6)].concat()),
            // 3 and 3: the tie goes to the first gap.
            (7, [vec![0, 1, 2, 10, 11, 12], others(30, 3)].concat()),
            // Already in a gap: stays.
            (11, [vec![0, 1, 2], others(40, 6)].concat()),
            // Prompts that join are not counted for others (6 and 7 join only now).
            (8, [vec![6, 7, 10], others(50, 6)].concat()),
            // Gap 1 holds 4 of 9.
            (9, [vec![10, 11, 12, 0], others(60, 5)].concat()),
        ];
        join_neighbourhood_gaps(&mut gaps, &flagged, 70);
        assert_eq!(gaps, vec![vec![0, 1, 2, 6, 7], vec![9, 10, 11, 12]]);
    }

    #[test]
    fn confirm_keeps_distance_and_counts_neighbour_flags_only_inside_gaps() {
        use UncoveredReason::{Distance, Gap, Neighbours};
        let rule = NeighbourRule {
            k: 3,
            reference_prompts: 10,
            tests: 5,
            test_probability: 1.0 / 3.0,
            min_distance: 0.1,
            flagged_outside_gaps: 0,
        };
        let evidence = Uncovered {
            reasons: vec![
                Some(Distance),
                Some(Distance),
                Some(Neighbours),
                Some(Neighbours),
                None,
                None,
            ],
            neighbour_rule: Some(rule),
            scores: vec![0.0; 6],
            flagged_neighbourhoods: Vec::new(),
        };
        let gaps = Gaps {
            gaps: Vec::new(),
            gap_of: vec![None, Some(0), Some(0), None, Some(0), None],
            unclustered: vec![0],
            clustering: ClusteringInfo {
                method: cluster::ClusterMethod::Tree,
                dims: 0,
                fit_sample_size: None,
                k: None,
                silhouette: None,
                min_samples: None,
                max_cluster_size: None,
                explained_variance: None,
                noise_rows: 0,
            },
            tree: None,
        };
        let verdicts = evidence.confirm(&gaps);
        assert_eq!(
            verdicts.reasons,
            vec![
                Some(Distance),
                Some(Distance),
                Some(Neighbours),
                None,
                Some(Gap),
                None
            ]
        );
        assert_eq!(verdicts.neighbour_rule.unwrap().flagged_outside_gaps, 1);
    }
}
