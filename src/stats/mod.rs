//! Statistics for slice testing: one-sided Fisher exact and Yates chi-squared tests,
//! Benjamini-Hochberg adjustment, Wilson score intervals; paired baseline-vs-candidate tests in
//! [`paired`].
//!
//! Every function here is total: it returns a number in its documented range for any input
//! that passes its assertions, never NaN, so reports can print and sort the results without
//! special cases. The reference values in the tests come from scipy and statsmodels (see
//! `docs/statistics.md`), because "matches the tools a reviewer would reach for" is the
//! contract users rely on when they compare our numbers with their own notebooks.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

pub mod paired;

/// Which test produced a p-value, so reports can say how a slice was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Exact hypergeometric tail: every table by default, small expected counts with
    /// [`SliceTest::Textbook`].
    FisherExact,
    /// Chi-squared with Yates' continuity correction ([`SliceTest::Textbook`], large counts).
    ChiSquaredYates,
    /// Nothing to compare: the slice is empty or is the whole set, so there is no "rest".
    None,
    /// Exact binomial upper tail against a fixed rate (coverage gaps against the rules'
    /// false-alarm budget).
    Binomial,
    /// Monte Carlo p-value of a failure-scan region: its log-likelihood ratio against the
    /// largest of every region built from permuted outcomes (family-wise over all regions).
    PermutationScan,
}

/// A one-sided p-value together with the test that produced it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EnrichmentTest {
    /// In `[0, 1]`, never NaN.
    pub p_value: f64,
    pub test: TestKind,
}

/// Smallest expected cell count for which the textbook rule trusts the chi-squared
/// approximation ([`SliceTest::Textbook`]).
const MIN_EXPECTED_FOR_CHI_SQUARED: u128 = 5;

/// Which test judges a slice's 2x2 table (`--test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SliceTest {
    /// Fisher's exact test for every table. Exact, and with [`fisher_exact_greater`] fast at
    /// any size (milliseconds for thousands of tests on 10-million-row tables).
    #[default]
    Exact,
    /// Fisher when an expected cell count is below 5, Yates' chi-squared otherwise: the rule
    /// of the Python faultmap and of most notebooks, kept to compare with them. Where a
    /// multiplicity correction puts the threshold (p near 1e-5 with thousands of candidates),
    /// Yates' p is 3 to 20 times too small for slices of 30-300 rows (docs/statistics.md).
    Textbook,
}

/// One-sided test that a slice fails MORE often than the rest of the rows, by `rule`.
///
/// 2x2 table: slice (failures, passes) vs rest (failures, passes). [`SliceTest::Exact`]:
/// Fisher exact. [`SliceTest::Textbook`]: Fisher exact when any expected cell count is below
/// 5, chi-squared with Yates' continuity correction otherwise.
///
/// One-sided because a slice that fails *less* often than the rest is not a finding for this
/// tool; a two-sided test would spend half its power on that direction.
///
/// Defined edge cases: an empty slice or a slice equal to the whole set has no "rest" to
/// compare with, giving [`TestKind::None`] and p = 1. When no row fails or every row fails,
/// some expected cell is 0, so Fisher is chosen and it returns p = 1 (the table carries no
/// evidence either way).
///
/// # Panics
/// If the counts are inconsistent (`slice_failures > slice_size`, `slice_size > total`,
/// `total_failures > total`, `slice_failures > total_failures`, or more failures outside the
/// slice than rows outside it): those are caller bugs, and a plausible-looking p-value
/// computed from them would be worse than a crash.
pub fn enrichment_test(
    rule: SliceTest,
    slice_failures: u64,
    slice_size: u64,
    total_failures: u64,
    total: u64,
) -> EnrichmentTest {
    assert!(
        slice_failures <= slice_size
            && slice_size <= total
            && total_failures <= total
            && slice_failures <= total_failures
            && total_failures - slice_failures <= total - slice_size,
        "inconsistent counts: slice {slice_failures}/{slice_size} failures, \
         total {total_failures}/{total}"
    );
    if slice_size == 0 || slice_size == total {
        return EnrichmentTest {
            p_value: 1.0,
            test: TestKind::None,
        };
    }
    let a = slice_failures;
    let b = slice_size - slice_failures;
    let c = total_failures - slice_failures;
    let d = (total - slice_size) - c;

    // The smallest expected cell is (smallest row total) * (smallest column total) / N;
    // comparing in integers keeps the rule exact at the boundary.
    let min_row = u128::from(slice_size.min(total - slice_size));
    let min_col = u128::from(total_failures.min(total - total_failures));
    let use_fisher = rule == SliceTest::Exact
        || min_row * min_col < MIN_EXPECTED_FOR_CHI_SQUARED * u128::from(total);

    if use_fisher {
        EnrichmentTest {
            p_value: fisher_exact_greater(a, b, c, d),
            test: TestKind::FisherExact,
        }
    } else {
        EnrichmentTest {
            p_value: chi_squared_yates_greater(a, b, c, d),
            test: TestKind::ChiSquaredYates,
        }
    }
}

