//! Paired statistics for `faultmap regress`: a baseline run and a candidate run of the same
//! eval cases, compared case by case.
//!
//! Pairing matters. Two runs over the same cases share most of their variation (the hard cases
//! are hard for both models), so a test that treats the runs as independent samples throws
//! that information away and reports intervals several times too wide. Both tests here work on
//! within-case differences only:
//!
//! - [`paired_proportions`] for pass/fail outcomes: McNemar's test and Tango's (1998) score test
//!   and score interval for the difference of paired proportions. Only the discordant cases
//!   (passed in one run, failed in the other) carry information about the difference.
//! - [`paired_mean_bootstrap`] for graded scores: a paired (case-resampling) bootstrap of the
//!   mean score difference.
//!
//! Both report two one-sided p-values, because a regression gate asks two different questions:
//! - `p_worse`: is the candidate worse than the baseline by *more than* `margin`? H0: the
//!   difference (candidate minus baseline) is >= -margin; a small p is evidence of a regression
//!   beyond the tolerated margin. This is the test at the boundary of the non-inferiority
//!   region, oriented so that the gate trips on evidence of harm: a gate that fails when
//!   `p_worse` is small cannot be tripped by noise in a small eval set the way "the pass rate
//!   went down" can, and it does not demand proof of improvement from a change that was meant
//!   to be neutral. (The textbook non-inferiority p-value, H0: difference <= -margin, is the
//!   other tail of the same statistic: about 1 - `p_worse` for the score test.)
//! - `p_better`: is the candidate better? H0: the difference is <= 0; a small p is evidence of
//!   an improvement.
//!
//! Like the rest of [`crate::stats`], every function is total on valid input: numbers in their
//! documented ranges, never NaN.

use rand::distributions::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use statrs::distribution::{ContinuousCDF, Normal};

use super::{binomial_lower_tail, clamp_probability, half_chi_squared_1_sf};

/// Below this many discordant pairs the tests against a zero difference use the exact
/// conditional McNemar test instead of the normal approximation.
///
/// The McNemar z-statistic is a standardized Binomial(b + c, 1/2) count; with fewer than about
/// 25 trials its normal approximation misstates tail probabilities by tens of percent (the
/// usual textbook threshold, e.g. Fagerland, Lydersen & Laake 2013, BMC Med Res Methodol
/// 13:91), while the exact tail is a sum of at most 25 terms.
pub const EXACT_MCNEMAR_BELOW: u64 = 25;

/// Counts of a paired pass/fail comparison.
///
/// `pass_to_fail` (b) are cases the baseline passed and the candidate failed,
/// `fail_to_pass` (c) cases the baseline failed and the candidate passed, and `n` counts all
/// pairs, concordant ones included (they do not move the difference but they set its scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairedCounts {
    pub n: u64,
    pub pass_to_fail: u64,
    pub fail_to_pass: u64,
}

/// Which test produced [`PairedProportionTest::p_worse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairedTestKind {
    /// Exact conditional McNemar test: given b + c discordant pairs, c ~ Binomial(b + c, 1/2)
    /// under "no difference". Used for a zero margin with fewer than
    /// [`EXACT_MCNEMAR_BELOW`] discordant pairs.
    McnemarExact,
    /// Tango's (1998) asymptotic score test; with a zero margin it is McNemar's z-test.
    TangoScore,
}

/// Result of [`paired_proportions`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PairedProportionTest {
    /// (c - b) / n: candidate pass rate minus baseline pass rate, in [-1, 1].
    pub difference: f64,
    /// Two-sided Tango score interval for the difference at the requested confidence, within
    /// [-1, 1].
    pub ci: [f64; 2],
    /// One-sided p-value of H0: difference >= -margin against H1: difference < -margin.
    /// Small means the candidate is worse than the baseline by more than the margin.
    pub p_worse: f64,
    /// One-sided p-value of H0: difference <= 0 against H1: difference > 0.
    /// Small means the candidate is better than the baseline.
    pub p_better: f64,
    /// The test behind `p_worse`.
    pub test: PairedTestKind,
}

