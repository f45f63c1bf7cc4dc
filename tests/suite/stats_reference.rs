//! Reference values for `faultmap::stats`, computed independently in Python and hard-coded so
//! the tests need no Python. Environment: scipy 1.17.1, statsmodels 0.15.0, numpy 2.4.6,
//! mpmath 1.4.1 (for exact values where scipy itself is not accurate), scikit-learn 1.9.1
//! (AUROC, with scipy 1.17.1 and numpy 2.4.6). See docs/statistics.md.

use faultmap::stats::{
    auroc, auroc_standard_error, benjamini_hochberg, chi_squared_yates_greater, enrichment_test,
    fisher_exact_greater, weighted_benjamini_hochberg, wilson_interval, SliceTest, TestKind,
};

/// Relative comparison; tight for moderate values, looser for tiny tails where the reference
/// implementations themselves are only accurate to ~1e-9 (see the 10-million-row cases).
fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    assert!(!actual.is_nan(), "{what}: got NaN");
    assert!(
        (0.0..=1.0).contains(&actual),
        "{what}: {actual} outside [0, 1]"
    );
    if expected == 0.0 {
        assert_eq!(actual, 0.0, "{what}: expected exactly 0");
        return;
    }
    let err = ((actual - expected) / expected).abs();
    assert!(
        err <= rel,
        "{what}: got {actual:e}, expected {expected:e}, relative error {err:e} > {rel:e}"
    );
}

/// Moderate p-values (>= 1e-12) must match to 1e-9; tiny ones to 1e-6.
fn tol_for(expected: f64) -> f64 {
    if expected >= 1e-12 {
        1e-9
    } else {
        1e-6
    }
}

/// (a, b, c, d, p) with p = scipy.stats.fisher_exact([[a, b], [c, d]], alternative='greater').pvalue
const FISHER_SCIPY: &[(u64, u64, u64, u64, f64)] = &[
    (3, 1, 1, 3, 0.24285714285714283),
    // slice of size 1, 2 and 3
    (1, 0, 5, 10, 0.375),
    (1, 0, 0, 1, 0.5),
    (0, 1, 5, 10, 1.0),
    (2, 0, 10, 20, 0.13306451612903228),
    (2, 1, 4, 20, 0.11452991452991454),
    (3, 0, 1, 30, 0.0006684491978609625),
    // slice with no failures, slice with only failures
    (0, 5, 10, 10, 1.0),
    (5, 0, 10, 30, 0.002457931556059746),
    // empty slice, empty rest (scipy returns 1 for any zero margin)
    (0, 0, 5, 5, 1.0),
    (4, 6, 0, 0, 1.0),
    // slice at or below its expectation: the complement-of-lower-tail path
    (5, 15, 25, 55, 0.7908367991741939),
    (1, 10, 30, 60, 0.98638579774771),
    (10, 90, 100, 9800, 1.2991956448847386e-07),
    (700, 300, 5000, 6000, 4.622077379011845e-51),
    (30, 5, 20, 400, 1.5516815460283408e-28),
    (35, 0, 20, 500, 1.3894905172167052e-41),
    (40, 0, 20, 500, 1.6833937285914134e-46),
    (60, 0, 40, 900, 6.962674959343055e-70),
    (120, 0, 30, 2000, 8.135216098197355e-169),
    (200, 0, 60, 4000, 6.955130697140927e-290),
    (215, 0, 60, 4000, 6.458291669179057e-308),
    // subnormal result: still representable, so it must not flush to zero
    (220, 0, 60, 4000, 7.483586e-314),
    // truly below f64 range (exact value 4.26e-621, see FISHER_EXACT_MPMATH)
    (400, 0, 100, 9500, 0.0),
    (2000, 0, 1000, 9997000, 0.0),
    // 10 million rows
    (150, 850, 49850, 9949150, 1.1077854089839573e-165),
    (3, 0, 20, 9999977, 1.0626003180136652e-17),
];

