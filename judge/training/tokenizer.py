"""A tokenizer for a judge trained from scratch: bytes, plus the template as whole tokens.

The vocabulary is the 256 byte-level symbols with no merges, so responses stay one character
per token (a judge that compares "abdc" with "abcd" must see the characters), plus every fixed
piece of the PandaLM template (preambles, section headers, the verdict word "Tie") and any
caller-given strings (e.g. a task suite's instructions) as added tokens. A prompt then costs
a handful of template tokens plus its content. Added tokens are not "special", so decoding
with `skip_special_tokens=True` (as the `hf` backend does) keeps "Tie".
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from judge.prompt import _PREAMBLE_NO_INPUT, _PREAMBLE_WITH_INPUT

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
TEMPLATE_PIECES = (
    _PREAMBLE_WITH_INPUT, _PREAMBLE_NO_INPUT, "### Instruction:\n", "\n\n### Input:\n",
    "### Response 1:\n", "\n\n### Response 2:\n", "\n\n### Evaluation:\n",
    "\n\n### Reason: ", "\n\n### Reference: ", "Tie",
)


def build_tokenizer(extra_pieces: Sequence[str] = ()) -> PreTrainedTokenizerFast:
    """Byte-level vocabulary without merges plus the template (and `extra_pieces`) as tokens.

    Deterministic: the same pieces give the same ids."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate([PAD, BOS, EOS, *alphabet])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([PAD, BOS, EOS])
    pieces = list(dict.fromkeys([*TEMPLATE_PIECES, *extra_pieces]))
    tok.add_tokens([AddedToken(p, normalized=False, special=False) for p in pieces])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS)