/// P(X >= a) under the hypergeometric null, table [[a, b], [c, d]] (rows: slice, rest;
/// cols: fail, pass). Same as `scipy.stats.fisher_exact(table, alternative='greater')`.
///
/// A table with an all-zero row or column gives 1, as scipy does.
///
/// Not `statrs::distribution::Hypergeometric::sf`: it evaluates every term of the tail with
/// `ln_gamma` differences, which is O(support) calls (slow for millions of rows) and can lose
/// up to ~1e-8 relative accuracy at N = 10^7 through cancellation of ~1e8-sized logs. Instead
/// we evaluate one probability with Loader's saddle-point formula (accurate to ~1e-14 at any
/// N) and walk the tail with the exact term ratio until the terms stop mattering, summing the
/// shorter, decreasing side of the distribution so no subtraction can cancel a tiny p-value.
pub fn fisher_exact_greater(a: u64, b: u64, c: u64, d: u64) -> f64 {
    // f64 holds every integer up to 2^53 exactly, far beyond any row count we handle.
    let draws = a + b; // slice size
    let successes = a + c; // total failures
    let population = draws + c + d;
    let lo = draws.saturating_sub(population - successes);
    let hi = draws.min(successes);
    if a <= lo {
        // The whole support is >= a, including every degenerate (zero-margin) table.
        return 1.0;
    }
    // Here 0 < draws < population and 0 < successes < population, so the pmf is well defined.
    let (big_n, big_k, n) = (population as f64, successes as f64, draws as f64);
    let others = big_n - big_k - n; // N - K - n, may be negative
    let mean = n * big_k / big_n;

    let p = if (a as f64) > mean {
        // Upper tail starting right of the mean: terms only shrink after at most one step,
        // so the sum converges within a few standard deviations.
        let ln_first = ln_hypergeometric_pmf(a, successes, population - successes, draws);
        let mut sum = 1.0;
        let mut term = 1.0;
        let mut x = a as f64;
        for _ in a..hi {
            term *= (big_k - x) * (n - x) / ((x + 1.0) * (others + x + 1.0));
            sum += term;
            if term < sum * TAIL_EPSILON {
                break;
            }
            x += 1.0;
        }
        (ln_first + sum.ln()).exp()
    } else {
        // a is at or left of the mean, so P(X >= a) is at least about one half: take the
        // complement of the lower tail, which is short and decreasing from a - 1.
        let start = a - 1;
        let ln_first = ln_hypergeometric_pmf(start, successes, population - successes, draws);
        let mut sum = 1.0;
        let mut term = 1.0;
        let mut x = start as f64;
        for _ in lo..start {
            term *= x * (others + x) / ((big_k - x + 1.0) * (n - x + 1.0));
            sum += term;
            if term < sum * TAIL_EPSILON {
                break;
            }
            x -= 1.0;
        }
        1.0 - (ln_first + sum.ln()).exp()
    };
    clamp_probability(p)
}

/// Tail terms below this fraction of the running sum cannot change the f64 result.
const TAIL_EPSILON: f64 = 1e-17;

