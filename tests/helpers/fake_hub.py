"""A tiny random model of a real preset's architecture, placed in a Hugging Face cache under the
preset's own repo id (`bigscience/bloom-7b1`, ...), so `hpo run --model bloom-7b` runs its real
hub-loading code (`snapshot_download(..., local_files_only=True)`) on this CPU machine.

Only the weights are replaced: the architecture class, the cache layout and the loading path are
the ones a user's run takes. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    BloomConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    OPTConfig,
    PreTrainedTokenizerFast,
)

from tests.helpers.tiny_llama import build_tokenizer

# preset alias -> (architecture, hub repo id the preset resolves to)
ARCHES: dict[str, tuple[str, str]] = {
    "bloom": ("bloom-7b", "bigscience/bloom-7b1"),
    "llama": ("llama-7b", "huggyllama/llama-7b"),
    "opt": ("opt-6.7b", "facebook/opt-6.7b"),
    "gpt-neox": ("pythia-6.9b", "EleutherAI/pythia-6.9b"),
    "gpt2": ("cerebras-gpt-6.7b", "cerebras/Cerebras-GPT-6.7B"),
}
HIDDEN, LAYERS, HEADS = 64, 2, 2


def _config(arch: str, tok: PreTrainedTokenizerFast) -> Any:
    """A 2-layer, 64-wide config of `arch` (head width 32)."""
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
           "pad_token_id": tok.pad_token_id}
    vocab = len(tok)
    if arch == "bloom":
        return BloomConfig(vocab_size=vocab, hidden_size=HIDDEN, n_layer=LAYERS, n_head=HEADS, **ids)
    if arch == "llama":
        return LlamaConfig(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
                           num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                           num_key_value_heads=HEADS, max_position_embeddings=512, **ids)
    if arch == "opt":
        return OPTConfig(vocab_size=vocab, hidden_size=HIDDEN, ffn_dim=2 * HIDDEN,
                         num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                         word_embed_proj_dim=HIDDEN, max_position_embeddings=512, **ids)
    if arch == "gpt-neox":
        return GPTNeoXConfig(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
                             num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                             max_position_embeddings=512, **ids)
    if arch == "gpt2":
        return GPT2Config(vocab_size=vocab, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
                          n_positions=512, **ids)
    raise ValueError(f"unknown architecture {arch!r}; valid: {', '.join(ARCHES)}")


def install_tiny(arch: str, hf_home: Path, seed: int = 0) -> tuple[str, Path]:
    """Write a tiny random `arch` model into `<hf_home>/hub` as the preset's repo id.
    Returns (preset alias, snapshot folder)."""
    from transformers import AutoModelForCausalLM

    alias, repo_id = ARCHES[arch]
    tok = build_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(_config(arch, tok))
    repo = Path(hf_home) / "hub" / f"models--{repo_id.replace('/', '--')}"
    revision = "0" * 40
    snapshot = repo / "snapshots" / revision
    model.save_pretrained(snapshot, safe_serialization=True)
    tok.save_pretrained(snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return alias, snapshot
