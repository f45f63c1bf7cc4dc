use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// A standard normal draw (Box-Muller); `rand_distr` is not a dependency.
fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

fn random_unit(rng: &mut impl Rng, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dims).map(|_| gaussian(rng)).collect();
    crate::matrix::normalize(&mut v);
    v
}

/// `sizes[b]` points around each of `sizes.len()` random unit centers (noise `sigma` per
/// dimension), then `outliers` random unit vectors; rows normalized and shuffled.
/// Returns the matrix and each row's blob (`None` for outliers).
fn blobs(
    sizes: &[usize],
    outliers: usize,
    dims: usize,
    sigma: f32,
    seed: u64,
) -> (Matrix, Vec<Option<usize>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centers: Vec<Vec<f32>> = sizes.iter().map(|_| random_unit(&mut rng, dims)).collect();
    let mut rows: Vec<(Vec<f32>, Option<usize>)> = Vec::new();
    for (b, &size) in sizes.iter().enumerate() {
        for _ in 0..size {
            let mut v: Vec<f32> = centers[b]
                .iter()
                .map(|c| c + sigma * gaussian(&mut rng))
                .collect();
            crate::matrix::normalize(&mut v);
            rows.push((v, Some(b)));
        }
    }
    for _ in 0..outliers {
        rows.push((random_unit(&mut rng, dims), None));
    }
    // Shuffle (Fisher-Yates) so blobs are interleaved in input order.
    for i in (1..rows.len()).rev() {
        let j = rng.gen_range(0..=i);
        rows.swap(i, j);
    }
    let truth = rows.iter().map(|r| r.1).collect();
    let data = rows.into_iter().flat_map(|r| r.0).collect();
    (
        Matrix::from_vec(sizes.iter().sum::<usize>() + outliers, dims, data),
        truth,
    )
}

/// Adjusted Rand index between two labelings; `None` counts as one more label.
fn adjusted_rand(a: &[Option<usize>], b: &[Option<usize>]) -> f64 {
    let n = a.len() as f64;
    let mut table: HashMap<(Option<usize>, Option<usize>), f64> = HashMap::new();
    let mut rows: HashMap<Option<usize>, f64> = HashMap::new();
    let mut cols: HashMap<Option<usize>, f64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1.0;
        *rows.entry(x).or_default() += 1.0;
        *cols.entry(y).or_default() += 1.0;
    }
    let pairs = |c: f64| c * (c - 1.0) / 2.0;
    let index: f64 = table.values().map(|&c| pairs(c)).sum();
    let sum_a: f64 = rows.values().map(|&c| pairs(c)).sum();
    let sum_b: f64 = cols.values().map(|&c| pairs(c)).sum();
    let expected = sum_a * sum_b / pairs(n);
    let max = (sum_a + sum_b) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

/// Share of rows whose predicted cluster's majority truth label is their own truth label
/// (noise predictions count as wrong).
fn purity(pred: &[Option<usize>], truth: &[Option<usize>]) -> f64 {
    let mut counts: HashMap<usize, HashMap<Option<usize>, usize>> = HashMap::new();
    for (&p, &t) in pred.iter().zip(truth) {
        if let Some(p) = p {
            *counts.entry(p).or_default().entry(t).or_default() += 1;
        }
    }
    let majority: usize = counts
        .values()
        .map(|m| m.values().copied().max().unwrap_or(0))
        .sum();
    majority as f64 / pred.len() as f64
}

fn params(method: ClusterMethod) -> ClusterParams {
    ClusterParams {
        method,
        ..ClusterParams::default()
    }
}

fn run(data: &Matrix, p: &ClusterParams) -> Clustering {
    cluster(data, p, &Progress::hidden()).expect("clustering runs")
}

