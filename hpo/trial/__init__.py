"""The trial: one training of one TrainingSpec, answering the validation set at each checkpoint."""

from __future__ import annotations

from hpo.trial.train import run_training

__all__ = ["run_training"]