/// Paired comparison of pass rates: the difference, Tango's score interval for it, and the two
/// one-sided p-values (see the module docs for what each answers).
///
/// # Model
/// Each case falls in one of four cells: both pass, pass→fail (probability q_b), fail→pass
/// (q_c), both fail. The difference of pass rates is δ = q_c - q_b, estimated by (c - b) / n.
///
/// # Tango's score statistic (Tango 1998, Stat Med 17:891-908, eq. 3; Liu et al. 2002, Stat
/// Med 21:231-245; Fagerland, Lydersen & Laake 2014, Stat Med 33:2850-2875)
/// To test H0: δ = δ0,
///
/// ```text
/// Z(δ0) = (c - b - n δ0) / sqrt(n (2 q̃ + δ0 (1 - δ0)))
/// ```
///
/// where q̃ is the maximum-likelihood estimate of q_b *restricted* to δ = δ0, the root of
/// `2n q² + [δ0 (2n + b - c) - (b + c)] q - b δ0 (1 - δ0) = 0`:
/// `q̃ = (sqrt(B² - 4AC) - B) / 2A` with A = 2n, B = δ0 (2n + b - c) - (b + c),
/// C = -b δ0 (1 - δ0). The denominator is the standard deviation of c - b under H0
/// (Var = n (q_b + q_c - δ0²)). Estimating it under H0 rather than from the observed
/// discordant counts (the Wald approach) is what keeps the test honest when b + c is small or
/// zero: with a positive margin and no discordant pairs at all, the variance under
/// δ = -margin is n·margin·(1 - margin) > 0, so Z(-margin) = sqrt(n·margin / (1 - margin)) is
/// finite and "no case changed" weighs against a loss of `margin` in proportion to n, where the
/// Wald statistic would divide by zero.
///
/// At δ0 = 0 the restricted estimate is q̃ = (b + c) / 2n and Z reduces to McNemar's
/// z = (c - b) / sqrt(b + c).
///
/// # p-values
/// - `p_worse` = Φ(Z(-margin)), the lower tail, except when `margin == 0` and
///   b + c < [`EXACT_MCNEMAR_BELOW`]: then the exact conditional McNemar test,
///   P(X <= c) for X ~ Binomial(b + c, 1/2), reported as [`PairedTestKind::McnemarExact`].
///   (With a positive margin there is no exact conditional test: the discordant split depends
///   on the nuisance q_b under H0, so the score test is used at any size.)
/// - `p_better` always tests against 0: P(X >= c) = P(Binomial(b + c, 1/2) <= b) when
///   b + c < [`EXACT_MCNEMAR_BELOW`], else 1 - Φ(z) with McNemar's z (= Tango's Z(0)).
///
/// # Interval
/// `ci` is {δ0 : |Z(δ0)| <= z_(1-α/2)}, α = 1 - `confidence`: the inversion of the score test
/// (Tango 1998, section 3). Z is decreasing in δ0, so each end is found by bisection to about
/// 1e-15; the ends lie in [-1, 1] by construction. Because the same statistic gives the
/// p-values, for `margin > 0` the interval and `p_worse` always agree:
/// `p_worse < (1 - confidence) / 2` exactly when `ci[1] < -margin`. The exact McNemar
/// p-values used for few discordant pairs need not agree with the asymptotic interval.
///
/// # Edge cases
/// - n = 0: difference 0, ci [-1, 1], both p-values 1.
/// - b + c = 0: difference 0; `p_better` = 1; `p_worse` = 1 with a zero margin, and
///   Φ(sqrt(n·margin / (1 - margin))) (close to 1: no sign of a regression) from the score test
///   with a positive margin.
/// - Every pair discordant in one direction (b = n or c = n): the interval reaches -1 or 1.
/// - `margin` is meant to be in [0, 1). NaN or negative margins are treated as 0. A margin of
///   1 or more makes H0 (difference >= -margin) true by definition, since a difference of pass
///   rates cannot be below -1, so `p_worse` is 1 (score test reported).
///
/// # Panics
/// If `pass_to_fail + fail_to_pass > n` or `confidence` is not strictly between 0 and 1: caller
/// bugs (the CLI validates user input before it gets here).
pub fn paired_proportions(
    counts: PairedCounts,
    margin: f64,
    confidence: f64,
) -> PairedProportionTest {
    let PairedCounts {
        n,
        pass_to_fail: b,
        fail_to_pass: c,
    } = counts;
    let discordant = b.checked_add(c).filter(|&d| d <= n);
    assert!(
        discordant.is_some(),
        "inconsistent paired counts: {b} pass-to-fail + {c} fail-to-pass > {n} pairs"
    );
    let discordant = discordant.unwrap_or(n);
    assert!(
        confidence > 0.0 && confidence < 1.0,
        "confidence must be in (0, 1), got {confidence}"
    );
    let margin = if margin.is_nan() {
        0.0
    } else {
        margin.clamp(0.0, 1.0)
    };
    let exact = discordant < EXACT_MCNEMAR_BELOW;

    if n == 0 {
        return PairedProportionTest {
            difference: 0.0,
            ci: [-1.0, 1.0],
            p_worse: 1.0,
            p_better: 1.0,
            test: if margin == 0.0 && exact {
                PairedTestKind::McnemarExact
            } else {
                PairedTestKind::TangoScore
            },
        };
    }

    let difference = (c as f64 - b as f64) / n as f64;
    let z_crit = -Normal::standard().inverse_cdf((1.0 - confidence) / 2.0);
    let ci = tango_interval(counts, z_crit);

    let p_better = if exact {
        // P(C >= c | b + c) = P(B <= b | b + c), the two counts being exchangeable under H0.
        binomial_lower_tail(b, discordant, 0.5)
    } else {
        normal_upper_tail(tango_z(counts, 0.0))
    };
    let (p_worse, test) = if margin == 0.0 && exact {
        (
            binomial_lower_tail(c, discordant, 0.5),
            PairedTestKind::McnemarExact,
        )
    } else if margin >= 1.0 {
        (1.0, PairedTestKind::TangoScore)
    } else {
        (
            normal_lower_tail(tango_z(counts, -margin)),
            PairedTestKind::TangoScore,
        )
    };
    PairedProportionTest {
        difference,
        ci,
        p_worse: clamp_probability(p_worse),
        p_better: clamp_probability(p_better),
        test,
    }
}

