"""Optional check: the asset's tokenizer.json equals what model2vec 0.10.0 itself builds (through
skeletoken) from the source tokenizer, and the token -> [CLS] token [SEP] inputs are the same.

Needs a separate venv (transformers and skeletoken, still no torch):
  python3 -m venv /tmp/venv-sk && /tmp/venv-sk/bin/pip install skeletoken==0.6.1 "transformers==5.3.0" \
      numpy==2.4.6 joblib jinja2 && /tmp/venv-sk/bin/pip install --no-deps model2vec==0.10.0
  /tmp/venv-sk/bin/python crosscheck_tokenizer.py      (after distill.py has filled .cache/)
"""

import json
import re
from pathlib import Path

from model2vec.tokenizer import clean_and_create_vocabulary, turn_tokens_into_ids
from skeletoken import TokenizerModel
from transformers import AutoTokenizer

HERE = Path(__file__).resolve().parent
source = HERE / ".cache" / "all-MiniLM-L6-v2"
asset = HERE.parent.parent / "assets" / "static-minilm"

# The steps of model2vec.distill.distillation.distill_from_model that touch the tokenizer.
original = TokenizerModel.from_transformers_tokenizer(AutoTokenizer.from_pretrained(source)).prune_added_tokens()
model = original.deep_copy()
if model.adds_prefix_space is not None:
    model.adds_prefix_space = True
model = clean_and_create_vocabulary(model, [], token_remove_regex=re.compile(r"\[unused\d+\]"))
tokens = model.sorted_vocabulary
ids = turn_tokens_into_ids(tokens, original)  # ids of the pruned original tokenizer ([MASK] removed)

ref = json.loads(model.to_tokenizer().to_str())
ours = json.loads((asset / "tokenizer.json").read_text())
assert ref == ours, [k for k in set(ref) | set(ours) if ref.get(k) != ours.get(k)]
# Same model inputs, compared as token strings (skeletoken renumbers the source ids after pruning [MASK]).
inv = {i: t for t, i in original.vocabulary.items()}
assert all(len(s) == 3 and inv[s[0]] == "[CLS]" and inv[s[2]] == "[SEP]" and inv[s[1]] == t for s, t in zip(ids, tokens))
print(f"tokenizer.json identical to model2vec/skeletoken's ({len(tokens)} tokens); inputs [CLS] t [SEP] identical")
