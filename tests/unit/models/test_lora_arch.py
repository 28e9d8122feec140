"""LoRA on tiny random configs of the paper's five architectures, built locally (no downloads).

llama (LLaMA-7B), bloom (BLOOM-7B), gpt_neox (Pythia-6.9B), gpt2 (Cerebras-GPT-6.7B), opt
(OPT-6.7B): the default targets must exist in each, train, and leave the base frozen.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    BloomConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    OPTConfig,
)

from hpo.config.schema import LoraConfig
from hpo.errors import ConfigError
from hpo.models import apply_lora
from hpo.models.lora import DEFAULT_TARGETS, lora_targets

V, H = 64, 32
CONFIGS: dict[str, Any] = {
    "llama": lambda: LlamaConfig(vocab_size=V, hidden_size=H, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=2),
    "bloom": lambda: BloomConfig(vocab_size=V, hidden_size=H, n_layer=2, n_head=2),
    "gpt_neox": lambda: GPTNeoXConfig(vocab_size=V, hidden_size=H, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=2),
    "gpt2": lambda: GPT2Config(vocab_size=V, n_embd=H, n_layer=2, n_head=2, n_positions=64),
    "opt": lambda: OPTConfig(vocab_size=V, hidden_size=H, ffn_dim=64, num_hidden_layers=2,
                             num_attention_heads=2, word_embed_proj_dim=H, max_position_embeddings=64),
}


def tiny(arch: str) -> Any:
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(CONFIGS[arch]())


@pytest.mark.parametrize("targets", [None, ["all-linear"]], ids=["default", "all-linear"])
@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_lora_trains_on_each_paper_architecture(arch: str, targets: list[str] | None) -> None:
    model = apply_lora(tiny(arch), LoraConfig(rank=4, alpha=8, dropout=0.0, target_modules=targets))
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable), sorted(trainable)[:5]
    assert all(p.dtype == torch.float32 for p in trainable.values())
    before = {n: p.detach().clone() for n, p in trainable.items()}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    ids = torch.randint(0, V, (2, 12))
    opt = torch.optim.AdamW(trainable.values(), lr=1e-2)
    for _ in range(2):  # lora_B starts at zero: the second step moves lora_A too
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    assert any(not torch.equal(before[n], p) for n, p in trainable.items())
    assert all(torch.equal(frozen[n], p) for n, p in model.named_parameters() if not p.requires_grad)


def test_default_targets_cover_the_five_architectures_and_unknown_is_an_error() -> None:
    assert {"llama", "bloom", "gpt_neox", "gpt2", "opt"} <= set(DEFAULT_TARGETS)
    model = tiny("bloom")
    assert lora_targets(model, None) == ["query_key_value"]
    assert lora_targets(model, ["dense"]) == ["dense"]
    model.config.model_type = "mystery"
    with pytest.raises(ConfigError, match="model.lora.target_modules"):
        lora_targets(model, None)
