#!/usr/bin/env python3
"""Fits how `final` weighs the amount of unsupported content against attribution, with
cross-validation (issue 15; docs/score.md, "What `final` is made of").

    python3 tools/fit_final.py target/release/faultmap ../shared/data

With a context, `final` is (1 - w) * attribution + w * exp(-U / s), U = `unsupported_content`
(the IDF-weighted amount of response content the context lacks). Attribution is a share: it
ranks one unsupported pleasantry ("Hope you enjoy!") with three sentences of invented detail.
U is an amount: it tells them apart.

Each row is scored once by the real command; w and s are then applied to its
`scores.attribution` and `scores.unsupported_content` (rows without a content sentence have
U = 0). The criterion: among the pairs (w, s) of the grid whose AUROC is at least
attribution's on every set (BEGIN dev, generic turns left out, and HaluEval QA, dialogue and
summarization), the one with the largest mean gain over attribution, each set counting once
whatever its size (when no pair qualifies, the largest smallest gain). w stays at most 0.5, so
that a response the context does not support at all (attribution 0, U > 0) always scores below
0.5, the failure cut `faultmap slices` applies to `score`. (The criterion was the largest
smallest gain until 2026-12-06: BEGIN's gain was then the smallest for every pair and nearly
the same, 0.004-0.007, so it chose by noise.) Folds: 5, by a hash of the input (prompt and context), as in
tools/fit_decisions.py. Prints the pair of each fold; per set, the held-out AUROC (the mean of
each fold's AUROC, its rows scored with the pair fitted without it: pooling rows scored by
different pairs would mix their scales), also within deciles of response length (the HaluEval
sets have a length artifact: their hallucinated answers are longer); and the pair fitted on
all rows, which is the default, with its AUROC on all rows and 95% Hanley-McNeil intervals.
Stdlib only.
"""

import math
import sys

from labelled import FOLDS, SETS, auroc, fold, good, score

WEIGHTS = [i / 10 for i in range(1, 6)]
SCALES = [10, 15, 20, 30, 40, 60, 80]


def score_set(binary, data, path):
    rows, scored = score(binary, data, path)
    return [{
        "good": good(r),
        "fold": fold(r),
        "words": len(r["response"].split()),
        "attribution": s["scores"]["attribution"] or 0.0,
        "unsupported": s["scores"]["unsupported_content"] or 0.0,
    } for r, s in zip(rows, scored)]


def term(row, w, s):
    return (1 - w) * row["attribution"] + w * math.exp(-row["unsupported"] / s)


def fit(sets):
    """The (w, s) with the largest mean AUROC gain over attribution across `sets` among those
    that gain on every set (else the largest smallest gain)."""
    base = [auroc([r["attribution"] for r in rows], [r["good"] for r in rows])[0] for rows in sets]
    best = None
    for w in WEIGHTS:
        for s in SCALES:
            gains = [auroc([term(r, w, s) for r in rows], [r["good"] for r in rows])[0] - b
                     for rows, b in zip(sets, base)]
            key = (min(gains) >= 0, sum(gains) if min(gains) >= 0 else min(gains))
            if best is None or key > best[0]:
                best = (key, w, s)
    return best[1], best[2]


def by_length(rows, score, bins=10):
    """AUROC within deciles of response length, pooled with weights n1 * n0."""
    rows = sorted(rows, key=lambda r: r["words"])
    total = weight = 0.0
    for b in range(bins):
        part = rows[len(rows) * b // bins: len(rows) * (b + 1) // bins]
        good = [r["good"] for r in part]
        n1 = sum(good)
        n0 = len(good) - n1
        if n1 and n0:
            total += auroc([score(r) for r in part], good)[0] * n1 * n0
            weight += n1 * n0
    return total / weight


def main():
    binary, data = sys.argv[1], sys.argv[2]
    scored = [(name, score_set(binary, data, path)) for name, path in SETS]
    # Per set, per fold: AUROC of attribution, of `final` with the pair fitted without the fold,
    # and of length alone; overall and within length deciles.
    figures = {name: [] for name, _ in scored}
    print("| fold | w | s |")
    print("|---:|---:|---:|")
    for k in range(FOLDS):
        w, s = fit([[r for r in rows if r["fold"] != k] for _, rows in scored])
        print(f"| {k} | {w:.1f} | {s} |")
        for name, rows in scored:
            held = [r for r in rows if r["fold"] == k]
            good = [r["good"] for r in held]
            scores = (lambda r: r["attribution"], lambda r: term(r, w, s), lambda r: -r["words"])
            figures[name].append([auroc([f(r) for r in held], good)[0] for f in scores]
                                 + [by_length(held, f) for f in scores])
    print()
    print("Held out: the mean over the 5 folds of each fold's AUROC (its rows scored with the pair "
          "fitted without it), [lowest, highest fold].")
    print()
    print("| set | rows | attribution | final | length only | within length deciles: attribution | final | length only |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rows in scored:
        cells = []
        for c in range(6):
            values = [f[c] for f in figures[name]]
            cells.append(f"{sum(values) / len(values):.3f} [{min(values):.3f}, {max(values):.3f}]")
        print(f"| {name} | {len(rows):,} | " + " | ".join(cells) + " |")
    print()
    print("All rows, with the pair fitted on all rows (95% Hanley-McNeil intervals):")
    print()
    w, s = fit([rows for _, rows in scored])
    print("| set | attribution | final | length only |")
    print("|---|---:|---:|---:|")
    for name, rows in scored:
        good = [r["good"] for r in rows]
        cells = []
        for scores in ([r["attribution"] for r in rows], [term(r, w, s) for r in rows],
                       [-r["words"] for r in rows]):
            a, se = auroc(scores, good)
            cells.append(f"{a:.3f} ± {1.96 * se:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print(f"Fitted on all rows: unsupported_weight = {w:.1f}, unsupported_scale = {s}")


if __name__ == "__main__":
    main()
