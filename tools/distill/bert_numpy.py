"""A BERT encoder forward pass in plain numpy (no torch), for all-MiniLM-L6-v2.

Architecture as in Hugging Face `transformers.BertModel` (post-LayerNorm encoder):
embeddings = LayerNorm(word[ids] + position[0..n] + token_type[0]); then per layer
  a = LayerNorm(x + Wo . MHA(x))           (12 heads of 32 dims, scaled dot product, masked softmax)
  x = LayerNorm(a + W2 . gelu(W1 . a))     (exact erf GELU, as `hidden_act: "gelu"`)
LayerNorm eps = 1e-12. The output is the last hidden state; there is no pooler here.

Everything is computed in float64 from the float32 weights, so the result does not depend on the
BLAS kernel beyond float64 rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf


class BertNumpy:
    def __init__(self, model_dir: Path):
        cfg = json.loads((model_dir / "config.json").read_text())
        assert cfg["model_type"] == "bert" and cfg["hidden_act"] == "gelu"
        assert cfg.get("position_embedding_type", "absolute") == "absolute"
        self.n_layers = cfg["num_hidden_layers"]
        self.hidden = cfg["hidden_size"]
        self.n_heads = cfg["num_attention_heads"]
        self.head_dim = self.hidden // self.n_heads
        self.eps = cfg["layer_norm_eps"]
        raw = load_file(str(model_dir / "model.safetensors"))
        self.w = {k: v.astype(np.float64) for k, v in raw.items() if v.dtype != np.int64}

    def _ln(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def _dense(self, x: np.ndarray, prefix: str) -> np.ndarray:
        w = self.w[prefix + ".weight"]
        y = x.reshape(-1, x.shape[-1]) @ w.T + self.w[prefix + ".bias"]  # one 2-D GEMM
        return y.reshape(*x.shape[:-1], w.shape[0])

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """input_ids, attention_mask: (batch, seq) ints. Returns last hidden state (batch, seq, hidden)."""
        b, n = input_ids.shape
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][:n][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = self._ln(x, "embeddings.LayerNorm")
        # Additive mask as transformers builds it: 0 where attended, a very large negative value elsewhere.
        add_mask = np.where(attention_mask[:, None, None, :] > 0, 0.0, np.finfo(np.float64).min)
        scale = 1.0 / np.sqrt(self.head_dim)
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."

            def heads(t: np.ndarray) -> np.ndarray:
                return t.reshape(b, n, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)

            q = heads(self._dense(x, p + "attention.self.query"))
            k = heads(self._dense(x, p + "attention.self.key"))
            v = heads(self._dense(x, p + "attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + add_mask
            scores = scores - scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, n, self.hidden)
            x = self._ln(x + self._dense(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            x = self._ln(x + self._dense(h, p + "output.dense"), p + "output.LayerNorm")
        return x


def sentence_embeddings(model: BertNumpy, tokenizer, sentences: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 sentence embeddings: [CLS] text [SEP] (max 256 tokens, as its
    sentence_bert_config.json), masked mean pooling over the last hidden state, L2 normalization."""
    tokenizer = tokenizer.__class__.from_str(tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    encs = tokenizer.encode_batch(sentences, add_special_tokens=True)
    n = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), n), dtype=np.int64)
    mask = np.zeros((len(encs), n), dtype=np.int64)
    for i, e in enumerate(encs):
        ids[i, : len(e.ids)] = e.ids
        mask[i, : len(e.ids)] = 1
    hidden = model.forward(ids, mask)
    m = mask[:, :, None].astype(np.float64)
    pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
