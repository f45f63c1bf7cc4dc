#!/usr/bin/env python3
"""Fits `score`'s decision thresholds to human and constructed labels, with cross-validation
(issue 15; docs/score.md, "How the decisions were fitted").

    python3 tools/fit_decisions.py target/release/faultmap ../shared/data

Two thresholds are fitted on a grid, every labelled set weighted equally (so 1,148 BEGIN rows
count as much as 20,000 HaluEval QA rows):
- `reject_attribution` (REJECT below it: unsupported) recalls the most unattributable rows
  while REJECT's precision, the sets weighted equally, is at least 0.9. A per-set rule is out
  of reach: no threshold reaches 0.9 on HaluEval summarization (at most 0.73), where it would
  leave only the lowest threshold of the grid.
- `accept_final` (ACCEPT at or above it, when no other gate fires) keeps ACCEPT's precision at
  least 0.9 on every set (ACCEPT has to mean supported on each kind of data, not on average)
  and, among those values, has the largest net benefit: accepted attributable rows less COST
  (9) times accepted unattributable ones. A band adds to that only when 90% of it is
  attributable, so the precision budget is not spent on a half-unsupported band that the
  average still allows (the most recall at 0.9 did that, and held out fell to 0.88 on BEGIN).

The sets are BEGIN dev (generic turns left out), HaluEval QA and summarization. HaluEval
dialogue is scored and reported but not fitted: attribution is below chance there (its
"faithful" turns are chit-chat the knowledge does not support), so it would only pull the
thresholds towards nothing.

The rows are scored once with both thresholds out of play (`reject_attribution = 0`,
`accept_final = 0.55`, the lowest value the grid tries); each candidate pair is then applied
to the output: a row with attribution below `reject_attribution` that no earlier gate
rejected becomes REJECT (the grid stops at `weak_attribution`, 0.5, so no such row was
ACCEPT), and an ACCEPT row whose `final` is below `accept_final` becomes REVIEW (borderline).
This is exactly what `score` does with those thresholds.

Folds: 5, by a hash of the input (prompt and context), so the two answers to one HaluEval
input, or several systems' turns on one BEGIN dialogue, never straddle a fit and its held-out
fold. Prints the thresholds of each fold, the held-out three-way table per set (every row
held out once), and the thresholds fitted on all rows, which are the compiled-in defaults.
Stdlib only.
"""

import os
import sys
import tempfile

from labelled import FOLDS, fold, good, score

SETS = [
    ("BEGIN dev", "begin_dev/begin_dev.jsonl", True),
    ("HaluEval QA", "halueval/qa.jsonl", True),
    ("HaluEval summarization", "halueval/summarization.jsonl", True),
    ("HaluEval dialogue", "halueval/dialogue.jsonl", False),
]
PRECISION = 0.9
COST = PRECISION / (1 - PRECISION)
REJECT_GRID = [i / 100 for i in range(0, 91, 2)]
ACCEPT_GRID = [i / 100 for i in range(55, 101)]
OPEN_CONFIG = "[gates]\nreject_attribution = 0.0\naccept_final = 0.55\n"


def score_set(binary, data, path, config):
    rows, scored = score(binary, data, path, ["--config", config])
    return [{
        "good": good(r),
        "fold": fold(r),
        "decision": s["decision"],
        "attribution": s["scores"]["attribution"],
        "final": s["scores"]["final"],
    } for r, s in zip(rows, scored)]


def decide(row, reject_at, accept_at):
    if row["decision"] == "REJECT":
        return "REJECT"
    if row["attribution"] is not None and row["attribution"] < reject_at:
        return "REJECT"
    if row["decision"] == "ACCEPT" and row["final"] < accept_at:
        return "REVIEW"
    return row["decision"]


def weighted(sets, pick):
    """(weighted precision, weighted recall) of decision `pick` for its class, each set
    weighing 1 in all."""
    hit = called = total = 0.0
    for rows in sets:
        w = 1.0 / len(rows)
        for r, d in rows:
            wanted = r["good"] if pick == "ACCEPT" else not r["good"]
            total += w * wanted
            if d == pick:
                called += w
                hit += w * wanted
    return (hit / called if called else 0.0), (hit / total if total else 0.0)