fn check_labels(c: &Clustering, n: usize) {
    assert_eq!(c.labels.len(), n);
    assert!(c.labels.iter().flatten().all(|&l| l < c.num_clusters));
    assert_eq!(
        c.info.noise_rows,
        c.labels.iter().filter(|l| l.is_none()).count()
    );
    // Ids are numbered by first appearance.
    let mut next = 0;
    for &l in c.labels.iter().flatten() {
        assert!(l <= next, "label {l} appears before {next}");
        if l == next {
            next += 1;
        }
    }
    assert_eq!(next, c.num_clusters);
}

fn five_blobs() -> (Matrix, Vec<Option<usize>>) {
    blobs(&[200; 5], 0, 64, 0.04, 1)
}

#[test]
fn hdbscan_recovers_blobs() {
    let (data, truth) = five_blobs();
    let c = run(&data, &params(ClusterMethod::Hdbscan));
    check_labels(&c, data.rows());
    assert_eq!(c.num_clusters, 5);
    assert!(
        purity(&c.labels, &truth) >= 0.95,
        "{}",
        purity(&c.labels, &truth)
    );
    assert!(adjusted_rand(&c.labels, &truth) >= 0.95);
    assert_eq!(c.info.method, ClusterMethod::Hdbscan);
    assert_eq!(c.info.dims, 16);
    assert_eq!(c.info.fit_sample_size, None);
    assert_eq!(c.info.min_samples, Some(10));
    assert!(c
        .info
        .explained_variance
        .is_some_and(|v| v > 0.0 && v <= 1.0));
}

#[test]
fn agglomerative_recovers_blobs_with_k_by_silhouette() {
    let (data, truth) = five_blobs();
    let c = run(&data, &params(ClusterMethod::Agglomerative));
    check_labels(&c, data.rows());
    assert_eq!(c.info.k, Some(5));
    assert!(c.info.silhouette.is_some_and(|s| s > 0.5), "{:?}", c.info);
    assert_eq!(c.num_clusters, 5);
    assert!(adjusted_rand(&c.labels, &truth) >= 0.95);
    assert!(purity(&c.labels, &truth) >= 0.95);
}

#[test]
fn agglomerative_with_fixed_k() {
    let (data, _) = five_blobs();
    let p = ClusterParams {
        k: Some(3),
        ..params(ClusterMethod::Agglomerative)
    };
    let c = run(&data, &p);
    check_labels(&c, data.rows());
    assert_eq!(c.info.k, Some(3));
    assert_eq!(c.num_clusters, 3);
}

#[test]
fn kmeans_recovers_blobs() {
    let (data, truth) = five_blobs();
    let p = ClusterParams {
        k: Some(5),
        ..params(ClusterMethod::Kmeans)
    };
    let c = run(&data, &p);
    check_labels(&c, data.rows());
    assert_eq!(c.num_clusters, 5);
    assert_eq!(c.info.k, Some(5));
    assert!(adjusted_rand(&c.labels, &truth) >= 0.95);
    assert!(purity(&c.labels, &truth) >= 0.95);
}

#[test]
fn kmeans_without_k_is_a_usage_error() {
    let (data, _) = five_blobs();
    let err = cluster(&data, &params(ClusterMethod::Kmeans), &Progress::hidden()).unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err:?}");
}

#[test]
fn invalid_parameters_are_usage_errors() {
    let (data, _) = blobs(&[30, 30], 0, 8, 0.05, 2);
    let bad = [
        ClusterParams {
            k: Some(0),
            ..params(ClusterMethod::Kmeans)
        },
        ClusterParams {
            k: Some(61),
            ..params(ClusterMethod::Kmeans)
        },
        ClusterParams {
            k: Some(61),
            ..params(ClusterMethod::Agglomerative)
        },
        ClusterParams {
            min_cluster_size: 1,
            ..params(ClusterMethod::Hdbscan)
        },
        ClusterParams {
            max_fit_rows: 1,
            ..params(ClusterMethod::Hdbscan)
        },
        ClusterParams {
            reduced_dims: 0,
            ..params(ClusterMethod::Hdbscan)
        },
        ClusterParams {
            min_samples: Some(0),
            ..params(ClusterMethod::Hdbscan)
        },
    ];
    for p in bad {
        let err = cluster(&data, &p, &Progress::hidden()).unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{p:?}: {err:?}");
    }
}