/// Tango's score statistic Z(δ0) (see [`paired_proportions`]), for n > 0 and δ0 in [-1, 1].
///
/// Where the variance under H0 vanishes (δ0 = ±1, or b = c = 0 at δ0 = 0) the statistic is
/// taken as its sign: ±∞ when the numerator is nonzero, 0 when it is zero too (the data sit
/// exactly on the boundary hypothesis).
fn tango_z(counts: PairedCounts, delta0: f64) -> f64 {
    let n = counts.n as f64;
    let b = counts.pass_to_fail as f64;
    let c = counts.fail_to_pass as f64;
    let numerator = c - b - n * delta0;

    let qa = 2.0 * n;
    let qb = delta0 * (2.0 * n + b - c) - (b + c);
    let qc = -b * delta0 * (1.0 - delta0);
    let root = (qb * qb - 4.0 * qa * qc).max(0.0).sqrt();
    // The larger root, written so that it does not cancel: (root - B) / 2A when B <= 0, and
    // the algebraically equal -2C / (B + root) when B > 0 (which needs δ0 > 0, so C <= 0).
    let q = if qb <= 0.0 {
        (root - qb) / (2.0 * qa)
    } else {
        -2.0 * qc / (qb + root)
    };
    let variance = n * (2.0 * q + delta0 * (1.0 - delta0));
    if variance > 0.0 && variance.is_finite() {
        numerator / variance.sqrt()
    } else if numerator > 0.0 {
        f64::INFINITY
    } else if numerator < 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    }
}

/// {δ0 in [-1, 1] : -z_crit <= Z(δ0) <= z_crit}, for n > 0.
fn tango_interval(counts: PairedCounts, z_crit: f64) -> [f64; 2] {
    let estimate = (counts.fail_to_pass as f64 - counts.pass_to_fail as f64) / counts.n as f64;
    // Z(estimate) = 0 (or the numerator is 0 there), so each limit lies between the estimate
    // and the end of the range, unless Z never reaches the critical value on that side.
    let lower = if tango_z(counts, -1.0) <= z_crit {
        -1.0
    } else {
        bisect_decreasing(|d| tango_z(counts, d) - z_crit, -1.0, estimate)
    };
    let upper = if tango_z(counts, 1.0) >= -z_crit {
        1.0
    } else {
        bisect_decreasing(|d| tango_z(counts, d) + z_crit, estimate, 1.0)
    };
    [lower.clamp(-1.0, 1.0), upper.clamp(-1.0, 1.0)]
}

