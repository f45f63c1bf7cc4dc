#!/usr/bin/env python3
"""What `final` should be made of: AUROC for "acceptable" of each scorer and of blends of them,
on every labelled set with a context (docs/score.md, "What `final` is made of").

    python3 tools/score_ablation.py target/release/faultmap ../shared/data

Runs `faultmap score FILE --format jsonl -q` on BEGIN dev (generic turns left out) and HaluEval
QA, dialogue and summarization, and prints one Markdown row per blend with the AUROC and its
95% Hanley-McNeil interval. The blends are recomputed here from the scorers in the output, so
the "before" formula (the weighted mean with the relevance floor) is measured on the same rows.
Stdlib only.
"""

import sys

from labelled import SETS, auroc, good, score


def old_final(s, floor=True):
    """The blend `final` was before: weighted mean, capped at attribution + 0.25, relevance floor."""
    a, rel, spec, cq = s["attribution"], s["relevance"], s["specificity"], s["context_quality"]
    parts = [(a, 0.55), (rel, 0.15), (spec, 0.05), (cq, 0.10)]
    mean = sum(v * w for v, w in parts if v is not None) / sum(w for v, w in parts if v is not None)
    f = min(mean, a + 0.25)
    if floor and rel < 0.3:
        f *= 0.5 + 0.5 * rel / 0.3
    return f


BLENDS = [
    ("attribution alone", lambda s, r: s["attribution"]),
    ("weighted mean, cap, relevance floor (before)", lambda s, r: old_final(s)),
    ("the same without the relevance floor", lambda s, r: old_final(s, floor=False)),
    ("attribution × relevance floor only",
     lambda s, r: s["attribution"] * (0.5 + 0.5 * s["relevance"] / 0.3 if s["relevance"] < 0.3 else 1.0)),
    ("attribution + 0.1 × weighted mean", lambda s, r: s["attribution"] + 0.1 * old_final(s, floor=False)),
    ("relevance alone", lambda s, r: s["relevance"]),
    ("specificity alone", lambda s, r: s["specificity"]),
    ("context quality alone", lambda s, r: s["context_quality"] or 0.0),
    ("response length alone", lambda s, r: len(r["response"])),
    ("`final` as output", lambda s, r: s["final"]),
]


def main():
    binary, data = sys.argv[1], sys.argv[2]
    columns = []
    for name, path in SETS:
        rows, scored = score(binary, data, path)
        labels = [good(r) for r in rows]
        columns.append((f"{name} ({len(rows):,})", [
            auroc([blend(s["scores"], s) for s in scored], labels) for _, blend in BLENDS]))
    print("| final made of | " + " | ".join(c for c, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for b, (label, _) in enumerate(BLENDS):
        cells = [f"{col[b][0]:.3f} ± {1.96 * col[b][1]:.3f}" for _, col in columns]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