#[test]
fn hdbscan_sampling_path_assigns_rest_and_leaves_outliers_as_noise() {
    let (data, truth) = blobs(&[600; 5], 30, 64, 0.04, 3);
    let p = ClusterParams {
        max_fit_rows: 500,
        ..params(ClusterMethod::Hdbscan)
    };
    let c = run(&data, &p);
    check_labels(&c, data.rows());
    assert_eq!(c.info.fit_sample_size, Some(500));
    assert_eq!(c.num_clusters, 5);
    let (blob_pred, blob_truth): (Vec<_>, Vec<_>) = c
        .labels
        .iter()
        .zip(&truth)
        .filter(|(_, t)| t.is_some())
        .unzip();
    let ari = adjusted_rand(&blob_pred, &blob_truth);
    let pur = purity(&blob_pred, &blob_truth);
    assert!(ari >= 0.95 && pur >= 0.95, "ari {ari} purity {pur}");
    // Outliers outside the fit sample went through the assignment rule: all noise. (Those in
    // the sample are labelled by HDBSCAN itself, which may attach one to a cluster.)
    let sample = sample_indices(data.rows(), 500, p.seed, hdbscan::FIT_STREAM);
    let assigned_outliers: Vec<_> = (0..data.rows())
        .filter(|&i| truth[i].is_none() && sample.binary_search(&i).is_err())
        .map(|i| c.labels[i])
        .collect();
    assert!(assigned_outliers.len() >= 20);
    assert!(
        assigned_outliers.iter().all(Option::is_none),
        "{assigned_outliers:?}"
    );
    // Blob rows outside the sample are rarely noise.
    let assigned_noise = (0..data.rows())
        .filter(|&i| truth[i].is_some() && sample.binary_search(&i).is_err())
        .filter(|&i| c.labels[i].is_none())
        .count();
    assert!(
        assigned_noise * 100 <= 5 * 3000,
        "{assigned_noise} blob rows became noise"
    );
}

#[test]
fn sampling_paths_of_other_methods() {
    let (data, truth) = blobs(&[600; 5], 0, 64, 0.04, 4);
    let p = ClusterParams {
        max_fit_rows: 500,
        ..params(ClusterMethod::Agglomerative)
    };
    let c = run(&data, &p);
    check_labels(&c, data.rows());
    assert_eq!(c.info.fit_sample_size, Some(500));
    assert!(adjusted_rand(&c.labels, &truth) >= 0.95);
    let p = ClusterParams {
        max_fit_rows: 500,
        k: Some(5),
        ..params(ClusterMethod::Kmeans)
    };
    let c = run(&data, &p);
    check_labels(&c, data.rows());
    assert_eq!(c.info.fit_sample_size, Some(500));
    assert!(adjusted_rand(&c.labels, &truth) >= 0.95);
}

#[test]
fn same_input_and_seed_give_same_labels() {
    let (data, _) = blobs(&[300, 200, 100, 50], 40, 32, 0.06, 5);
    for method in [
        ClusterMethod::Hdbscan,
        ClusterMethod::Agglomerative,
        ClusterMethod::Kmeans,
    ] {
        for max_fit_rows in [15_000, 300] {
            let p = ClusterParams {
                k: (method == ClusterMethod::Kmeans).then_some(4),
                max_fit_rows,
                ..params(method)
            };
            let a = run(&data, &p);
            let b = run(&data, &p);
            assert_eq!(a.labels, b.labels, "{method:?} max_fit_rows {max_fit_rows}");
        }
    }
}