/// One-sided p from Yates-corrected chi-squared: half the two-sided p when the slice's
/// failure count is above its expectation, 1 - half otherwise. Must match
/// `scipy.stats.chi2_contingency(table, correction=True)` two-sided p halved in the right
/// direction.
///
/// Like scipy, the correction is `min(0.5, |O - E|)` so it never flips the sign of a
/// deviation. A table with an all-zero row or column (where scipy raises) gives 1: there is
/// nothing to test.
pub fn chi_squared_yates_greater(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (r1, r2) = (a + b, c + d);
    let (c1, c2) = (a + c, b + d);
    if r1 == 0 || r2 == 0 || c1 == 0 || c2 == 0 {
        return 1.0;
    }
    let n = (r1 + r2) as f64;
    // |O - E| is the same in all four cells of a 2x2 table: |ad - bc| / N. The determinant is
    // exact in i128, which avoids the cancellation of subtracting a large expected count.
    let det = i128::from(a) * i128::from(d) - i128::from(b) * i128::from(c);
    let deviation = det.unsigned_abs() as f64 / n;
    let corrected = (deviation - 0.5).max(0.0);
    // Sum over cells of 1/E_ij = N^3 / (r1 r2 c1 c2); computed as a product of ratios so no
    // intermediate overflows or loses range.
    let inv_expected_sum = (n / r1 as f64) * (n / r2 as f64) * (n / c1 as f64) / c2 as f64;
    let chi2 = corrected * corrected * inv_expected_sum;
    let half_two_sided = half_chi_squared_1_sf(chi2);
    let p = if det > 0 {
        half_two_sided
    } else {
        1.0 - half_two_sided
    };
    clamp_probability(p)
}

/// Half the chi-squared(1) survival function, P(chi2_1 > x) / 2 = erfc(sqrt(x / 2)) / 2.
///
/// Not `statrs::function::erf::erfc`: in statrs 0.19 it is only accurate to ~1e-10 relative
/// (truncated interval constants, fixed upstream after 0.19.1). The regularized incomplete gamma
/// behind `ChiSquared::sf` is accurate to ~1e-14, but it flushes to 0 below ~1e-311, so past
/// x = 1000 (p ~ 1e-219) we switch to the asymptotic expansion of erfc in log space, which keeps
/// full precision down into the subnormal range.
fn half_chi_squared_1_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.5;
    }
    if x < 1000.0 {
        let chi_squared_1 = ChiSquared::new(1.0).expect("one degree of freedom is valid");
        return 0.5 * chi_squared_1.sf(x);
    }
    // erfc(z) = exp(-z^2) / (z sqrt(pi)) * (1 - 1/(2z^2) + 1*3/(2z^2)^2 - ...), z^2 = x / 2.
    // Each term is (2k - 1) / x times the previous one, so with x >= 1000 about six terms reach
    // f64 precision, long before the (divergent) series would turn around near k = x / 2.
    let two_z2 = x;
    let mut series = 1.0;
    let mut term = 1.0;
    for k in 1..100 {
        term *= -f64::from(2 * k - 1) / two_z2;
        series += term;
        if term.abs() < 1e-17 {
            break;
        }
    }
    let ln_p = -0.5 * x - 0.5 * (std::f64::consts::PI * 0.5 * x).ln() - std::f64::consts::LN_2
        + series.ln();
    ln_p.exp()
}

/// Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1), in input order.
/// Same as statsmodels `multipletests(method='fdr_bh')[1]`.
///
/// Hand-written because it is a sort and a running minimum; no maintained crate is worth a
/// dependency for that. NaN inputs are treated as 1 (no evidence) so one broken test cannot
/// poison the ranking of the others; inputs outside `[0, 1]` are clamped.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let clean: Vec<f64> = p_values.iter().map(|&p| clamp_probability(p)).collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| clean[i].total_cmp(&clean[j]));

    let mut adjusted = vec![0.0; m];
    let mut running_min = 1.0_f64;
    // Walk from the largest p down so each adjusted value is the minimum of p_(k) * m / k over
    // all ranks at or above it (the step-up rule), which also makes the result monotone.
    for (rank0, &idx) in order.iter().enumerate().rev() {
        // p / (k / m) rather than p * m / k: the same rounding as statsmodels, bit for bit.
        let ecdf = (rank0 + 1) as f64 / m as f64;
        let scaled = clean[idx] / ecdf;
        running_min = running_min.min(scaled);
        adjusted[idx] = running_min;
    }
    adjusted
}