/// Exact tails, p = float(sum(mpmath.binomial(K, x) * mpmath.binomial(N - K, n - x)
/// for x in range(a, min(n, K) + 1)) / mpmath.binomial(N, n)) with mpmath.mp.dps = 60,
/// n = a + b, K = a + c, N = a + b + c + d. At 10 million rows scipy's own value is off by
/// ~2e-9 relative, so these pin down the accuracy we actually claim.
const FISHER_EXACT_MPMATH: &[(u64, u64, u64, u64, f64)] = &[
    (5, 15, 25, 55, 0.7908367991741939),
    (1, 10, 30, 60, 0.98638579774771),
    (10, 90, 100, 9800, 1.29919564488474e-07),
    (700, 300, 5000, 6000, 4.622077379011847e-51),
    (35, 0, 20, 500, 1.3894905172167054e-41),
    (45, 0, 15, 940, 1.738401858166977e-65),
    (120, 0, 30, 2000, 8.135216098197348e-169),
    (160, 0, 40, 5000, 3.1484099645798812e-267),
    (150, 850, 49850, 9949150, 1.107785411347977e-165),
    (3, 0, 20, 9999977, 1.0626003187800743e-17),
];

#[test]
fn fisher_matches_scipy() {
    for &(a, b, c, d, expected) in FISHER_SCIPY {
        let p = fisher_exact_greater(a, b, c, d);
        assert_close(
            p,
            expected,
            tol_for(expected),
            &format!("fisher {a} {b} {c} {d}"),
        );
    }
}

#[test]
fn fisher_matches_exact_arithmetic() {
    for &(a, b, c, d, expected) in FISHER_EXACT_MPMATH {
        let p = fisher_exact_greater(a, b, c, d);
        assert_close(p, expected, 1e-11, &format!("fisher exact {a} {b} {c} {d}"));
    }
}

/// (a, b, c, d, p): r = scipy.stats.chi2_contingency([[a, b], [c, d]], correction=True);
/// p = r.pvalue / 2 if a > r.expected_freq[0][0] else 1 - r.pvalue / 2
const CHI_SQUARED_SCIPY: &[(u64, u64, u64, u64, f64)] = &[
    (30, 70, 200, 700, 0.05175114833224886),
    (700, 300, 5000, 6000, 3.554260728611794e-50),
    // O == E exactly: statistic 0, two-sided p 1
    (20, 80, 200, 800, 0.5),
    // |O - E| = 0.09 < 0.5: scipy clips the correction to |O - E|, statistic 0
    (20, 80, 201, 799, 0.5),
    // |O - E| = 0.91: correction of 0.5 applies in full
    (21, 79, 200, 800, 0.4573617866626869),
    // slice fails less often than expected
    (10, 90, 300, 600, 0.999998510498942),
    // 10 million rows
    (1200, 98800, 100000, 9800000, 1.3090674442629111e-09),
    (300, 700, 200, 1800, 1.1980549144137683e-43),
    (50, 50, 50, 50, 0.5),
    (6, 4, 5, 5, 0.5),
    (900, 100, 100, 900, 6.215517137214429e-280),
    (930, 70, 100, 900, 1.9837887115423776e-301),
    (940, 60, 100, 900, 6.715118392140175e-309),
];

/// Tails where scipy is not the best reference: p = float(mpmath.erfc(mpmath.sqrt(chi2 / 2))
/// / 2) with chi2 = max(|ad - bc| / N - 0.5, 0)^2 * N^3 / (r1 r2 c1 c2), mpmath.mp.dps = 50.
/// For (950, 50, 100, 900) scipy's chi2.sf flushes the subnormal 1.57e-316 to 0; we must not.
const CHI_SQUARED_EXACT_MPMATH: &[(u64, u64, u64, u64, f64)] = &[
    (30, 70, 200, 700, 0.051751148332248594),
    (700, 300, 5000, 6000, 3.554260728611778e-50),
    (900, 100, 100, 900, 6.215517137213524e-280),
    (930, 70, 100, 900, 1.983788711542222e-301),
    (940, 60, 100, 900, 6.715118392138766e-309),
    (950, 50, 100, 900, 1.57103493e-316),
    // truly below f64 range (3.3e-436)
    (1000, 0, 0, 1000, 0.0),
];

#[test]
fn chi_squared_matches_scipy() {
    for &(a, b, c, d, expected) in CHI_SQUARED_SCIPY {
        let p = chi_squared_yates_greater(a, b, c, d);
        assert_close(
            p,
            expected,
            tol_for(expected),
            &format!("chi2 {a} {b} {c} {d}"),
        );
    }
}

