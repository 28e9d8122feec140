"""Optimizer and learning-rate schedule for one training, built from its TrainingSpec."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from transformers import get_scheduler

from hpo.config import TrainConfig
from hpo.errors import ConfigError
from hpo.types import TrainingSpec

_SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


def make_optimizer(spec: TrainingSpec, params: Iterable[torch.nn.Parameter], train: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, or SGD with `train.sgd_momentum`, at `spec.lr`."""
    trainable = [p for p in params if p.requires_grad]
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(trainable, lr=spec.lr, weight_decay=train.weight_decay)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(trainable, lr=spec.lr, momentum=train.sgd_momentum,
                               weight_decay=train.weight_decay)
    raise ConfigError(f"unknown optimizer '{spec.optimizer}'; valid: adamw, sgd")


def warmup_steps(spec: TrainingSpec, total_steps: int) -> int:
    """ceil(warmup_ratio * total_steps): transformers 5 takes steps, not a ratio."""
    return math.ceil(spec.warmup_ratio * total_steps)


def make_scheduler(spec: TrainingSpec, optimizer: torch.optim.Optimizer,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """cosine / linear decay, or constant, each after a linear warmup."""
    if spec.scheduler not in _SCHEDULES:
        raise ConfigError(f"unknown scheduler '{spec.scheduler}'; valid: {', '.join(_SCHEDULES)}")
    return get_scheduler(_SCHEDULES[spec.scheduler], optimizer,
                         num_warmup_steps=warmup_steps(spec, total_steps), num_training_steps=total_steps)
