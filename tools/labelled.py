"""The labelled sets the score tools fit and measure on, and how they run `faultmap score` on
them (imported by tools/score_ablation.py, tools/fit_final.py and tools/fit_decisions.py).
Stdlib only."""

import json
import math
import os
import subprocess
import tempfile
import zlib

# (name, path under the data folder): BEGIN dev and HaluEval's three sets with a context.
SETS = [
    ("BEGIN dev", "begin_dev/begin_dev.jsonl"),
    ("HaluEval QA", "halueval/qa.jsonl"),
    ("HaluEval dialogue", "halueval/dialogue.jsonl"),
    ("HaluEval summarization", "halueval/summarization.jsonl"),
]
FOLDS = 5


def auroc(scores, positive):
    """Mann-Whitney AUROC with tie-averaged ranks, and the Hanley-McNeil standard error."""
    pairs = sorted(zip(scores, positive))
    n1 = sum(positive)
    n0 = len(positive) - n1
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        rank_sum += rank * sum(1 for k in range(i, j + 1) if pairs[k][1])
        i = j + 1
    a = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0))
    return a, se


def score(binary, data, path, args=()):
    """The set's rows (generic BEGIN turns left out) and `faultmap score`'s output for each, run
    on id, prompt, response and context alone (HaluEval's `reference` is its faithful answer)."""
    rows = []
    with open(f"{data}/{path}") as f:
        for line in f:
            r = json.loads(line)
            if r["label"] != "generic":
                rows.append(r)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tmp:
        for r in rows:
            tmp.write(json.dumps({k: r[k] for k in ("id", "prompt", "response", "context")}) + "\n")
    out = subprocess.run([binary, "score", tmp.name, "--format", "jsonl", "-q", *args],
                         capture_output=True, text=True, check=True)
    os.unlink(tmp.name)
    return rows, [json.loads(line) for line in out.stdout.splitlines()]


def good(row):
    """Whether people (BEGIN) or the construction (HaluEval) call the response acceptable."""
    return row["label"] in ("attributable", "faithful")


def fold(row):
    """The row's fold, by a hash of its input (prompt and context): the answers to one input
    never straddle a fit and its held-out fold."""
    return zlib.crc32((row["prompt"] + "\x00" + (row["context"] or "")).encode()) % FOLDS