#[test]
fn chi_squared_matches_exact_arithmetic() {
    for &(a, b, c, d, expected) in CHI_SQUARED_EXACT_MPMATH {
        let p = chi_squared_yates_greater(a, b, c, d);
        // Subnormal results keep only ~30 significant bits.
        let tol = if expected < 1e-300 { 1e-8 } else { 1e-12 };
        assert_close(p, expected, tol, &format!("chi2 exact {a} {b} {c} {d}"));
    }
}

#[test]
fn chi_squared_zero_margin_is_one() {
    // scipy raises here (zero expected frequency); we define "nothing to test" as p = 1.
    assert_eq!(chi_squared_yates_greater(0, 0, 5, 5), 1.0);
    assert_eq!(chi_squared_yates_greater(5, 5, 0, 0), 1.0);
    assert_eq!(chi_squared_yates_greater(0, 5, 0, 5), 1.0);
    assert_eq!(chi_squared_yates_greater(5, 0, 5, 0), 1.0);
    assert_eq!(chi_squared_yates_greater(0, 0, 0, 0), 1.0);
}

/// (successes, n, confidence, low, high):
/// statsmodels.stats.proportion.proportion_confint(successes, n, alpha=1 - confidence,
/// method='wilson')
const WILSON_STATSMODELS: &[(u64, u64, f64, f64, f64)] = &[
    (0, 10, 0.95, 0.0, 0.2775327998628892),
    (10, 10, 0.95, 0.7224672001371107, 0.9999999999999999),
    (3, 10, 0.95, 0.10779126740630099, 0.6032218525388546),
    (1, 1, 0.9, 0.269865948784054, 1.0),
    (500, 1000, 0.99, 0.45940700521208483, 0.5405929947879151),
    (
        7,
        12345,
        0.95,
        0.00027470128939623926,
        0.0011700867808198613,
    ),
    (
        1234567,
        10000000,
        0.95,
        0.1232529564266528,
        0.12366073286835233,
    ),
    (1, 2, 0.8, 0.1642517200298993, 0.8357482799701007),
];

#[test]
fn wilson_matches_statsmodels() {
    for &(k, n, conf, lo, hi) in WILSON_STATSMODELS {
        let (l, h) = wilson_interval(k, n, conf);
        let what = format!("wilson {k}/{n} at {conf}");
        if lo == 0.0 {
            // Analytically 0; allow rounding-level residue.
            assert!((0.0..1e-15).contains(&l), "{what}: low {l}");
        } else {
            assert_close(l, lo, 1e-9, &what);
        }
        assert_close(h, hi, 1e-9, &what);
        assert!(
            l <= k as f64 / n as f64 && k as f64 / n as f64 <= h,
            "{what}"
        );
    }
}

#[test]
fn wilson_empty_is_whole_unit_interval() {
    // statsmodels returns (nan, nan) for 0/0; we define it as "anything is possible".
    assert_eq!(wilson_interval(0, 0, 0.95), (0.0, 1.0));
}

/// input -> statsmodels.stats.multitest.multipletests(input, method='fdr_bh')[1]
#[test]
fn benjamini_hochberg_matches_statsmodels() {
    let cases: &[(&[f64], &[f64])] = &[
        (&[0.01, 0.04, 0.03, 0.005], &[0.02, 0.04, 0.04, 0.02]),
        // ties
        (
            &[0.01, 0.01, 0.02, 0.02, 0.5],
            &[
                0.024999999999999998,
                0.024999999999999998,
                0.024999999999999998,
                0.024999999999999998,
                0.5,
            ],
        ),
        // p = 1s and capping at 1
        (&[1.0, 1.0, 0.001, 0.5], &[1.0, 1.0, 0.004, 1.0]),
        // single value is unchanged
        (&[0.03], &[0.03]),
        (
            &[1e-300, 0.2, 0.04, 0.2, 0.9, 0.049],
            &[6e-300, 0.24, 0.098, 0.24, 0.9, 0.098],
        ),
        // all large: step-up pulls everything to the largest
        (&[0.6, 0.7, 0.8, 0.9], &[0.9, 0.9, 0.9, 0.9]),
    ];
    for (input, expected) in cases {
        let got = benjamini_hochberg(input);
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected.iter()) {
            assert_close(*g, *e, 1e-15, &format!("bh {input:?}"));
        }
    }
}

