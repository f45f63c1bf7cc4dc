"""Quality check of the distilled static model, and reference embeddings for the Rust loader.

Encodes sentences the way model2vec's StaticModel.encode does: tokenizer.json without special
tokens (add_special_tokens=False; truncation at 512 tokens from tokenizer.json), [UNK] ids removed,
mean of the token rows of `embeddings` (int8 read as float, no scale), L2-normalized.
Prints cosine similarities of paraphrase and unrelated pairs, for the static model and (if the
source model is in the cache, i.e. distill.py has run) for the full all-MiniLM-L6-v2, and writes
reference.json. With --model2vec it also checks that the `model2vec` package loads the directory
and gives the same vectors.

Usage: python check.py [--asset ../../assets/static-minilm] [--model2vec]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent

PAIRS = [
    ("how much money do I have", "what's my balance", "paraphrase"),
    ("reset my password", "I forgot my login credentials", "paraphrase"),
    ("book a flight to Paris", "I need a plane ticket to France", "paraphrase"),
    ("the weather is lovely today", "it is sunny and warm outside", "paraphrase"),
    ("how much money do I have", "book a flight to Paris", "unrelated"),
    ("reset my password", "book a flight to Paris", "unrelated"),
    ("what's my balance", "the weather is lovely today", "unrelated"),
    ("I forgot my login credentials", "I need a plane ticket to France", "unrelated"),
]

REFERENCE_SENTENCES = [
    "how much money do I have",
    "what's my balance",
    "reset my password",
    "I forgot my login credentials",
    "Book a flight to Paris, please! \u2708\ufe0f",  # the emoji is [UNK], which is dropped
]


class Static:
    def __init__(self, asset: Path):
        self.config = json.loads((asset / "config.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(asset / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.emb = load_file(str(asset / "model.safetensors"))["embeddings"].astype(np.float32)
        unk = json.loads(self.tokenizer.to_str())["model"]["unk_token"]
        self.unk_id = self.tokenizer.token_to_id(unk)

    def ids(self, sentences: list[str]) -> list[list[int]]:
        encs = self.tokenizer.encode_batch(sentences, add_special_tokens=False)
        return [[i for i in e.ids if i != self.unk_id] for e in encs]

    def encode(self, sentences: list[str]) -> np.ndarray:
        out = np.zeros((len(sentences), self.emb.shape[1]), dtype=np.float32)
        for row, ids in enumerate(self.ids(sentences)):
            if ids:
                out[row] = self.emb[ids].mean(axis=0)
        norm = np.linalg.norm(out, axis=1, keepdims=True) + 1e-32
        return out / norm


def cosine_table(name: str, encode) -> dict[str, float]:
    texts = sorted({t for a, b, _ in PAIRS for t in (a, b)})
    vecs = dict(zip(texts, encode(texts)))
    print(f"\n{name}")
    result = {}
    for a, b, kind in PAIRS:
        c = float(np.dot(vecs[a], vecs[b]))
        result[f"{a} | {b}"] = c
        print(f"  {kind:10s} {c:6.3f}  {a!r} vs {b!r}")
    para = [result[f"{a} | {b}"] for a, b, k in PAIRS if k == "paraphrase"]
    unrel = [result[f"{a} | {b}"] for a, b, k in PAIRS if k == "unrelated"]
    print(f"  mean paraphrase {np.mean(para):.3f}, mean unrelated {np.mean(unrel):.3f}, "
          f"min paraphrase - max unrelated {min(para) - max(unrel):+.3f}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--asset", type=Path, default=HERE.parent.parent / "assets" / "static-minilm")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--model2vec", action="store_true", help="also load the asset with the model2vec package")
    ap.add_argument("--reference", type=Path, default=HERE / "reference.json")
    args = ap.parse_args()

    model = Static(args.asset)
    print(f"asset {args.asset}: embeddings {model.emb.shape}, vocab {model.tokenizer.get_vocab_size()}")
    static_cos = cosine_table("static model (this asset)", model.encode)

    source = args.cache / "all-MiniLM-L6-v2"
    if (source / "model.safetensors").exists():
        from bert_numpy import BertNumpy, sentence_embeddings

        bert = BertNumpy(source)
        full_tok = Tokenizer.from_file(str(source / "tokenizer.json"))
        cosine_table("full all-MiniLM-L6-v2 (numpy forward pass)", lambda t: sentence_embeddings(bert, full_tok, t))

    if args.model2vec:
        from model2vec import StaticModel

        m2v = StaticModel.from_pretrained(str(args.asset))
        ours = model.encode(REFERENCE_SENTENCES + [a for a, _, _ in PAIRS])
        theirs = m2v.encode(REFERENCE_SENTENCES + [a for a, _, _ in PAIRS])
        diff = float(np.abs(ours - theirs).max())
        print(f"\nmodel2vec {__import__('model2vec').__version__} StaticModel.from_pretrained: max |diff| = {diff:.2e}")
        assert diff < 1e-5, diff

    ref_vecs = model.encode(REFERENCE_SENTENCES)
    reference = {
        "note": "Embeddings of the committed assets/static-minilm model, encoded as model2vec does "
                "(token_ids: tokenizer.json without special tokens; then [UNK] = id 1 removed, mean of the int8 rows "
                "as f32, L2-normalized). "
                "first8 = first 8 of the 256 dimensions, rounded to 6 decimals. Written by tools/distill/check.py.",
        "dims": int(model.emb.shape[1]),
        "sentences": [
            {"text": s, "token_ids": e.ids, "first8": [round(float(x), 6) for x in v[:8]]}
            for s, e, v in zip(
                REFERENCE_SENTENCES, model.tokenizer.encode_batch(REFERENCE_SENTENCES, add_special_tokens=False), ref_vecs
            )
        ],
        "cosine": {k: round(v, 6) for k, v in static_cos.items()},
    }
    text = json.dumps(reference, indent=2, ensure_ascii=False)
    text = re.sub(r"\[\s+([-0-9.,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    args.reference.write_text(text + "\n")
    print(f"\nwrote {args.reference}")


if __name__ == "__main__":
    main()
