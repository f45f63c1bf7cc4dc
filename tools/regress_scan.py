#!/usr/bin/env python3
"""Scan MMLU-Pro model pairs for slice-level regressions (issue 14).

For each baseline -> candidate pair of lean runs in ../shared/data/mmlu_pro/scores/, runs

    faultmap regress compare A B --prompts questions.jsonl --group-by metadata.category \
        --format json -q [EXTRA...]

and prints one Markdown row per pair: the whole-run change with its 95% interval, the exit
code, the categories that regressed (change in points and pairs), how many prompt-cluster
slices regressed with the majority category of each, and each regressed region of the
regression scan with its pairs, change and the category make-up of its regressed cases.
Stdlib only.

    python3 tools/regress_scan.py target/release/faultmap ../shared/data/mmlu_pro [EXTRA...]
"""

import json
import subprocess
import sys
import time
from collections import Counter

# Pairs of one family, version or size step: the comparisons a team would gate in CI.
PAIRS = [
    ("Llama-2-7b-hf", "Llama-2-13b-hf"),
    ("Llama-2-13b-hf", "Llama-2-70b-hf"),
    ("Llama-2-7b-hf", "Meta-Llama-3-8B"),
    ("Meta-Llama-3-8B", "Meta-Llama-3_1-8B"),
    ("Meta-Llama-3-70B", "Meta-Llama-3_1-70B"),
    ("Meta-Llama-3_1-8B", "Meta-Llama-3_1-8B-Instruct"),
    ("Meta-Llama-3_1-70B", "Meta-Llama-3_1-70B-Instruct"),
    ("Meta-Llama-3_1-70B-Instruct", "Meta-Llama-3_1-8B-Instruct"),
    ("Mistral-7B-v0.1", "Mistral-7B-Instruct-v0.1"),
    ("Mistral-7B-Instruct-v0.1", "Mistral-7B-Instruct-v0.2"),
    ("Mistral-7B-v0.2-hf", "Mistral-7B-Instruct-v0.2"),
    ("Mistral-7B-v0.1", "Mistral-7B-v0.2-hf"),
    ("Mixtral-8x7B-v0.1", "Mixtral-8x7B-Instruct-v0.1"),
    ("Mistral-7B-v0.1", "mathstral-7B"),
    ("Yi-6B", "Yi-6b-Chat"),
    ("Yi-6B", "Yi-34B"),
    ("Qwen1.5-7B-Chat", "Qwen1.5-72B-Chat"),
    ("Qwen1.5-72B-Chat", "Qwen1.5-110B"),
    ("gemma-7b", "Phi-3-mini-4k-instruct"),
    ("gemini-1.5-flash-002", "gemini-1.5-pro-002"),
    ("c4ai-command-r-v01", "Qwen1.5-72B-Chat"),
    ("Meta-Llama-3_1-8B-Instruct", "mathstral-7B"),
    ("Meta-Llama-3-70B", "Qwen1.5-110B"),
    ("jamba-1.5-large", "gemini-1.5-pro-002"),
]


def pts(x):
    return f"{100 * x:+.1f}"


def main():
    binary, data = sys.argv[1], sys.argv[2]
    extra = sys.argv[3:]
    category = {}
    with open(f"{data}/questions.jsonl") as f:
        for line in f:
            q = json.loads(line)
            category[q["id"]] = q["metadata"]["category"]
    print("| baseline → candidate | whole run (pts) | 95% CI | exit | regressed categories (pts, pairs) | regressed cluster slices (majority category of their regressed cases) | regression-scan regions (pairs, pts: categories of their regressed cases) | s |")
    print("|---|---:|---|---:|---|---|---|---:|")
    for a, b in PAIRS:
        started = time.time()
        out = subprocess.run(
            [binary, "regress", "compare", f"{data}/scores/{a}.jsonl", f"{data}/scores/{b}.jsonl",
             "--prompts", f"{data}/questions.jsonl", "--group-by", "metadata.category",
             "--format", "json", "-q", *extra],
            capture_output=True, text=True)
        secs = time.time() - started
        if out.returncode not in (0, 1):
            print(f"| {a} → {b} | error: {out.stderr.strip()[:200]} |")
            continue
        report = json.loads(out.stdout)
        g = report["global"]
        regressed = [s for s in report["slices"] if s["change"] == "regressed"]
        cats = [f"{s['value']} ({pts(s['difference'])}, {s['pairs']})"
                for s in regressed if s["source"] == "metadata.category"]
        clusters = []
        regions = []
        for s in regressed:
            if s["source"] == "metadata.category":
                continue
            if s["source"] == "scan":
                counts = Counter(category.get(k, "?") for k in s["regressed_cases"])
                total = sum(counts.values()) or 1
                makeup = ", ".join(f"{c} {100 * n / total:.0f}%" for c, n in counts.most_common(3))
                regions.append(f"{s['pairs']}, {pts(s['difference'])}: {makeup}")
                continue
            counts = Counter(category.get(k, "?") for k in s["regressed_cases"])
            top = counts.most_common(1)[0][0] if counts else "?"
            clusters.append(top)
        cluster_text = f"{len(clusters)}: " + ", ".join(
            f"{c} ×{n}" for c, n in Counter(clusters).most_common()) if clusters else "0"
        print(f"| {a} → {b} | {pts(g['difference'])} | [{pts(g['ci'][0])}, {pts(g['ci'][1])}] "
              f"| {out.returncode} | {', '.join(cats) or '–'} | {cluster_text} "
              f"| {'; '.join(regions) or '–'} | {secs:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