#[test]
fn benjamini_hochberg_edge_cases() {
    assert!(benjamini_hochberg(&[]).is_empty());
    assert_eq!(benjamini_hochberg(&[1.0]), vec![1.0]);
    assert_eq!(benjamini_hochberg(&[0.0, 0.0]), vec![0.0, 0.0]);
    // NaN is treated as 1 rather than spreading.
    let got = benjamini_hochberg(&[f64::NAN, 0.01]);
    assert_eq!(got, vec![1.0, 0.02]);
}

/// Weighted BH: values from the definition (BH on p / w, weights rescaled to mean 1) in exact
/// rational arithmetic (Python `fractions`): p = [0.001, 0.01, 0.02, 0.04, 0.3], w = [4, 1, 1,
/// 0.5, 0.5] (mean 1.4).
#[test]
fn weighted_benjamini_hochberg_matches_its_definition() {
    let got =
        weighted_benjamini_hochberg(&[0.001, 0.01, 0.02, 0.04, 0.3], &[4.0, 1.0, 1.0, 0.5, 0.5]);
    let expected = [0.00175, 0.035, 0.046_666_666_666_666_67, 0.14, 0.84];
    for (g, e) in got.iter().zip(expected) {
        assert_close(*g, e, 1e-15, "weighted bh");
    }
    // Scale does not matter; equal weights are plain BH, bit for bit.
    let scaled = weighted_benjamini_hochberg(
        &[0.001, 0.01, 0.02, 0.04, 0.3],
        &[40.0, 10.0, 10.0, 5.0, 5.0],
    );
    for (a, b) in got.iter().zip(&scaled) {
        assert_close(*a, *b, 1e-15, "scale");
    }
    let p = [1e-300, 0.2, 0.04, 0.2, 0.9, 0.049];
    assert_eq!(
        weighted_benjamini_hochberg(&p, &[3.0; 6]),
        benjamini_hochberg(&p)
    );
    // A zero weight never rejects; all zero: nothing can.
    assert_eq!(
        weighted_benjamini_hochberg(&[0.0, 0.01], &[0.0, 1.0])[0],
        1.0
    );
    assert_eq!(weighted_benjamini_hochberg(&[0.0], &[0.0]), vec![1.0]);
    assert!(weighted_benjamini_hochberg(&[], &[]).is_empty());
}

#[test]
fn textbook_rule_picks_fisher_when_an_expected_cell_is_small() {
    let textbook = |a, n, k, t| enrichment_test(SliceTest::Textbook, a, n, k, t);
    // 100 rows, 10 failures, slice of 20: expected slice failures 2 < 5.
    let t = textbook(6, 20, 10, 100);
    assert_eq!(t.test, TestKind::FisherExact);
    assert_eq!(t.p_value, fisher_exact_greater(6, 14, 4, 76));
    // Boundary: min expected exactly 5 (slice 50 of 100, 10 failures) uses chi-squared...
    let t = textbook(8, 50, 10, 100);
    assert_eq!(t.test, TestKind::ChiSquaredYates);
    assert_eq!(t.p_value, chi_squared_yates_greater(8, 42, 2, 48));
    // ...and just below it (4.9) uses Fisher.
    assert_eq!(textbook(8, 49, 10, 100).test, TestKind::FisherExact);
    // The small cell can be the pass column or the rest row too.
    assert_eq!(textbook(95, 96, 99, 100).test, TestKind::FisherExact);
    // Large table: chi-squared, and it agrees with the scipy value above.
    let t = textbook(700, 1000, 5700, 12000);
    assert_eq!(t.test, TestKind::ChiSquaredYates);
    assert_close(t.p_value, 3.554260728611794e-50, 1e-6, "enrichment large");
}

#[test]
fn exact_rule_is_fisher_for_every_table() {
    for (a, n, k, t) in [(6, 20, 10, 100), (8, 50, 10, 100), (700, 1000, 5700, 12000)] {
        let test = enrichment_test(SliceTest::Exact, a, n, k, t);
        assert_eq!(test.test, TestKind::FisherExact);
        assert_eq!(
            test.p_value,
            fisher_exact_greater(a, n - a, k - a, t - n - k + a)
        );
    }
}