#[test]
fn small_and_degenerate_inputs_do_not_panic() {
    for method in [
        ClusterMethod::Hdbscan,
        ClusterMethod::Agglomerative,
        ClusterMethod::Kmeans,
    ] {
        let p = ClusterParams {
            k: (method == ClusterMethod::Kmeans).then_some(2),
            ..params(method)
        };
        // No rows.
        let c = run(&Matrix::zeros(0, 8), &p);
        assert!(c.labels.is_empty());
        assert_eq!(c.num_clusters, 0);
        // Fewer rows than the minimum cluster size: all noise.
        let (few, _) = blobs(&[5], 0, 8, 0.1, 6);
        let c = run(&few, &p);
        assert_eq!(c.labels, vec![None; 5]);
        assert_eq!(c.info.noise_rows, 5);
        // One row.
        let c = run(&Matrix::from_vec(1, 3, vec![1.0, 0.0, 0.0]), &p);
        assert_eq!(c.labels, vec![None]);
        // All rows identical: all noise.
        let same = Matrix::from_vec(50, 4, [0.5f32; 200].to_vec());
        let c = run(&same, &p);
        assert_eq!(c.labels, vec![None; 50]);
        // Exactly min_cluster_size rows, few dimensions (no PCA).
        let (exact, _) = blobs(&[10], 0, 3, 0.1, 7);
        let c = run(&exact, &p);
        check_labels(&c, 10);
        assert_eq!(c.info.dims, 3);
        // Many exact duplicates mixed with blobs.
        let (mut dup, _) = blobs(&[100, 100], 0, 16, 0.05, 8);
        let first = dup.row(0).to_vec();
        for i in 0..60 {
            dup.row_mut(i).copy_from_slice(&first);
        }
        let c = run(&dup, &p);
        check_labels(&c, 200);
        // Duplicates with sampling.
        let c = run(
            &dup,
            &ClusterParams {
                max_fit_rows: 80,
                ..p.clone()
            },
        );
        check_labels(&c, 200);
        // The smallest fit sample allowed, below the minimum cluster size.
        let (tiny_fit, _) = blobs(&[50, 50], 0, 16, 0.05, 9);
        let c = run(
            &tiny_fit,
            &ClusterParams {
                max_fit_rows: 2,
                ..p.clone()
            },
        );
        check_labels(&c, 100);
        assert_eq!(c.info.fit_sample_size, Some(2));
    }
}

#[test]
fn clusters_below_the_minimum_size_are_dropped() {
    // Four blobs of 100 and one tight blob of 5 rows.
    let (data, truth) = blobs(&[100, 100, 100, 100, 5], 0, 32, 0.03, 9);
    for method in [ClusterMethod::Agglomerative, ClusterMethod::Kmeans] {
        let p = ClusterParams {
            k: Some(5),
            ..params(method)
        };
        let c = run(&data, &p);
        check_labels(&c, data.rows());
        assert_eq!(c.num_clusters, 4, "{method:?}");
        for (l, t) in c.labels.iter().zip(&truth) {
            assert_eq!(l.is_none(), *t == Some(4), "{method:?}");
        }
        assert_eq!(c.info.noise_rows, 5);
    }
}

#[test]
fn hdbscan_noise_is_counted() {
    let (data, truth) = blobs(&[200, 200, 200], 25, 32, 0.04, 10);
    let c = run(&data, &params(ClusterMethod::Hdbscan));
    check_labels(&c, data.rows());
    assert_eq!(c.num_clusters, 3);
    let outliers_as_noise = c
        .labels
        .iter()
        .zip(&truth)
        .filter(|(l, t)| t.is_none() && l.is_none())
        .count();
    assert!(outliers_as_noise >= 20, "{outliers_as_noise} of 25");
    assert!(c.info.noise_rows >= outliers_as_noise);
    assert!(c.info.noise_rows <= 25 + 30, "{}", c.info.noise_rows);
}

