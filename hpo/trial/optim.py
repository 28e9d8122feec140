"""Optimizer, learning-rate schedule and the per-batch optimisation step for one training."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from typing import Any, Protocol

import torch
from transformers import get_scheduler

from hpo.config.schema import ExperimentConfig, TrainConfig
from hpo.errors import ConfigError
from hpo.trial.limits import MAX_GRAD_NORM
from hpo.types import TrainingSpec

_SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


def make_optimizer(spec: TrainingSpec, params: Iterable[torch.nn.Parameter], train: TrainConfig,
                   device: torch.device | None = None) -> torch.optim.Optimizer:
    """AdamW, or SGD with `train.sgd_momentum`, at `spec.lr`.

    `device` is where the parameters train (default: where they are now; DeepSpeed moves them
    after the optimizer is built). On CUDA, AdamW is the fused kernel: torch's default foreach
    path allocates a temporary the size of the moments' partition at every step, which the
    memory model does not budget. On CPU torch's default is kept."""
    trainable = [p for p in params if p.requires_grad]
    if spec.optimizer == "adamw":
        target = device or (trainable[0].device if trainable else torch.device("cpu"))
        fused = True if target.type == "cuda" else None
        return torch.optim.AdamW(trainable, lr=spec.lr, weight_decay=train.weight_decay, fused=fused)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(trainable, lr=spec.lr, momentum=train.sgd_momentum,
                               weight_decay=train.weight_decay)
    raise ConfigError(f"unknown optimizer '{spec.optimizer}'; valid: adamw, sgd")


def warmup_steps(spec: TrainingSpec, total_steps: int) -> int:
    """ceil(warmup_ratio * total_steps): transformers 5 takes steps, not a ratio."""
    return math.ceil(spec.warmup_ratio * total_steps)


def make_lr_schedule(spec: TrainingSpec, optimizer: torch.optim.Optimizer,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """cosine / linear decay, or constant, each after a linear warmup."""
    if spec.scheduler not in _SCHEDULES:
        raise ConfigError(f"unknown scheduler '{spec.scheduler}'; valid: {', '.join(_SCHEDULES)}")
    return get_scheduler(_SCHEDULES[spec.scheduler], optimizer,
                         num_warmup_steps=warmup_steps(spec, total_steps), num_training_steps=total_steps)


def token_loss_sum(model: Any, batch: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
    """Sum of next-token cross-entropies over the batch's response tokens.

    Computed here rather than by the model (`labels=`), which averages per micro-batch: a mean
    of per-rank means is not the batch mean when ranks hold different token counts. The caller
    divides by the step's token count over all ranks and micro-batches, so N workers x micro-
    batch b give the same gradient as 1 worker x batch N*b."""
    labels = batch["labels"].to(device)
    logits = model(input_ids=batch["input_ids"].to(device),
                   attention_mask=batch["attention_mask"].to(device)).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
        ignore_index=-100, reduction="sum")


class Stepper(Protocol):
    """One optimizer step over a step's micro-batches; hides plain torch / DDP vs DeepSpeed."""

    model: Any  # the bare module (unwrapped): for generation and saving

    def step(self, micro: list[dict[str, torch.Tensor]], n_tokens: int) -> float:
        """Train on `micro`; `n_tokens` counts the step's target tokens over all ranks.
        Returns this rank's share of the step's mean loss (summed over ranks = the mean)."""
        ...

    def lr(self) -> float: ...

    def optimizer_state_bytes(self) -> int: ...


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held in an optimizer's per-parameter state (moments, momentum buffers)."""
    return sum(t.numel() * t.element_size() for st in optimizer.state.values()
               for t in st.values() if torch.is_tensor(t) and t.dim() > 0)


class PlainStepper:
    """forward, backward (DDP all-reduces the gradient on the last micro-batch), clip the
    gradient norm at 1.0 (as Alpaca's Trainer did), step. The module is already on `device`."""

    def __init__(self, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any,
                 cfg: ExperimentConfig, dist: Any, ddp: Any = None) -> None:
        self.model, self.optimizer, self.scheduler, self.cfg = model, optimizer, scheduler, cfg
        self.dist, self.forward = dist, ddp if ddp is not None else model
        self.params = [p for p in model.parameters() if p.requires_grad]

    def step(self, micro: list[dict[str, torch.Tensor]], n_tokens: int) -> float:
        from hpo.trial.precision import autocast

        total = 0.0
        for k, batch in enumerate(micro):
            last = k == len(micro) - 1
            sync = contextlib.nullcontext() if last or self.dist.world == 1 else self.forward.no_sync()
            with sync:
                with autocast(self.cfg, self.dist.device):
                    loss = token_loss_sum(self.forward, batch, self.dist.device) / n_tokens
                (loss * self.dist.world).backward()  # DDP averages over ranks; we want the sum
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(self.params, MAX_GRAD_NORM)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def optimizer_state_bytes(self) -> int:
        return state_bytes(self.optimizer)