#[test]
fn yates_is_too_small_in_the_far_tail() {
    // 14 of 22 rows failing against 5,165 of 22,500 (a CLINC150 null file of the planted-slice
    // benchmark: no row was planted, yet this tree node was reported with Yates' p). Exact value
    // from Python's integer arithmetic: sum(comb(5165, x) * comb(17335, 22 - x) for x in
    // range(14, 23)) / comb(22500, 22), as a Fraction.
    let exact = 5.2448607192433773e-05;
    let t = enrichment_test(SliceTest::Exact, 14, 22, 5165, 22500);
    assert_close(t.p_value, exact, 1e-9, "fisher far tail");
    // Every expected cell is at least 5 (5.05), so the textbook rule takes Yates' chi-squared,
    // whose p is about 5.7 times too small: with 3,000 candidates the Benjamini-Hochberg
    // threshold for one discovery is 0.045 / 3,000 = 1.5e-5, between the two.
    let t = enrichment_test(SliceTest::Textbook, 14, 22, 5165, 22500);
    assert_eq!(t.test, TestKind::ChiSquaredYates);
    assert!(
        t.p_value < exact / 5.0 && t.p_value < 1.5e-5,
        "{}",
        t.p_value
    );
}

#[test]
fn enrichment_edge_cases() {
    let exact = |a, n, k, t| enrichment_test(SliceTest::Exact, a, n, k, t);
    let none = |t: faultmap::stats::EnrichmentTest| t.test == TestKind::None && t.p_value == 1.0;
    // slice is the whole set, or empty
    assert!(none(exact(5, 10, 5, 10)));
    assert!(none(exact(0, 0, 5, 10)));
    assert!(none(exact(0, 0, 0, 0)));
    // zero failures overall, all failures overall
    let t = exact(0, 3, 0, 10);
    assert_eq!((t.test, t.p_value), (TestKind::FisherExact, 1.0));
    let t = exact(3, 3, 10, 10);
    assert_eq!((t.test, t.p_value), (TestKind::FisherExact, 1.0));
    let t = exact(0, 5_000_000, 0, 10_000_000);
    assert_eq!(t.p_value, 1.0);
    // slice with no failures: nothing suggests it fails more often
    assert_eq!(exact(0, 5, 10, 30).p_value, 1.0);
    // tiny slices, against the scipy table values above
    assert_close(exact(1, 1, 6, 16).p_value, 0.375, 1e-9, "size 1");
    assert_close(
        exact(2, 2, 12, 32).p_value,
        0.13306451612903228,
        1e-9,
        "size 2",
    );
    assert_close(
        exact(2, 3, 6, 27).p_value,
        0.11452991452991454,
        1e-9,
        "size 3",
    );
    // slice with only failures
    assert_close(
        exact(5, 5, 15, 45).p_value,
        0.002457931556059746,
        1e-9,
        "all failing",
    );
}

#[test]
#[should_panic(expected = "inconsistent counts")]
fn enrichment_rejects_inconsistent_counts() {
    enrichment_test(SliceTest::Exact, 5, 3, 10, 20);
}

#[test]
fn p_values_are_valid_over_a_grid() {
    // Every small table: in [0, 1], not NaN, and Fisher is monotone in a (more failures in
    // the slice can only make the evidence stronger).
    for n in 0..=12u64 {
        for k in 0..=n {
            for s in 0..=n {
                let mut prev = f64::INFINITY;
                for a in (s + k).saturating_sub(n)..=s.min(k) {
                    let (b, c) = (s - a, k - a);
                    let d = n - s - c;
                    let t = enrichment_test(SliceTest::Exact, a, s, k, n);
                    let f = fisher_exact_greater(a, b, c, d);
                    let x = chi_squared_yates_greater(a, b, c, d);
                    for p in [t.p_value, f, x] {
                        assert!((0.0..=1.0).contains(&p), "{a} {s} {k} {n}: {p}");
                    }
                    assert!(f <= prev + 1e-15, "fisher not monotone at {a} {s} {k} {n}");
                    prev = f;
                }
            }
        }
    }
}

#[test]
fn fisher_sums_to_one_with_its_complement() {
    // P(X >= a) + P(X <= a - 1) = 1; P(X <= a - 1) is the 'greater' test on the table with
    // columns swapped read from the other side, so this checks both summation paths agree.
    for &(a, b, c, d) in &[
        (5u64, 15u64, 25u64, 55u64),
        (10, 90, 100, 9800),
        (7, 3, 40, 50),
    ] {
        let upper = fisher_exact_greater(a, b, c, d);
        // P(X <= a - 1) = P(pass count in slice >= b + 1) = greater test on [[b+1, a-1], [d-1, c+1]]
        let lower = fisher_exact_greater(b + 1, a - 1, d - 1, c + 1);
        assert!(
            (upper + lower - 1.0).abs() < 1e-13,
            "{a} {b} {c} {d}: {upper} + {lower}"
        );
    }
}