/// Weighted Benjamini-Hochberg (Genovese, Roeder & Wasserman 2006): the step-up rule on
/// `p / w`, the weights rescaled to average 1, which keeps the false-discovery rate at the
/// level the adjusted values are compared with, provided the weights do not depend on the
/// outcomes. A test with weight 2 needs half the evidence. Equal weights give
/// [`benjamini_hochberg`] exactly; a weight that is not positive and finite counts as 0 (the
/// test can never reject).
///
/// # Panics
/// If the two slices differ in length (a caller bug).
pub fn weighted_benjamini_hochberg(p_values: &[f64], weights: &[f64]) -> Vec<f64> {
    assert_eq!(p_values.len(), weights.len(), "one weight per p-value");
    let usable = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    if weights.windows(2).all(|w| w[0] == w[1]) && weights.first().is_none_or(|&w| usable(w) > 0.0)
    {
        return benjamini_hochberg(p_values);
    }
    let mean = weights.iter().map(|&w| usable(w)).sum::<f64>() / weights.len() as f64;
    if mean <= 0.0 {
        return vec![1.0; p_values.len()];
    }
    let scaled: Vec<f64> = p_values
        .iter()
        .zip(weights)
        .map(|(&p, &w)| {
            let w = usable(w) / mean;
            if w > 0.0 {
                (clamp_probability(p) / w).min(1.0)
            } else {
                1.0
            }
        })
        .collect();
    benjamini_hochberg(&scaled)
}

/// P(X <= k) for X ~ Binomial(n, p): the one-sided test that a count is *lower* than a share
/// `p` of `n` predicts (coverage: fewer tests in a region than its traffic share). Clamped to
/// [0, 1]; `k >= n` gives 1.
///
/// # Panics
/// If `p` is not in [0, 1] (a caller bug).
pub fn binomial_lower_tail(k: u64, n: u64, p: f64) -> f64 {
    use statrs::distribution::{Binomial, DiscreteCDF};
    assert!((0.0..=1.0).contains(&p), "probability {p} outside [0, 1]");
    if k >= n {
        return 1.0;
    }
    let binomial = Binomial::new(p, n).expect("p checked above");
    clamp_probability(binomial.cdf(k))
}

/// One-sided binomial upper tail P(X ≥ k), X ~ Binomial(n, p): how surprising `k` events in
/// `n` trials are when each occurs with probability `p`. Computed as the lower tail of the
/// non-events, P(Y ≤ n − k) with Y ~ Binomial(n, 1 − p), which keeps small tails accurate
/// (1 − CDF would cancel). `k == 0` gives 1.
///
/// # Panics
/// If `p` is not in [0, 1] or `k > n` (caller bugs).
pub fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    assert!(k <= n, "{k} events in {n} trials");
    if k == 0 {
        return 1.0;
    }
    binomial_lower_tail(n - k, n, 1.0 - p)
}

