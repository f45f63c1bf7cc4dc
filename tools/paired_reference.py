#!/usr/bin/env python3
"""Independent reference values for src/stats/paired.rs (Tango's score test and interval).

Written from the definitions, not from the closed form the Rust code uses: the restricted
maximum-likelihood estimate of the baseline-pass/candidate-fail cell probability under
H0: q_c - q_b = delta0 is found by numerically maximizing the multinomial log-likelihood
(mpmath, 50 digits), the score statistic is

    Z(delta0) = (c - b - n delta0) / sqrt(n (q_b + q_c - delta0^2)),  q_c = q_b + delta0,

and the interval is {delta0 : |Z(delta0)| <= z_{1-alpha/2}}, found with mpmath's root finder.
Exact McNemar tails are exact rational sums.

Usage: pip install mpmath && python3 tools/paired_reference.py
(b = baseline pass & candidate fail, c = baseline fail & candidate pass, n = all pairs.)
"""
from fractions import Fraction
from math import comb

import mpmath as mp

mp.mp.dps = 50


def restricted_mle(b, c, n, d0):
    """argmax over q of b ln q + c ln(q + d0) + (n - b - c) ln(1 - 2q - d0)."""
    m = n - b - c
    lo = max(mp.mpf(0), -d0)
    hi = (1 - d0) / 2

    def dloglik(q):
        s = mp.mpf(0)
        if b:
            s += b / q
        if c:
            s += c / (q + d0)
        if m:
            s -= 2 * m / (1 - 2 * q - d0)
        return s

    eps = mp.mpf(10) ** -40
    a, z = lo + eps, hi - eps
    fa, fz = dloglik(a), dloglik(z)
    if fa <= 0:
        return lo  # log-likelihood decreasing on the whole range
    if fz >= 0:
        return hi  # increasing on the whole range
    # The log-likelihood is concave in q, so its derivative has a single sign change:
    # bisect it (160 halvings of an interval of length <= 1 reach ~1e-48).
    for _ in range(160):
        mid = (a + z) / 2
        if dloglik(mid) > 0:
            a = mid
        else:
            z = mid
    return (a + z) / 2


def tango_z(b, c, n, d0):
    d0 = mp.mpf(d0)
    q = restricted_mle(b, c, n, d0)
    var = n * (2 * q + d0 * (1 - d0))
    return (c - b - n * d0) / mp.sqrt(var)


def tango_ci(b, c, n, conf):
    zc = mp.sqrt(2) * mp.erfinv(mp.mpf(conf))  # z_{1 - alpha/2}
    est = mp.mpf(c - b) / n

    def solve(target, a, z):
        # Bisection: Z is decreasing in delta0, above target at a and below it at z.
        for _ in range(120):
            mid = (a + z) / 2
            if tango_z(b, c, n, mid) - target > 0:
                a = mid
            else:
                z = mid
        return (a + z) / 2

    lower = mp.mpf(-1) if est == -1 else solve(zc, mp.mpf(-1) + mp.mpf(10) ** -30, est)
    upper = mp.mpf(1) if est == 1 else solve(-zc, est, mp.mpf(1) - mp.mpf(10) ** -30)
    return float(lower), float(upper)


def phi(z):
    return mp.ncdf(z)


def exact_lower(k, m):
    """P(X <= k), X ~ Bin(m, 1/2), as an exact fraction."""
    return Fraction(sum(comb(m, i) for i in range(k + 1)), 2**m)


if __name__ == "__main__":
    tables = [
        # (b, c, n, margin): Cavo et al. 2012 (Fagerland, Lydersen & Laake 2014), mapped to
        # b = n21 = 16, c = n12 = 6; PropCIs' scoreci.mp example; LLM-eval-sized tables.
        (16, 6, 161, 0.05),
        (40, 20, 160, 0.05),
        (7, 1, 21, 0.10),
        (30, 45, 500, 0.02),
        (12, 3, 1000, 0.01),
        (0, 0, 50, 0.05),
        (5, 0, 5, 0.10),
        (210, 180, 12000, 0.01),
    ]
    for b, c, n, margin in tables:
        lo, hi = tango_ci(b, c, n, 0.95)
        zm = tango_z(b, c, n, -margin)
        # Z(0) is 0/0 without discordant pairs; the Rust code reports p = 1 there.
        z0 = tango_z(b, c, n, 0) if b + c else mp.nan
        print(
            f"b={b} c={c} n={n} margin={margin}: ci95=({lo!r}, {hi!r}) "
            f"z0={float(z0)!r} p_better_z={float(1 - phi(z0)) if b + c else 1.0!r} "
            f"z_margin={float(zm)!r} p_worse={float(phi(zm))!r}"
        )
    for k, m in [(1, 8), (2, 12), (6, 22), (0, 24), (12, 24)]:
        print(f"P(Bin({m}, 1/2) <= {k}) = {exact_lower(k, m)} = {float(exact_lower(k, m))!r}")
