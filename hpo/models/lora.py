"""LoRA target modules that exist in each of the paper's five architectures.

peft's own default list misses some of them, and the old `q_proj`/`v_proj` default matched only
LLaMA and OPT: BLOOM and GPT-NeoX (Pythia) fuse the attention projections into
`query_key_value`, GPT-2 (Cerebras-GPT) into `c_attn`. Keyed by `config.model_type`.
"""

from __future__ import annotations

from typing import Any

from hpo.errors import ConfigError

DEFAULT_TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "v_proj"],
    "opt": ["q_proj", "v_proj"],
    "bloom": ["query_key_value"],
    "gpt_neox": ["query_key_value"],
    "gpt2": ["c_attn"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
}
ALL_LINEAR = "all-linear"


def lora_targets(model: Any, requested: list[str] | None) -> list[str] | str:
    """The modules to adapt: `requested` as given ("all-linear" passes through to peft), else
    the architecture's default; an unknown architecture without a list is a one-line error."""
    if requested:
        return ALL_LINEAR if requested == [ALL_LINEAR] else list(requested)
    model_type = getattr(model.config, "model_type", "?")
    if model_type not in DEFAULT_TARGETS:
        raise ConfigError(f"no default LoRA targets for model type '{model_type}'; set "
                          f"model.lora.target_modules (or [{ALL_LINEAR}]); known: "
                          f"{', '.join(sorted(DEFAULT_TARGETS))}")
    return DEFAULT_TARGETS[model_type]