/// Wilson score interval for a proportion at `confidence` (e.g. 0.95). n == 0 gives (0, 1).
///
/// Wilson rather than the normal (Wald) interval because it stays inside `[0, 1]` and keeps
/// its coverage for small slices and for rates near 0 or 1, which is exactly where failure
/// slices live. Matches statsmodels `proportion_confint(method='wilson')`, including its
/// clipping to `[0, 1]`.
///
/// # Panics
/// If `successes > n` or `confidence` is not strictly between 0 and 1; the CLI validates user
/// input before it gets here, so these are caller bugs.
pub fn wilson_interval(successes: u64, n: u64, confidence: f64) -> (f64, f64) {
    assert!(successes <= n, "successes {successes} > trials {n}");
    assert!(
        confidence > 0.0 && confidence < 1.0,
        "confidence must be in (0, 1), got {confidence}"
    );
    if n == 0 {
        return (0.0, 1.0);
    }
    let alpha = 1.0 - confidence;
    let standard = Normal::standard();
    // Upper alpha/2 quantile, taken as -quantile(alpha/2) to stay accurate for tiny alpha.
    // statrs' erfc_inv behind it is accurate to ~1e-16 here (unlike its erfc, see above).
    let z = -standard.inverse_cdf(alpha / 2.0);
    let nf = n as f64;
    let q = successes as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let center = (q + z2 / (2.0 * nf)) / denom;
    let half_width = z * (q * (1.0 - q) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    // At 0/n and n/n the bounds are exactly 0 and 1 analytically; pin them so rounding
    // residue never claims a nonzero lower bound on a rate we observed as zero.
    let low = if successes == 0 {
        0.0
    } else {
        clamp_probability(center - half_width)
    };
    let high = if successes == n {
        1.0
    } else {
        clamp_probability(center + half_width)
    };
    (low, high)
}

/// Keeps results in [0, 1] and maps NaN to 1, the conservative "no evidence" value.
fn clamp_probability(p: f64) -> f64 {
    if p.is_nan() {
        1.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

/// ln P(X = x) for X ~ Hypergeometric(white `r`, black `b`, draws `n`), by Loader's
/// decomposition into three binomial densities (as in R's `dhyper`). Each binomial density
/// is computed from Stirling-series remainders and a deviance term, so no large log-factorials
/// are subtracted and the result keeps ~1e-14 relative accuracy at N in the millions.
/// Requires 0 < n < r + b.
fn ln_hypergeometric_pmf(x: u64, r: u64, b: u64, n: u64) -> f64 {
    let total = (r + b) as f64;
    let p = n as f64 / total;
    let q = (r + b - n) as f64 / total;
    ln_binomial_pmf(x, r, p, q) + ln_binomial_pmf(n - x, b, p, q) - ln_binomial_pmf(n, r + b, p, q)
}

/// ln of the binomial density at x (Loader 2000, "Fast and accurate computation of binomial
/// probabilities"). `q` is passed separately from `p` because 1 - p would lose digits.
fn ln_binomial_pmf(x: u64, n: u64, p: f64, q: f64) -> f64 {
    if x > n {
        return f64::NEG_INFINITY;
    }
    let nf = n as f64;
    if x == 0 {
        if n == 0 {
            return 0.0;
        }
        return if p < 0.1 {
            -deviance(nf, nf * q) - nf * p
        } else {
            nf * q.ln()
        };
    }
    if x == n {
        return if q < 0.1 {
            -deviance(nf, nf * p) - nf * q
        } else {
            nf * p.ln()
        };
    }
    let xf = x as f64;
    let yf = (n - x) as f64;
    let lc = stirling_remainder(n)
        - stirling_remainder(x)
        - stirling_remainder(n - x)
        - deviance(xf, nf * p)
        - deviance(yf, nf * q);
    // ln(2 pi x (n - x) / n), written so that x close to n does not cancel.
    let lf = LN_2PI + xf.ln() + (-xf / nf).ln_1p();
    lc - 0.5 * lf
}

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// ln(n!) - ln(sqrt(2 pi n) (n/e)^n), the error of Stirling's formula, for integer n >= 1.
fn stirling_remainder(n: u64) -> f64 {
    let nf = n as f64;
    if n <= 15 {
        // Small n: n! is exact in f64 and the remainder is large enough (> 0.005) that the
        // direct difference keeps ~1e-14 absolute accuracy.
        let factorial: f64 = (2..=n).map(|k| k as f64).product();
        return factorial.ln() - (nf + 0.5) * nf.ln() + nf - 0.5 * LN_2PI;
    }
    // Asymptotic series 1/(12n) - 1/(360n^3) + ...; the number of terms needed for full
    // precision falls as n grows.
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    let nn = nf * nf;
    if n > 500 {
        (S0 - S1 / nn) / nf
    } else if n > 80 {
        (S0 - (S1 - S2 / nn) / nn) / nf
    } else if n > 35 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / nf
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / nf
    }
}

/// Binomial deviance x ln(x / np) + np - x, with a series when x is close to np, where the
/// direct formula would cancel almost completely.
fn deviance(x: f64, np: f64) -> f64 {
    if (x - np).abs() < 0.1 * (x + np) {
        let v = (x - np) / (x + np);
        let mut sum = (x - np) * v;
        let v2 = v * v;
        let mut ej = 2.0 * x * v;
        for j in 1..1000 {
            ej *= v2;
            let next = sum + ej / f64::from(2 * j + 1);
            if next == sum {
                return next;
            }
            sum = next;
        }
        sum
    } else {
        x * (x / np).ln() + np - x
    }
}

/// Area under the ROC curve of `scores` for telling `positive` rows from the rest: the
/// probability that a random positive scores higher than a random negative, ties counting
/// half (the Mann-Whitney U statistic over n1 * n0). `None` unless both classes occur.
///
/// Written here (sorting and average ranks) because no maintained Rust crate offers it
/// without pulling in a machine-learning framework.
pub fn auroc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), positive.len());
    let n1 = positive.iter().filter(|&&p| p).count();
    let n0 = positive.len() - n1;
    if n1 == 0 || n0 == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += average_rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let (n1, n0) = (n1 as f64, n0 as f64);
    Some((rank_sum - n1 * (n1 + 1.0) / 2.0) / (n1 * n0))
}

