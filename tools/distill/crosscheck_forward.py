"""Optional check: the numpy forward pass (bert_numpy.py) against an independent implementation,
candle-transformers' BertModel (Rust, crates.io), on sentence embeddings of all-MiniLM-L6-v2
(mean pooling + L2 normalization). Both read the same model.safetensors; token ids come from
`tokenizers` and are given to both.

  cargo build --release --manifest-path crosscheck/Cargo.toml
  python crosscheck_forward.py      (after distill.py has filled .cache/)
"""

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from bert_numpy import BertNumpy, sentence_embeddings

HERE = Path(__file__).resolve().parent
source = HERE / ".cache" / "all-MiniLM-L6-v2"
binary = HERE / "crosscheck" / "target" / "release" / "crosscheck"

SENTENCES = [
    "how much money do I have",
    "what's my balance",
    "reset my password",
    "I forgot my login credentials",
    "book a flight to Paris",
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé, punctuation!!! and numbers 12345 — plus a rather long tail of words to make the "
    "sequence longer than the others so that padding and masking matter in the batched numpy pass.",
    "a",
]

tok = Tokenizer.from_file(str(source / "tokenizer.json"))
tok.no_padding()
tok.enable_truncation(256)
ids = [e.ids for e in tok.encode_batch(SENTENCES, add_special_tokens=True)]
ours = sentence_embeddings(BertNumpy(source), Tokenizer.from_file(str(source / "tokenizer.json")), SENTENCES)
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump(ids, f)
theirs = np.array(json.loads(subprocess.run([str(binary), str(source), f.name], check=True,
                                            capture_output=True, text=True).stdout))
diff = np.abs(ours - theirs).max()
cos = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
print(f"{len(SENTENCES)} sentences: max |numpy - candle| = {diff:.2e}, min cosine = {cos.min():.8f}")
assert diff < 1e-4, diff

# The distillation inputs themselves: [CLS] token [SEP], mean over the 3 positions (compared
# after L2 normalization, which the binary applies).
from distill import embed_tokens  # noqa: E402

vocab = json.loads((source / "tokenizer.json").read_text())["model"]["vocab"]
words = ["[PAD]", "[UNK]", "the", "balance", "password", "##ing", "paris", "!", "ß", "##zy"]
tok_ids = [vocab[w] for w in words]
ours = embed_tokens(BertNumpy(source), tok_ids, vocab["[CLS]"], vocab["[SEP]"])
ours /= np.linalg.norm(ours, axis=1, keepdims=True)
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump([[vocab["[CLS]"], t, vocab["[SEP]"]] for t in tok_ids], f)
theirs = np.array(json.loads(subprocess.run([str(binary), str(source), f.name], check=True,
                                            capture_output=True, text=True).stdout))
diff = np.abs(ours - theirs).max()
print(f"{len(words)} token inputs [CLS] t [SEP]: max |numpy - candle| = {diff:.2e}")
assert diff < 1e-4, diff