#[test]
fn thousands_of_large_tests_are_fast() {
    // Unoptimised test builds are ~10x slower than release; the bound is loose on purpose.
    let start = std::time::Instant::now();
    let total = 10_000_000u64;
    let total_failures = 1_000_000u64;
    let mut acc = 0.0;
    for i in 0..2000u64 {
        let slice = 1_000 + i * 997;
        let fails = slice / 10 + (i % 50);
        acc += enrichment_test(SliceTest::Exact, fails, slice, total_failures, total).p_value;
        // Fisher directly on a big table too, where statrs' sf would walk the whole support.
        acc += fisher_exact_greater(fails, slice - fails, total_failures - fails, 8_000_000);
    }
    assert!(acc.is_finite());
    let elapsed = start.elapsed();
    assert!(elapsed.as_secs_f64() < 5.0, "took {elapsed:?}");
}

/// (scores, positive, auc) with auc = sklearn.metrics.roc_auc_score(positive, scores).
#[test]
fn auroc_matches_sklearn() {
    let cases: &[(&[f64], &[u8], f64)] = &[
        // sklearn's documented toy case
        (&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1], 0.75),
        (
            &[0.9, 0.2, 0.7, 0.4, 0.6, 0.3],
            &[1, 0, 0, 1, 1, 0],
            0.7777777777777779,
        ),
        // many equal scores: ties count half
        (
            &[1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0, 4.0],
            &[0, 1, 0, 0, 1, 1, 0, 1, 1, 1],
            0.7083333333333333,
        ),
        // perfect separation, perfectly inverted, all scores equal
        (&[0.1, 0.2, 0.3, 0.7, 0.8, 0.9], &[0, 0, 0, 1, 1, 1], 1.0),
        (&[0.9, 0.8, 0.7, 0.3, 0.2, 0.1], &[0, 0, 0, 1, 1, 1], 0.0),
        (&[0.5; 7], &[0, 1, 0, 1, 1, 0, 0], 0.5),
    ];
    for (scores, positive, expected) in cases {
        let positive: Vec<bool> = positive.iter().map(|&p| p == 1).collect();
        let got = auroc(scores, &positive).expect("both classes present");
        assert!(
            (got - expected).abs() <= 1e-15,
            "auroc {scores:?}: got {got}, sklearn {expected}"
        );
    }
}

/// The 64-bit LCG of Knuth's MMIX (multiplier 6364136223846793005, increment
/// 1442695040888963407, modulo 2^64), written out identically in the Python that produced the
/// reference values, so both sides see the same 1000 rows without sharing an RNG:
///
/// ```python
/// def lcg_case(seed, n, kind):
///     s, scores, labels = seed, [], []
///     for _ in range(n):
///         s = (s * 6364136223846793005 + 1442695040888963407) % 2**64; x1 = s
///         s = (s * 6364136223846793005 + 1442695040888963407) % 2**64; x2 = s
///         pos = (x1 >> 33) % 100 < 30
///         if kind == "fine":
///             score = (x2 >> 11) / 2.0**53 + (0.25 if pos else 0.0)
///         else:  # heavy ties: 23 distinct integer scores
///             score = float((x2 >> 33) % 20 + (3 if pos else 0))
///         scores.append(score); labels.append(pos)
///     return scores, labels
/// ```
fn lcg_case(seed: u64, n: usize, fine: bool) -> (Vec<f64>, Vec<bool>) {
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state
    };
    let (mut scores, mut labels) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (x1, x2) = (next(), next());
        let positive = (x1 >> 33) % 100 < 30;
        let score = if fine {
            (x2 >> 11) as f64 / (1u64 << 53) as f64 + if positive { 0.25 } else { 0.0 }
        } else {
            ((x2 >> 33) % 20 + if positive { 3 } else { 0 }) as f64
        };
        scores.push(score);
        labels.push(positive);
    }
    (scores, labels)
}

