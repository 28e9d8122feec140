"""Base models: aliases for the paper's five 7B models, the embedded tiny model, SmolLM2-135M
(offline), and local folders; `prepare_base` once per run, `load_base` in every trial."""

from __future__ import annotations

from hpo.models.aliases import HUB_MODELS, MODEL_ALIASES, ResolvedModel, resolve_model
from hpo.models.load import apply_lora, load_base, prepare_base

__all__ = ["HUB_MODELS", "apply_lora", "MODEL_ALIASES", "ResolvedModel", "load_base", "prepare_base", "resolve_model"]