/// Normalized synthetic blobs for timing: 40 blobs of uneven size and spread around random
/// unit centers, plus 5% uniformly random directions. Generated in parallel chunks.
fn timing_data(n: usize, dims: usize, seed: u64) -> Matrix {
    use rayon::prelude::*;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let blobs = 40;
    let centers: Vec<Vec<f32>> = (0..blobs).map(|_| random_unit(&mut rng, dims)).collect();
    let sigmas: Vec<f32> = (0..blobs).map(|_| rng.gen_range(0.02..0.06)).collect();
    // Blob b has weight 1/(b+1).
    let weights: Vec<f64> = (0..blobs).map(|b| 1.0 / (b + 1) as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut data = vec![0.0f32; n * dims];
    const CHUNK: usize = 4096;
    data.par_chunks_mut(CHUNK * dims)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(c as u64 + 1);
            for row in chunk.chunks_exact_mut(dims) {
                if rng.gen_bool(0.05) {
                    row.copy_from_slice(&random_unit(&mut rng, dims));
                    continue;
                }
                let mut u = rng.gen_range(0.0..total);
                let mut b = 0;
                while b + 1 < blobs && u >= weights[b] {
                    u -= weights[b];
                    b += 1;
                }
                for (x, &c) in row.iter_mut().zip(&centers[b]) {
                    *x = c + sigmas[b] * gaussian(&mut rng);
                }
                crate::matrix::normalize(row);
            }
        });
    Matrix::from_vec(n, dims, data)
}

/// CPU seconds (user + system) this process has used so far, from /proc (NaN elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Release-mode timing of the default pipeline (HDBSCAN) on 10k, 100k and 1M rows x 256 dims:
/// `cargo test --release --lib cluster::tests::timing -- --ignored --nocapture`
/// (`FAULTMAP_TIMING_ROWS=10000,100000` to choose sizes).
#[test]
#[ignore]
fn timing_default_params() {
    use std::time::Instant;
    let sizes: Vec<usize> = std::env::var("FAULTMAP_TIMING_ROWS")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("row count"))
        .collect();
    let p = ClusterParams::default();
    for n in sizes {
        let data = timing_data(n, 256, 11);
        let progress = Progress::hidden();
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let c = cluster(&data, &p, &progress).expect("clusters");
        let total = t.elapsed().as_secs_f64();
        let total_cpu = cpu_seconds() - cpu;
        // The same steps one by one.
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let reduced = reduce::reduce(&data, p.reduced_dims, p.seed, &progress).expect("pca");
        let pca = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let hdbscan_run = |rows: &Matrix| {
            let (t, cpu) = (Instant::now(), cpu_seconds());
            hdbscan::run(
                rows,
                p.min_cluster_size,
                p.min_cluster_size,
                hdbscan::cluster_size_cap(
                    p.max_cluster_share,
                    p.max_fit_rows.min(rows.rows()),
                    p.min_cluster_size,
                ),
                p.max_fit_rows,
                p.seed,
                &progress,
            )
            .expect("hdbscan");
            (t.elapsed().as_secs_f64(), cpu_seconds() - cpu)
        };
        let fit_and_assign = hdbscan_run(&reduced.data);
        let sample = sample_indices(n, p.max_fit_rows.min(n), p.seed, hdbscan::FIT_STREAM);
        let fit = hdbscan_run(&reduced.data.select_rows(&sample));
        println!(
            "rows {n}: total {total:.2} s ({total_cpu:.1} CPU s); by step, wall (CPU): \
             PCA {:.2} s ({:.1}), HDBSCAN fit on {} rows {:.2} s ({:.1}), assignment of {} \
             rows {:.2} s ({:.1}); {} clusters, {} noise rows, variance kept {:.2}",
            pca.0,
            pca.1,
            sample.len(),
            fit.0,
            fit.1,
            n - sample.len(),
            fit_and_assign.0 - fit.0,
            fit_and_assign.1 - fit.1,
            c.num_clusters,
            c.info.noise_rows,
            c.info.explained_variance.unwrap_or(1.0),
        );
        for (method, k) in [
            (ClusterMethod::Agglomerative, None),
            (ClusterMethod::Kmeans, Some(20)),
        ] {
            let p = ClusterParams {
                method,
                k,
                ..ClusterParams::default()
            };
            let t = Instant::now();
            let c = cluster(&data, &p, &progress).expect("clusters");
            println!(
                "rows {n}: {method:?} total {:.2} s (k {:?}, {} clusters)",
                t.elapsed().as_secs_f64(),
                c.info.k,
                c.num_clusters
            );
        }
    }
}