/// The sign change of a decreasing `f` with f(lo) > 0 >= f(hi), to about 1e-15.
fn bisect_decreasing(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi || hi - lo <= 1e-15 {
            break;
        }
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Φ(z), accurate in the far tails (through the chi-squared(1) tail in the parent module;
/// statrs' `Normal::cdf` inherits its erfc's ~1e-10 relative error).
fn normal_lower_tail(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    let tail = half_chi_squared_1_sf(z * z); // P(Z > |z|)
    if z <= 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// 1 - Φ(z).
fn normal_upper_tail(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    normal_lower_tail(-z)
}

/// Result of [`paired_mean_bootstrap`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PairedMeanTest {
    /// Mean of the per-case differences (candidate minus baseline).
    pub mean_difference: f64,
    /// Percentile bootstrap interval for the mean difference at the requested confidence.
    pub ci: [f64; 2],
    /// (1 + #{resampled mean >= -margin}) / (resamples + 1): one-sided p-value of
    /// H0: mean difference >= -margin. Small means the candidate scores lower by more than
    /// the margin.
    pub p_worse: f64,
    /// (1 + #{resampled mean <= 0}) / (resamples + 1): one-sided p-value of
    /// H0: mean difference <= 0. Small means the candidate scores higher.
    pub p_better: f64,
    /// Number of bootstrap resamples behind the interval and p-values (0 for empty input).
    pub resamples: usize,
}

/// Paired bootstrap for a mean score difference: the mean of `differences` (candidate score
/// minus baseline score, one per case), a percentile interval, and the two one-sided p-values.
///
/// # Method
/// Each resample draws n cases with replacement and takes the mean of their differences;
/// resampling *cases* (not the two runs separately) keeps the pairing (Efron & Tibshirani
/// 1993, "An Introduction to the Bootstrap", ch. 13 and 16). The interval is the percentile
/// interval: the α/2 and 1 - α/2 quantiles of the resampled means (linear interpolation
/// between order statistics, numpy's default / Hyndman & Fan type 7), α = 1 - `confidence`.
/// A bootstrap is used rather than a t-interval because score differences are bounded,
/// discrete and often skewed (most cases unchanged, a few flipping), where the percentile
/// interval adapts to the skew; for large normal samples it agrees with the t-interval.
///
/// The p-values are the bootstrap proportions on the null side of each hypothesis, with the
/// usual +1 in numerator and denominator (Davison & Hinkley 1997, "Bootstrap Methods and their
/// Application", eq. 4.11) so they are never 0 and are valid for a finite number of resamples.
/// They match the interval: `p_worse < α/2` goes with `ci[1] < -margin` and `p_better < α/2`
/// with `ci[0] > 0`, up to the resolution of 1 / (resamples + 1).
///
/// # Determinism
/// Resample r draws its case indices from its own generator: ChaCha8 keyed by
/// `ChaCha8Rng::seed_from_u64(seed)` (rand_core's documented PCG32 expansion of the seed into
/// the 256-bit key), on stream r (`set_stream(r)`), from word 0. The resampled means are
/// collected in resample order, so the result depends on `seed` alone, not on the number of
/// threads or how rayon splits the work.
///
/// # Cost
/// O(n · resamples) index draws, spread over rayon's pool; 10,000 resamples of 12,000
/// differences take about 0.25 s of CPU time in a release build (0.34-0.46 s wall measured on
/// 2 cores that other jobs were also using; see the ignored `bootstrap_timing` test).
///
/// # Edge cases
/// - Empty input: mean 0, ci [0, 0], both p-values 1, `resamples` 0.
/// - All differences equal (d): every resample has mean d, so ci = [d, d] and each p-value is
///   1 or 1 / (resamples + 1); computed directly, without rounding noise from summation.
/// - NaN or negative `margin` is treated as 0.
///
/// # Panics
/// If `confidence` is not strictly between 0 and 1, `resamples` is 0, or a difference is NaN
/// or infinite: caller bugs.
pub fn paired_mean_bootstrap(
    differences: &[f64],
    margin: f64,
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> PairedMeanTest {
    assert!(
        confidence > 0.0 && confidence < 1.0,
        "confidence must be in (0, 1), got {confidence}"
    );
    assert!(resamples > 0, "the bootstrap needs at least one resample");
    assert!(
        differences.iter().all(|d| d.is_finite()),
        "score differences must be finite"
    );
    let margin = if margin.is_nan() {
        0.0
    } else {
        margin.max(0.0)
    };
    if differences.is_empty() {
        return PairedMeanTest {
            mean_difference: 0.0,
            ci: [0.0, 0.0],
            p_worse: 1.0,
            p_better: 1.0,
            resamples: 0,
        };
    }
    let n = differences.len();
    let p_value = |count: usize| (1 + count) as f64 / (resamples + 1) as f64;

    let first = differences[0];
    if differences.iter().all(|&d| d == first) {
        let all_or_none = |holds: bool| if holds { resamples } else { 0 };
        return PairedMeanTest {
            mean_difference: first,
            ci: [first, first],
            p_worse: p_value(all_or_none(first >= -margin)),
            p_better: p_value(all_or_none(first <= 0.0)),
            resamples,
        };
    }

    let mean_difference = differences.iter().sum::<f64>() / n as f64;
    let mut means = resampled_means(differences, resamples, seed);
    means.sort_unstable_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    let ci = [
        quantile_sorted(&means, alpha / 2.0),
        quantile_sorted(&means, 1.0 - alpha / 2.0),
    ];
    let at_least = means.iter().filter(|&&m| m >= -margin).count();
    let at_most_zero = means.iter().filter(|&&m| m <= 0.0).count();
    PairedMeanTest {
        mean_difference,
        ci,
        p_worse: p_value(at_least),
        p_better: p_value(at_most_zero),
        resamples,
    }
}

/// The mean of each bootstrap resample, in resample order (see [`paired_mean_bootstrap`] for
/// the generator of each resample). `differences` is not empty.
fn resampled_means(differences: &[f64], resamples: usize, seed: u64) -> Vec<f64> {
    let n = differences.len();
    let base = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples)
        .into_par_iter()
        .map(|r| {
            let mut rng = base.clone();
            rng.set_stream(r as u64);
            // 32-bit indices when they suffice: half the generator output per draw.
            let sum = match u32::try_from(n) {
                Ok(n32) => {
                    let index = Uniform::new(0, n32);
                    sum_of_draws(n, || differences[index.sample(&mut rng) as usize])
                }
                Err(_) => {
                    let index = Uniform::new(0, n);
                    sum_of_draws(n, || differences[index.sample(&mut rng)])
                }
            };
            sum / n as f64
        })
        .collect()
}

/// Sum of `count` values from `draw`, in four interleaved running sums (draw i goes to sum
/// i mod 4) added at the end: a fixed order, so deterministic, without one long chain of
/// dependent additions limiting the speed.
fn sum_of_draws(count: usize, mut draw: impl FnMut() -> f64) -> f64 {
    let mut sums = [0.0f64; 4];
    for i in 0..count {
        sums[i % 4] += draw();
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3])
}

/// Quantile `p` of sorted, non-empty `values` by linear interpolation between order
/// statistics (Hyndman & Fan type 7, numpy's default).
fn quantile_sorted(values: &[f64], p: f64) -> f64 {
    let h = (values.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let below = h.floor() as usize;
    let above = (below + 1).min(values.len() - 1);
    let fraction = h - below as f64;
    values[below] + fraction * (values[above] - values[below])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(b: u64, c: u64, n: u64) -> PairedCounts {
        PairedCounts {
            n,
            pass_to_fail: b,
            fail_to_pass: c,
        }
    }

    fn close(got: f64, want: f64, tol: f64) -> bool {
        (got - want).abs() <= tol
    }

    #[test]
    fn tango_interval_matches_the_published_cavo_example() {
        // Cavo et al. (2012), complete response before/after consolidation therapy, the worked
        // example of Fagerland, Lydersen & Laake (2014, Stat Med 33:2850-2875; also their 2017
        // book "Statistical Analysis of Contingency Tables", ch. 8): table [[59, 6], [16, 80]],
        // n = 161, published Tango 95% interval -0.1240 to -0.0054 for (n12 - n21) / n =
        // -0.0621, McNemar Z = -2.132 (two-sided asymptotic P = 0.033006) and exact
        // conditional two-sided P = 0.052479 (R package contingencytables' tests).
        // With difference = (c - b) / n that is c = n12 = 6, b = n21 = 16.
        let t = paired_proportions(counts(16, 6, 161), 0.0, 0.95);
        assert!(close(t.difference, -0.0621, 5e-5));
        assert!(close(t.ci[0], -0.1240, 5e-5), "{:?}", t.ci);
        assert!(close(t.ci[1], -0.0054, 5e-5), "{:?}", t.ci);
        assert!(close(tango_z(counts(16, 6, 161), 0.0), -2.132, 5e-4));
        // 22 discordant pairs: exact McNemar; twice the smaller tail is the published P.
        assert_eq!(t.test, PairedTestKind::McnemarExact);
        assert!(close(2.0 * t.p_worse, 0.052479, 5e-7), "{}", t.p_worse);
        // The asymptotic two-sided P from our normal tail.
        let z = tango_z(counts(16, 6, 161), 0.0);
        assert!(close(2.0 * normal_lower_tail(z), 0.033006, 5e-7));
    }

    /// Reference values from `tools/paired_reference.py`: an independent implementation that
    /// maximizes the restricted likelihood numerically (mpmath, 50 digits) instead of using
    /// the closed-form root, and inverts the score test by high-precision bisection. Tables:
    /// the Cavo example, PropCIs' `scoreci.mp(b = 40, c = 20, n = 160)` example, the Bentur
    /// et al. (2009) example of Fagerland et al. (2014) with n12 = 1, n21 = 7, n = 21, and
    /// eval-sized tables, including no discordant pairs and all pairs discordant.
    #[test]
    fn tango_matches_the_independent_reference() {
        // (b, c, n, margin, ci lower, ci upper, Z(0) or NaN, Z(-margin), p_worse, p_better)
        let nan = f64::NAN;
        let cases = [
            (
                16,
                6,
                161,
                0.05,
                -0.12402343246406815,
                -0.0054333957316770945,
                -2.1320071635561044,
                -0.4260577914739003,
                0.3350328677026454,
                0.9834968711693838,
            ),
            (
                40,
                20,
                160,
                0.05,
                -0.2180642441668248,
                -0.030864533133086743,
                -2.581988897471611,
                -1.5680596433624598,
                0.058433606827729516,
                0.9950883627462404,
            ),
            (
                7,
                1,
                21,
                0.10,
                -0.5172322764213774,
                -0.026003032480868597,
                -2.1213203435596424,
                -1.4713332163625177,
                0.07060051226932468,
                0.9830525732376554,
            ),
            (
                30,
                45,
                500,
                0.02,
                -0.004033117230662305,
                0.06481733351273093,
                1.7320508075688772,
                2.8393780375390376,
                0.9977399214604357,
                0.0416322583317752,
            ),
            (
                12,
                3,
                1000,
                0.01,
                -0.018212329512177158,
                -0.0016237288521953677,
                -2.32379000772445,
                0.2537246021391567,
                0.6001458369439773,
                0.9899316242248268,
            ),
            (
                0,
                0,
                50,
                0.05,
                -0.07134759913335871,
                0.07134759913335871,
                nan,
                1.6222142113076254,
                0.9476212550751346,
                1.0,
            ),
            (
                5,
                0,
                5,
                0.10,
                -1.0,
                -0.13103507043365056,
                -2.23606797749979,
                -2.0225995873897262,
                0.021557223391537678,
                0.9873263406612659,
            ),
            (
                210,
                180,
                12000,
                0.01,
                -0.005750947003162306,
                0.0007289568531538754,
                -1.5191090506254998,
                4.423337346061957,
                0.9999951406096405,
                0.935632475521026,
            ),
        ];
        for (b, c, n, margin, lo, hi, z0, zm, p_worse, p_better) in cases {
            let k = counts(b, c, n);
            let t = paired_proportions(k, margin, 0.95);
            assert!(close(t.ci[0], lo, 1e-9), "{b} {c} {n}: {:?}", t.ci);
            assert!(close(t.ci[1], hi, 1e-9), "{b} {c} {n}: {:?}", t.ci);
            if !z0.is_nan() {
                assert!(close(tango_z(k, 0.0), z0, 1e-9), "{b} {c} {n}");
            }
            assert!(close(tango_z(k, -margin), zm, 1e-9), "{b} {c} {n}");
            assert_eq!(t.test, PairedTestKind::TangoScore);
            assert!(
                close(t.p_worse, p_worse, 1e-9),
                "{b} {c} {n}: {}",
                t.p_worse
            );
            if b + c >= EXACT_MCNEMAR_BELOW {
                assert!(close(t.p_better, p_better, 1e-9), "{b} {c} {n}");
            }
        }
    }

    #[test]
    fn tango_at_zero_is_mcnemar() {
        for (b, c, n) in [
            (16u64, 6u64, 161u64),
            (1, 0, 1),
            (0, 3, 10),
            (100, 140, 12000),
            (25, 0, 25),
            (300, 299, 2000),
            (7, 7, 14),
        ] {
            let want = (c as f64 - b as f64) / ((b + c) as f64).sqrt();
            let got = tango_z(counts(b, c, n), 0.0);
            assert!(close(got, want, 1e-12 * want.abs().max(1.0)), "{b} {c} {n}");
        }
        // With enough discordant pairs p_better is the one-sided McNemar z-test.
        let t = paired_proportions(counts(20, 35, 400), 0.0, 0.95);
        assert_eq!(t.test, PairedTestKind::TangoScore);
        let z = 15.0 / 55f64.sqrt();
        assert!(close(t.p_better, normal_upper_tail(z), 1e-15));
        assert!(close(t.p_worse, normal_lower_tail(z), 1e-15));
    }

    #[test]
    fn exact_mcnemar_matches_hand_sums() {
        // P(Bin(m, 1/2) <= k) as exact fractions (tools/paired_reference.py, or by hand):
        // 9/256 = (1 + 8) / 2^8; 79/4096 = (1 + 12 + 66) / 2^12; 13757/524288 for the Cavo
        // example; 1/2^24; 4870343/8388608.
        let t = paired_proportions(counts(7, 1, 40), 0.0, 0.95);
        assert_eq!(t.test, PairedTestKind::McnemarExact);
        assert!(close(t.p_worse, 9.0 / 256.0, 1e-12));
        assert!(close(t.p_better, 255.0 / 256.0, 1e-12));
        let t = paired_proportions(counts(2, 10, 100), 0.0, 0.95);
        assert!(close(t.p_better, 79.0 / 4096.0, 1e-12));
        // P(C <= 10) = 1 - P(C >= 11) = 1 - (12 + 1) / 2^12.
        assert!(close(t.p_worse, 4083.0 / 4096.0, 1e-12));
        let t = paired_proportions(counts(16, 6, 161), 0.0, 0.95);
        assert!(close(t.p_worse, 13757.0 / 524288.0, 1e-12));
        let t = paired_proportions(counts(24, 0, 24), 0.0, 0.95);
        assert!(close(t.p_worse, 1.0 / 16_777_216.0, 1e-20));
        let t = paired_proportions(counts(12, 12, 30), 0.0, 0.95);
        assert!(close(t.p_worse, 4870343.0 / 8388608.0, 1e-12));
        assert!(close(t.p_better, 4870343.0 / 8388608.0, 1e-12));
        // 25 discordant pairs: the z-test takes over.
        let t = paired_proportions(counts(13, 12, 30), 0.0, 0.95);
        assert_eq!(t.test, PairedTestKind::TangoScore);
        // A positive margin always uses the score test for p_worse, but p_better stays exact.
        let t = paired_proportions(counts(7, 1, 40), 0.05, 0.95);
        assert_eq!(t.test, PairedTestKind::TangoScore);
        assert!(close(t.p_better, 255.0 / 256.0, 1e-12));
    }

    #[test]
    fn edge_cases_are_finite() {
        let t = paired_proportions(counts(0, 0, 0), 0.0, 0.95);
        assert_eq!(t.difference, 0.0);
        assert_eq!(t.ci, [-1.0, 1.0]);
        assert_eq!((t.p_worse, t.p_better), (1.0, 1.0));
        let t = paired_proportions(counts(0, 0, 0), 0.05, 0.95);
        assert_eq!((t.ci, t.p_worse, t.p_better), ([-1.0, 1.0], 1.0, 1.0));

        // No discordant pairs, zero margin: no evidence either way.
        let t = paired_proportions(counts(0, 0, 500), 0.0, 0.95);
        assert_eq!((t.difference, t.p_worse, t.p_better), (0.0, 1.0, 1.0));
        assert!(t.ci[0] < 0.0 && t.ci[1] > 0.0 && close(t.ci[0], -t.ci[1], 1e-14));
        // ... positive margin: the score test still has a variance under H0, and 500
        // unchanged cases are no sign of a regression: Z(-0.02) = sqrt(500 * 0.02 / 0.98).
        let t = paired_proportions(counts(0, 0, 500), 0.02, 0.95);
        let z = (500.0 * 0.02 / 0.98f64).sqrt();
        assert!(close(tango_z(counts(0, 0, 500), -0.02), z, 1e-12));
        assert!(
            close(t.p_worse, normal_lower_tail(z), 1e-15),
            "{}",
            t.p_worse
        );
        assert!(t.p_worse > 0.999);
        assert_eq!(t.p_better, 1.0);
        assert!(t.ci[1] < 0.02 && t.ci[0] > -0.02);

        // Every pair discordant, either way, exact and asymptotic.
        for (b, c) in [(30u64, 0u64), (0, 30), (10, 0), (0, 10), (15, 15), (1, 0)] {
            for margin in [0.0, 0.05, 0.5] {
                let t = paired_proportions(counts(b, c, b + c), margin, 0.95);
                let all = [t.difference, t.ci[0], t.ci[1], t.p_worse, t.p_better];
                assert!(all.iter().all(|v| v.is_finite()), "{b} {c} {margin}: {t:?}");
                assert!(t.ci[0] <= t.difference && t.difference <= t.ci[1], "{t:?}");
                assert!((-1.0..=1.0).contains(&t.ci[0]) && (-1.0..=1.0).contains(&t.ci[1]));
            }
        }
        assert_eq!(paired_proportions(counts(30, 0, 30), 0.0, 0.95).ci[0], -1.0);
        assert_eq!(paired_proportions(counts(0, 30, 30), 0.0, 0.95).ci[1], 1.0);

        // Margins outside [0, 1).
        let t = paired_proportions(counts(40, 0, 40), 1.0, 0.95);
        assert_eq!((t.p_worse, t.test), (1.0, PairedTestKind::TangoScore));
        let t = paired_proportions(counts(40, 0, 40), 7.0, 0.95);
        assert_eq!(t.p_worse, 1.0);
        let a = paired_proportions(counts(9, 2, 40), f64::NAN, 0.95);
        let b = paired_proportions(counts(9, 2, 40), -0.3, 0.95);
        assert_eq!(a, paired_proportions(counts(9, 2, 40), 0.0, 0.95));
        assert_eq!(a, b);
        // A margin just below 1 stays finite.
        let t = paired_proportions(counts(40, 0, 40), 1.0 - 1e-12, 0.95);
        assert!(t.p_worse.is_finite() && t.p_worse > 0.4);
    }

    #[test]
    fn score_statistic_is_decreasing() {
        // Bisection relies on it.
        for (b, c, n) in [
            (16u64, 6u64, 161u64),
            (0, 0, 50),
            (5, 0, 5),
            (0, 7, 9),
            (3, 3, 6),
        ] {
            let k = counts(b, c, n);
            let mut previous = f64::INFINITY;
            for i in 0..=2000 {
                let d = -1.0 + i as f64 / 1000.0;
                let z = tango_z(k, d);
                assert!(!z.is_nan(), "{b} {c} {n} at {d}");
                assert!(z <= previous + 1e-9, "{b} {c} {n} at {d}: {z} > {previous}");
                previous = z;
            }
        }
    }

    #[test]
    fn p_worse_agrees_with_the_interval() {
        // For margin > 0: p_worse < (1 - confidence) / 2 exactly when ci[1] < -margin.
        let mut checked = 0;
        let mut rejected = 0;
        for n in [1u64, 2, 7, 20, 60, 200, 1000] {
            let step = (n / 20).max(1);
            for b in (0..=n).step_by(step as usize) {
                for c in (0..=n - b).step_by(step as usize) {
                    for margin in [0.001, 0.01, 0.02, 0.05, 0.1, 0.3, 0.9] {
                        for confidence in [0.8, 0.9, 0.95, 0.99] {
                            let t = paired_proportions(counts(b, c, n), margin, confidence);
                            if (t.ci[1] + margin).abs() < 1e-9 {
                                continue;
                            }
                            let by_p = t.p_worse < (1.0 - confidence) / 2.0;
                            let by_ci = t.ci[1] < -margin;
                            assert_eq!(by_p, by_ci, "b {b} c {c} n {n} m {margin}: {t:?}");
                            checked += 1;
                            rejected += usize::from(by_p);
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000 && rejected > 500, "{checked} {rejected}");
    }

    #[test]
    fn p_better_agrees_with_the_interval_for_many_discordant_pairs() {
        for n in [40u64, 200, 1000] {
            for b in (0..=n).step_by((n / 40) as usize) {
                for c in (0..=n - b).step_by((n / 40) as usize) {
                    if b + c < EXACT_MCNEMAR_BELOW {
                        continue;
                    }
                    let t = paired_proportions(counts(b, c, n), 0.0, 0.95);
                    if t.ci[0].abs() < 1e-9 {
                        continue;
                    }
                    assert_eq!(t.p_better < 0.025, t.ci[0] > 0.0, "{b} {c} {n}");
                    assert_eq!(t.p_worse < 0.025, t.ci[1] < 0.0, "{b} {c} {n}");
                }
            }
        }
    }

    #[test]
    fn bootstrap_edge_cases() {
        let t = paired_mean_bootstrap(&[], 0.05, 0.95, 1000, 1);
        assert_eq!(
            t,
            PairedMeanTest {
                mean_difference: 0.0,
                ci: [0.0, 0.0],
                p_worse: 1.0,
                p_better: 1.0,
                resamples: 0
            }
        );
        let t = paired_mean_bootstrap(&[0.0; 50], 0.0, 0.95, 999, 1);
        assert_eq!((t.mean_difference, t.ci), (0.0, [0.0, 0.0]));
        assert_eq!((t.p_worse, t.p_better), (1.0, 1.0));
        let t = paired_mean_bootstrap(&[0.1; 12_000], 0.0, 0.95, 999, 1);
        assert_eq!((t.mean_difference, t.ci), (0.1, [0.1, 0.1]));
        assert_eq!((t.p_worse, t.p_better), (1.0, 0.001));
        let t = paired_mean_bootstrap(&[-0.2; 10], 0.1, 0.95, 999, 1);
        assert_eq!((t.p_worse, t.p_better), (0.001, 1.0));
        let t = paired_mean_bootstrap(&[0.7], 0.0, 0.9, 10, 1);
        assert_eq!((t.ci, t.resamples), ([0.7, 0.7], 10));
    }

    /// Deterministic standard normal draws (Box-Muller) for the tests.
    fn normals(n: usize, seed: u64) -> Vec<f64> {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let u: f64 = 1.0 - rng.gen::<f64>();
                let v: f64 = rng.gen();
                (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            })
            .collect()
    }

    #[test]
    fn bootstrap_is_deterministic_across_thread_pools() {
        let data: Vec<f64> = normals(3000, 5).iter().map(|x| 0.1 * x - 0.01).collect();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool")
                .install(|| paired_mean_bootstrap(&data, 0.02, 0.95, 2000, 42))
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
        assert_eq!(one, paired_mean_bootstrap(&data, 0.02, 0.95, 2000, 42));
        assert_ne!(one, paired_mean_bootstrap(&data, 0.02, 0.95, 2000, 43));
    }

    #[test]
    fn bootstrap_interval_covers_a_skewed_mean() {
        // 400 datasets of n = 200 from Exp(1) - 1 (mean 0, skewness 2); the percentile
        // interval's coverage should be close to 95% (a little under, as is usual for it).
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let mut covered = 0;
        let datasets = 400;
        for i in 0..datasets {
            let data: Vec<f64> = (0..200)
                .map(|_| -(1.0 - rng.gen::<f64>()).ln() - 1.0)
                .collect();
            let t = paired_mean_bootstrap(&data, 0.0, 0.95, 1000, i);
            covered += usize::from(t.ci[0] <= 0.0 && 0.0 <= t.ci[1]);
        }
        let coverage = covered as f64 / datasets as f64;
        assert!((0.92..=0.97).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn bootstrap_interval_is_close_to_the_t_interval_for_normal_data() {
        use statrs::distribution::StudentsT;
        let n = 5000;
        let data: Vec<f64> = normals(n, 9).iter().map(|x| 0.3 * x + 0.02).collect();
        let t = paired_mean_bootstrap(&data, 0.0, 0.95, 10_000, 3);
        let mean = data.iter().sum::<f64>() / n as f64;
        let var = data.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let quantile = StudentsT::new(0.0, 1.0, (n - 1) as f64)
            .expect("valid t")
            .inverse_cdf(0.975);
        let half = quantile * (var / n as f64).sqrt();
        assert!(close(t.mean_difference, mean, 1e-15));
        // Monte Carlo error of a 2.5% quantile from 10,000 resamples is ~1.5% of the half
        // width; allow 6%.
        assert!(
            close(t.ci[0], mean - half, 0.06 * half),
            "{:?} vs {}",
            t.ci,
            half
        );
        assert!(
            close(t.ci[1], mean + half, 0.06 * half),
            "{:?} vs {}",
            t.ci,
            half
        );
    }

    #[test]
    fn bootstrap_p_values_agree_with_the_interval() {
        let resamples = 4000;
        let slack = 2.0 / (resamples + 1) as f64;
        for (seed, shift) in [(1u64, -0.05), (2, -0.02), (3, 0.0), (4, 0.015), (5, 0.04)] {
            // Pass/fail-like differences: mostly 0, some -1 and +1.
            let data: Vec<f64> = normals(800, seed)
                .iter()
                .map(|x| {
                    let v = x + shift * 10.0;
                    if v > 1.2 {
                        1.0
                    } else if v < -1.2 {
                        -1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            for margin in [0.0, 0.01, 0.02, 0.03, 0.05, 0.08] {
                let t = paired_mean_bootstrap(&data, margin, 0.95, resamples, seed);
                let by_p = t.p_worse < 0.025;
                let by_ci = t.ci[1] < -margin;
                assert!(
                    by_p == by_ci || (t.p_worse - 0.025).abs() <= slack,
                    "{t:?} {margin}"
                );
                let by_p = t.p_better < 0.025;
                let by_ci = t.ci[0] > 0.0;
                assert!(
                    by_p == by_ci || (t.p_better - 0.025).abs() <= slack,
                    "{t:?}"
                );
                assert!(t.ci[0] <= t.mean_difference && t.mean_difference <= t.ci[1]);
            }
        }
    }

    /// `cargo test --release -- --ignored --nocapture bootstrap_timing`
    #[test]
    #[ignore = "timing, run by hand"]
    fn bootstrap_timing() {
        let data: Vec<f64> = normals(12_000, 1).iter().map(|x| 0.2 * x).collect();
        let start = std::time::Instant::now();
        let t = paired_mean_bootstrap(&data, 0.01, 0.95, 10_000, 7);
        let elapsed = start.elapsed();
        println!(
            "10,000 resamples x 12,000 differences on {} threads: {elapsed:?} ({t:?})",
            rayon::current_num_threads()
        );
    }
}
