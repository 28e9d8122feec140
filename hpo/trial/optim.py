"""Optimizer, learning-rate schedule and the per-batch optimisation step for one training."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

import torch
from transformers import get_scheduler

from hpo.config import ExperimentConfig, TrainConfig
from hpo.errors import ConfigError
from hpo.trial.limits import MAX_GRAD_NORM
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


class Stepper(Protocol):
    """One optimisation step on a batch; hides plain torch vs a DeepSpeed engine."""

    model: Any

    def step(self, batch: dict[str, torch.Tensor]) -> float: ...

    def lr(self) -> float: ...


class PlainStepper:
    """forward, backward, clip the gradient norm at 1.0 (as Alpaca's Trainer did), step."""

    def __init__(self, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.device = next(model.parameters()).device
        self.params = [p for p in model.parameters() if p.requires_grad]

    def step(self, batch: dict[str, torch.Tensor]) -> float:
        loss = self.model(**{k: v.to(self.device) for k, v in batch.items()}).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, MAX_GRAD_NORM)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])


def make_stepper(model: Any, optimizer: torch.optim.Optimizer, scheduler: Any, cfg: ExperimentConfig) -> Stepper:
    """A DeepSpeed ZeRO-2 stepper when `train.deepspeed` is set, else plain torch (on the GPU if
    one is visible to this trial)."""
    if cfg.train.deepspeed:
        from hpo.trial.deepspeed import DeepSpeedStepper

        return DeepSpeedStepper(model, optimizer, scheduler, cfg)
    if torch.cuda.is_available():
        model.to("cuda")
    return PlainStepper(model, optimizer, scheduler)