/// Harder synthetic data: 25 blobs in 256 dims whose sizes (40..800) and spreads (sigma
/// 0.02..0.07) vary, 10% uniformly random directions; returns truth (None = background).
fn quality_data(seed: u64) -> (Matrix, Vec<Option<usize>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dims = 256;
    let blobs = 25;
    let centers: Vec<Vec<f32>> = (0..blobs).map(|_| random_unit(&mut rng, dims)).collect();
    let mut rows = Vec::new();
    for (b, center) in centers.iter().enumerate() {
        let size = rng.gen_range(40..800);
        let sigma = rng.gen_range(0.02f32..0.07);
        for _ in 0..size {
            let mut v: Vec<f32> = center
                .iter()
                .map(|c| c + sigma * gaussian(&mut rng))
                .collect();
            crate::matrix::normalize(&mut v);
            rows.push((v, Some(b)));
        }
    }
    let background = rows.len() / 9;
    for _ in 0..background {
        rows.push((random_unit(&mut rng, dims), None));
    }
    for i in (1..rows.len()).rev() {
        let j = rng.gen_range(0..=i);
        rows.swap(i, j);
    }
    let truth = rows.iter().map(|r| r.1).collect();
    let n = rows.len();
    (
        Matrix::from_vec(n, dims, rows.into_iter().flat_map(|r| r.0).collect()),
        truth,
    )
}

/// Quality of parameter choices on `quality_data`:
/// `cargo test --release --lib cluster::tests::quality -- --ignored --nocapture`
#[test]
#[ignore]
fn quality_measurements() {
    use std::time::Instant;
    for seed in [21, 22, 23] {
        let (data, truth) = quality_data(seed);
        let n = data.rows();
        let on_blobs = |labels: &[Option<usize>]| {
            let (p, t): (Vec<_>, Vec<_>) = labels
                .iter()
                .zip(&truth)
                .filter(|(_, t)| t.is_some())
                .map(|(l, t)| (*l, *t))
                .unzip();
            let noise = p.iter().filter(|l| l.is_none()).count() as f64 / p.len() as f64;
            (adjusted_rand(&p, &t), noise)
        };
        let bg_noise = |labels: &[Option<usize>]| {
            let bg: Vec<_> = labels
                .iter()
                .zip(&truth)
                .filter(|(_, t)| t.is_none())
                .collect();
            bg.iter().filter(|(l, _)| l.is_none()).count() as f64 / bg.len() as f64
        };
        for min_samples in [None, Some(5), Some(3)] {
            for max_fit_rows in [15_000, 3_000] {
                let p = ClusterParams {
                    min_samples,
                    max_fit_rows,
                    ..params(ClusterMethod::Hdbscan)
                };
                let t = Instant::now();
                let c = run(&data, &p);
                let (ari, noise) = on_blobs(&c.labels);
                println!(
                    "seed {seed} n {n} hdbscan min_samples {min_samples:?} fit {max_fit_rows}: \
                     {} clusters, ARI on blob rows {ari:.3}, blob rows as noise {noise:.3}, \
                     background as noise {:.3}, {:.2} s",
                    c.num_clusters,
                    bg_noise(&c.labels),
                    t.elapsed().as_secs_f64()
                );
            }
        }
        let p = params(ClusterMethod::Agglomerative);
        let t = Instant::now();
        let c = run(&data, &p);
        let (ari, noise) = on_blobs(&c.labels);
        println!(
            "seed {seed} agglomerative: k {:?} silhouette {:?}, ARI {ari:.3}, noise {noise:.3}, \
             {:.2} s",
            c.info.k,
            c.info.silhouette,
            t.elapsed().as_secs_f64()
        );
        let p = ClusterParams {
            k: Some(25),
            ..params(ClusterMethod::Kmeans)
        };
        let t = Instant::now();
        let c = run(&data, &p);
        let (ari, noise) = on_blobs(&c.labels);
        println!(
            "seed {seed} kmeans k 25: ARI {ari:.3}, noise {noise:.3}, {:.2} s",
            t.elapsed().as_secs_f64()
        );
    }
}

