"""The trial: one training of one TrainingSpec, answering the validation set at each checkpoint.

`run_training` (torch, transformers) is imported on first use, so that the planner can read the
trial's light modules (memory model, DeepSpeed config) without them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpo.trial.loop import run_training

__all__ = ["run_training"]


def __getattr__(name: str) -> Any:
    """`run_training`, from `hpo.trial.loop` on first use."""
    if name == "run_training":
        from hpo.trial.loop import run_training

        return run_training
    raise AttributeError(f"module 'hpo.trial' has no attribute '{name}'")