/// Standard error of an AUROC (Hanley & McNeil 1982, equation 2).
pub fn auroc_standard_error(auc: f64, positives: usize, negatives: usize) -> f64 {
    let (n1, n0) = (positives as f64, negatives as f64);
    let q1 = auc / (2.0 - auc);
    let q2 = 2.0 * auc * auc / (1.0 + auc);
    let var = (auc * (1.0 - auc) + (n1 - 1.0) * (q1 - auc * auc) + (n0 - 1.0) * (q2 - auc * auc))
        / (n1 * n0);
    var.max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::function::factorial::ln_factorial;

    #[test]
    fn binomial_upper_tail_matches_exact_sums() {
        // P(X >= 2), X ~ Bin(3, 1/2) = 4/8; P(X >= 3) = 1/8.
        assert!((binomial_upper_tail(2, 3, 0.5) - 0.5).abs() < 1e-12);
        assert!((binomial_upper_tail(3, 3, 0.5) - 0.125).abs() < 1e-12);
        // P(X >= 1), X ~ Bin(10, 0.05) = 1 - 0.95^10.
        assert!((binomial_upper_tail(1, 10, 0.05) - (1.0 - 0.95f64.powi(10))).abs() < 1e-12);
        // 40 of 40 at p = 0.05: 0.05^40, far below what 1 - CDF could resolve.
        let all = binomial_upper_tail(40, 40, 0.05);
        assert!((all / 0.05f64.powi(40) - 1.0).abs() < 1e-9, "{all}");
        assert_eq!(binomial_upper_tail(0, 10, 0.3), 1.0);
    }

    #[test]
    fn binomial_lower_tail_matches_exact_sums() {
        // (k, n, p, P(X <= k)): exact rational sums of the binomial terms (Python `fractions`
        // with `math.comb`, p taken as the exact value of the f64), rounded to f64.
        let cases = [
            (0, 10, 0.286, 0.03443357523176297),
            (2, 10, 0.3, 0.3827827864),
            (0, 2200, 0.01, 2.4970550368328345e-10),
            (5, 2200, 0.01, 1.4279451744594972e-05),
            (10, 3000, 0.0033333333333333335, 0.5830398664229635),
            (0, 30, 0.5, 9.313225746154785e-10),
            (30, 30, 0.5, 1.0),
            (29, 30, 0.99, 0.2602996266117198),
            (3, 100, 0.1, 0.007836487121184395),
            (0, 1, 0.0, 1.0),
            (1, 5, 1.0, 0.0),
            (150, 1000, 0.2, 2.6443381908983022e-05),
        ];
        for (k, n, p, want) in cases {
            let got = binomial_lower_tail(k, n, p);
            let err = (got - want).abs();
            assert!(
                err <= 1e-12 * want.max(1e-300) || err < 1e-15,
                "P(Bin({n}, {p}) <= {k}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn stirling_remainder_agrees_with_log_factorial() {
        // Where ln(n!) is still small enough to subtract without losing the remainder, the
        // series and the direct difference must agree; this checks the branch boundaries.
        for n in 1..=200u64 {
            let nf = n as f64;
            let direct = ln_factorial(n) - (nf + 0.5) * nf.ln() + nf - 0.5 * LN_2PI;
            let err = (stirling_remainder(n) - direct).abs();
            assert!(
                err < 1e-12,
                "n = {n}: {} vs {direct}",
                stirling_remainder(n)
            );
        }
    }

    #[test]
    fn deviance_is_continuous_across_its_branches() {
        // Both formulas near the switch point |x - np| = 0.1 (x + np).
        let np: f64 = 100.0;
        for x in [122.0, 122.2, 122.3, 122.5, 81.0, 81.8, 82.0] {
            let direct = x * (x / np).ln() + np - x;
            assert!(
                (deviance(x, np) - direct).abs() < 1e-10 * direct.max(1.0),
                "x = {x}"
            );
        }
        assert_eq!(deviance(50.0, 50.0), 0.0);
    }

    #[test]
    fn hypergeometric_pmf_sums_to_one() {
        for &(r, b, n) in &[
            (10u64, 20u64, 7u64),
            (3, 40, 12),
            (500, 700, 300),
            (1, 1, 1),
        ] {
            let lo = n.saturating_sub(b);
            let hi = n.min(r);
            let total: f64 = (lo..=hi)
                .map(|x| ln_hypergeometric_pmf(x, r, b, n).exp())
                .sum();
            assert!((total - 1.0).abs() < 1e-13, "{r} {b} {n}: {total}");
        }
    }

    #[test]
    fn chi_squared_tail_is_accurate_on_both_sides_of_the_switch() {
        // float(mpmath.erfc(mpmath.sqrt(mpmath.mpf(x) / 2)) / 2) with mpmath.mp.dps = 40
        let cases = [
            (0.5, 0.23975006109347674),
            (30.0, 2.1602315289137487e-08),
            (999.0, 1.481153142732744e-219),
            (1000.0, 8.979163924003631e-220),
            (1001.0, 5.44342260099065e-220),
            (1276.802, 6.215517137213524e-280),
            (1400.0, 1.0505072581321088e-306),
            (1450.0, 1.433599e-317),
        ];
        for (x, want) in cases {
            let got = half_chi_squared_1_sf(x);
            // Subnormals carry fewer significant bits, hence the looser bound at the end.
            let tol = if want < 1e-300 { 1e-9 } else { 1e-12 };
            assert!(
                ((got - want) / want).abs() < tol,
                "x = {x}: {got:e} vs {want:e}"
            );
        }
        // Deep subnormal: the exact 6.4642e-322 rounds to 131 * 2^-1074 = 6.47e-322; allow one
        // unit of the subnormal spacing.
        assert!((half_chi_squared_1_sf(1470.0) - 6.47e-322).abs() <= 5e-324);
        assert_eq!(half_chi_squared_1_sf(0.0), 0.5);
        assert_eq!(half_chi_squared_1_sf(1e6), 0.0);
        assert_eq!(half_chi_squared_1_sf(f64::INFINITY), 0.0);
    }

    #[test]
    fn clamp_maps_nan_to_one() {
        assert_eq!(clamp_probability(f64::NAN), 1.0);
        assert_eq!(clamp_probability(-1e-18), 0.0);
        assert_eq!(clamp_probability(1.0 + 1e-15), 1.0);
    }
}