/// Mean share of each point's 10 nearest other points on a map that share its blob.
fn map_agreement(points: &[[f32; 2]], truth: &[Option<usize>]) -> f64 {
    let total: f64 = (0..points.len())
        .map(|i| {
            let mut near: Vec<(f32, usize)> = (0..points.len())
                .filter(|&j| j != i)
                .map(|j| {
                    let (dx, dy) = (points[i][0] - points[j][0], points[i][1] - points[j][1]);
                    (dx * dx + dy * dy, j)
                })
                .collect();
            near.select_nth_unstable_by(9, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            near[..10]
                .iter()
                .filter(|&&(_, j)| truth[j] == truth[i])
                .count() as f64
                / 10.0
        })
        .sum();
    total / points.len() as f64
}

#[test]
fn the_umap_map_keeps_topics_apart_where_pca_overlaps_them() {
    // 20 topics in 128 dimensions: two principal components cannot show them all apart.
    let (m, truth) = blobs(&[60; 20], 0, 128, 0.06, 3);
    let umap = map_2d_with(&m, MapLayout::Umap, 42, &Progress::hidden()).unwrap();
    let pca = map_2d_with(&m, MapLayout::Pca, 42, &Progress::hidden()).unwrap();
    let (u, p) = (map_agreement(&umap, &truth), map_agreement(&pca, &truth));
    assert!(u >= 0.95 && u >= p + 0.25, "UMAP {u:.3}, PCA {p:.3}");
    assert!(umap.iter().flatten().all(|x| x.is_finite()));
}

#[test]
fn rows_beyond_the_map_sample_are_placed_with_their_topic() {
    let (m, truth) = blobs(&[750; 8], 0, 64, 0.08, 5);
    assert!(m.rows() > layout::LAYOUT_SAMPLE);
    let points = map_2d(&m, 7, &Progress::hidden()).unwrap();
    assert_eq!(points.len(), m.rows());
    let a = map_agreement(&points, &truth);
    assert!(a >= 0.95, "{a:.3}");
}

#[test]
fn the_map_is_seeded() {
    let (m, _) = blobs(&[80; 5], 10, 32, 0.1, 9);
    let bits = |p: Vec<[f32; 2]>| p.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
    let a = bits(map_2d(&m, 1, &Progress::hidden()).unwrap());
    assert_eq!(a, bits(map_2d(&m, 1, &Progress::hidden()).unwrap()));
    assert_ne!(a, bits(map_2d(&m, 2, &Progress::hidden()).unwrap()));
}

#[test]
fn tiny_and_degenerate_inputs_get_finite_places() {
    let (few, _) = blobs(&[3, 2], 0, 16, 0.1, 1);
    let same = Matrix::from_vec(40, 8, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0].repeat(40));
    for m in [few, same, Matrix::zeros(0, 8)] {
        let points = map_2d(&m, 3, &Progress::hidden()).unwrap();
        assert_eq!(points.len(), m.rows());
        assert!(points.iter().flatten().all(|x| x.is_finite()), "{points:?}");
    }
}