#[test]
fn auroc_matches_sklearn_on_1000_generated_rows() {
    // Python printed n_pos = 293 for both and these first rows; checking them first tells a
    // generator mismatch apart from an AUROC mismatch.
    let (scores, labels) = lcg_case(20261123, 1000, true);
    assert_eq!(labels.iter().filter(|&&p| p).count(), 293);
    assert_eq!(
        &scores[..3],
        &[0.8677604581375844, 0.7958375532193093, 0.45774378211681377]
    );
    assert_eq!(&labels[..3], &[false, false, true]);
    let got = auroc(&scores, &labels).unwrap();
    assert!((got - 0.7284251584592881).abs() <= 1e-12, "fine: {got}");

    let (scores, labels) = lcg_case(20261123, 1000, false);
    assert_eq!(&scores[..3], &[14.0, 12.0, 18.0]);
    let got = auroc(&scores, &labels).unwrap();
    assert!((got - 0.6020873662207762).abs() <= 1e-12, "ties: {got}");
}

#[test]
fn auroc_needs_both_classes() {
    // sklearn 1.9.1 returns nan with an UndefinedMetricWarning here (older versions raise).
    assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
    assert_eq!(auroc(&[0.1, 0.2, 0.3], &[false, false, false]), None);
    assert_eq!(auroc(&[], &[]), None);
}

/// Hanley & McNeil (1982), Table I: a radiologist's ratings 1..5 of CT images of 58 normal and
/// 51 abnormal subjects. The paper's area is 0.893; sklearn gives the exact value below.
#[test]
fn auroc_of_the_hanley_mcneil_ratings() {
    let normal = [33, 6, 6, 11, 2];
    let abnormal = [3, 2, 2, 11, 33];
    let (mut scores, mut positive) = (vec![], vec![]);
    for (class, counts) in [(false, normal), (true, abnormal)] {
        for (rating, &count) in (1..=5).zip(&counts) {
            for _ in 0..count {
                scores.push(f64::from(rating));
                positive.push(class);
            }
        }
    }
    let got = auroc(&scores, &positive).unwrap();
    assert!((got - 0.8931710615280595).abs() <= 1e-15, "{got}");
    assert_eq!((got * 1000.0).round() / 1000.0, 0.893);
}

/// (auc, positives, negatives, se): the Hanley & McNeil (1982) equation, evaluated in Python
/// with mpmath at 50 digits, independently of the Rust code:
/// q1 = a / (2 - a); q2 = 2 a^2 / (1 + a);
/// se = sqrt((a (1 - a) + (n1 - 1)(q1 - a^2) + (n0 - 1)(q2 - a^2)) / (n1 n0)).
/// Cross-check against published figures: the examples in the documentation of R's auctestr
/// 1.0.0 `se_auc(auc, n_p, n_n)` print 0.06498283, 0.03282048 and 0.07789072 for the three
/// 0.75 rows below (and fix which count goes with q1: the positives).
const HANLEY_MCNEIL_SE: &[(f64, usize, usize, f64)] = &[
    (0.8931710615280595, 51, 58, 0.03248657960734213),
    (0.75, 20, 200, 0.06498282740188255),
    (0.75, 110, 110, 0.0328204841441577),
    (0.75, 20, 20, 0.07789072015146789),
    (0.75, 200, 20, 0.04789777060126524),
    (0.5, 1, 1, 0.5),
    (0.9, 300, 700, 0.012408874957747772),
    // the 1000-row generated case above
    (0.7284251584592881, 293, 707, 0.018564645779209046),
];

#[test]
fn auroc_standard_error_matches_hanley_mcneil() {
    for &(auc, n1, n0, expected) in HANLEY_MCNEIL_SE {
        let got = auroc_standard_error(auc, n1, n0);
        assert_close(got, expected, 1e-12, &format!("se {auc} {n1} {n0}"));
    }
    // Published to 8 digits (auctestr documentation).
    for (n1, n0, published) in [
        (20, 200, 0.06498283),
        (110, 110, 0.03282048),
        (20, 20, 0.07789072),
    ] {
        let got = auroc_standard_error(0.75, n1, n0);
        assert!((got - published).abs() < 5e-9, "{n1} {n0}: {got}");
    }
    // Degenerate areas have no spread.
    assert_eq!(auroc_standard_error(1.0, 10, 10), 0.0);
    assert_eq!(auroc_standard_error(0.0, 10, 10), 0.0);
}
