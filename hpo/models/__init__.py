"""Base models: aliases for the paper's five 7B models, the embedded tiny model, SmolLM2-135M
(offline), and local folders; `prepare_base` once per run, `load_base` in every trial.

The loaders (transformers, peft, torch) are imported on first use, so that planning a run
(`hpo run --dry-run`, resolving an alias) starts without them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.models.aliases import HUB_MODELS, MODEL_ALIASES, ResolvedModel, resolve_model

if TYPE_CHECKING:
    from hpo.models.load import apply_lora, load_base, prepare_base

__all__ = ["HUB_MODELS", "apply_lora", "MODEL_ALIASES", "ResolvedModel", "load_base", "prepare_base", "resolve_model"]
_LOADERS = ("apply_lora", "load_base", "prepare_base")


def __getattr__(name: str) -> Any:
    """The loaders, from `hpo.models.load` on first use."""
    if name in _LOADERS:
        from hpo.models import load

        return getattr(load, name)
    raise AttributeError(f"module 'hpo.models' has no attribute '{name}'")