def net_benefit(sets, pick):
    """Rows decided `pick` that are of its class, less COST times those that are not, each set
    weighing 1 in all. At COST = 9 a band of rows adds to it only when at least 90% of the band
    is of the class: every band ACCEPT takes must itself be 90% supported, so the precision
    budget is not spent on a band that is half unsupported."""
    total = 0.0
    for rows in sets:
        w = 1.0 / len(rows)
        for r, d in rows:
            if d == pick:
                wanted = r["good"] if pick == "ACCEPT" else not r["good"]
                total += w * (1.0 if wanted else -COST)
    return total


def lowest_precision(sets, pick):
    """The lowest precision of decision `pick` across `sets` (a set where nothing is `pick`
    counts as precise)."""
    return min(weighted([rows], pick)[0] if any(d == pick for _, d in rows) else 1.0
               for rows in sets)


def fit(sets):
    """The thresholds, fitted on `sets` (lists of rows), among those whose precision is at least
    PRECISION (else the most precise): REJECT's weighted and with the most weighted recall,
    ACCEPT's on every set and with the largest net benefit."""
    chosen = []
    for pick, grid, apply in (("REJECT", REJECT_GRID, lambda row, t: decide(row, t, 0.0)),
                              ("ACCEPT", ACCEPT_GRID, lambda row, t: decide(row, 0.0, t))):
        best = None
        for t in grid:
            decided = [[(row, apply(row, t)) for row in rows] for rows in sets]
            if pick == "ACCEPT":
                p, r = lowest_precision(decided, pick), net_benefit(decided, pick)
            else:
                p, r = weighted(decided, pick)
            key = (p >= PRECISION, r if p >= PRECISION else p)
            if best is None or key > best[0]:
                best = (key, t)
        chosen.append(best[1])
    return chosen[0], chosen[1]


def table(name, decided):
    counts = {(d, g): 0 for d in ("ACCEPT", "REVIEW", "REJECT") for g in (True, False)}
    for r, d in decided:
        counts[(d, r["good"])] += 1
    good = sum(1 for r, _ in decided if r["good"])
    bad = len(decided) - good
    acc_n = counts[("ACCEPT", True)] + counts[("ACCEPT", False)]
    rej_n = counts[("REJECT", True)] + counts[("REJECT", False)]
    acc_p = counts[("ACCEPT", True)] / acc_n if acc_n else float("nan")
    rej_p = counts[("REJECT", False)] / rej_n if rej_n else float("nan")
    print(f"| {name} | {len(decided):,} | "
          + " | ".join(f"{counts[(d, True)]:,} / {counts[(d, False)]:,}" for d in ("ACCEPT", "REVIEW", "REJECT"))
          + f" | {acc_p:.2f} | {counts[('ACCEPT', True)] / good:.2f} | {rej_p:.2f} | {counts[('REJECT', False)] / bad:.2f} |")


def main():
    binary, data = sys.argv[1], sys.argv[2]
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write(OPEN_CONFIG)
    scored = [(name, score_set(binary, data, path, cfg.name), fitted) for name, path, fitted in SETS]
    os.unlink(cfg.name)
    held_out = {name: [] for name, _, _ in scored}
    print("| fold | reject_attribution | accept_final |")
    print("|---:|---:|---:|")
    for k in range(FOLDS):
        train = [[r for r in rows if r["fold"] != k] for _, rows, fitted in scored if fitted]
        reject_at, accept_at = fit(train)
        print(f"| {k} | {reject_at:.2f} | {accept_at:.2f} |")
        for name, rows, _ in scored:
            held_out[name] += [(r, decide(r, reject_at, accept_at)) for r in rows if r["fold"] == k]
    print()
    print("Held out (each row decided by the thresholds fitted without its fold); "
          "attributable / not attributable per decision:")
    print()
    print("| set | rows | ACCEPT | REVIEW | REJECT | ACCEPT precision | ACCEPT recall | REJECT precision | REJECT recall |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, _ in scored:
        table(name, held_out[name])
    reject_at, accept_at = fit([rows for _, rows, fitted in scored if fitted])
    print()
    print(f"Fitted on all rows: reject_attribution = {reject_at:.2f}, accept_final = {accept_at:.2f}")


if __name__ == "__main__":
    main()
