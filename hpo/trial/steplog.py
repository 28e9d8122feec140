"""Step-level progress inside an epoch: what a user watches between checkpoints.

Every `train.log_every_steps` optimizer steps (and at an epoch's last step; never when it is 0)
the trial appends a `step` event to its `events.jsonl`: the window's mean loss, the learning
rate, tokens/s, the step and the seconds left in the epoch and in the training, and the system
metrics of the machine it runs on (`hpo.trial.sysmetrics`). The loss and token counts are summed
over ranks (one small all-reduce that every rank joins at the same step), rank 0 writes.
Generation appends `generation` events (answers done / total) per batch of a checkpoint.
The driver tails these files (`hpo.run.steps`) into MLflow and the terminal.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hpo.trial.dist import Dist
from hpo.trial.sysmetrics import SystemSampler


def due(index: int, n_steps: int, every: int) -> bool:
    """Does the step at 0-based `index` of an `n_steps` epoch report? Every `every`-th, and the last."""
    return (index + 1) % every == 0 or index + 1 == n_steps


def append_event(trial_dir: Path, row: dict[str, Any]) -> None:
    """One line in the trial's events.jsonl (rank 0 only calls this)."""
    trial_dir.mkdir(parents=True, exist_ok=True)
    with (trial_dir / "events.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


class StepLog:
    """Accumulates one epoch's steps and reports every `every` of them (see module doc)."""

    def __init__(self, trial_dir: Path, dist: Dist, every: int, epoch: int, epochs: int,
                 n_steps: int) -> None:
        self.trial_dir, self.dist, self.every = trial_dir, dist, every
        self.epoch, self.epochs, self.n_steps = epoch, epochs, n_steps
        self.t0 = self.t_last = time.perf_counter()
        self.loss = self.tokens = 0.0
        self.count = 0
        self.system = SystemSampler()

    def step(self, index: int, loss: float, tokens: int, lr: float) -> None:
        """After the optimizer step at 0-based `index`; `loss` is this rank's share of its mean.
        With `every` 0 (reports off) nothing is counted or written."""
        if not self.every:
            return
        self.loss, self.tokens, self.count = self.loss + loss, self.tokens + tokens, self.count + 1
        if not due(index, self.n_steps, self.every):
            return
        loss_sum, tokens_sum = self.dist.sum([self.loss, self.tokens])
        now = time.perf_counter()
        if self.dist.main:
            append_event(self.trial_dir, self.row(index + 1, loss_sum / self.count, tokens_sum,
                                                  lr, now))
        self.loss = self.tokens = 0.0
        self.count, self.t_last = 0, now

    def row(self, done: int, loss: float, tokens: float, lr: float, now: float) -> dict[str, Any]:
        """The event: per-step pace so far this epoch gives both ETAs."""
        per_step = (now - self.t0) / done
        left_epoch = per_step * (self.n_steps - done)
        return {"event": "step", "epoch": self.epoch, "epochs": self.epochs, "step": done, "steps": self.n_steps,
                "global_step": (self.epoch - 1) * self.n_steps + done, "loss": round(loss, 6),
                "lr": lr, "tokens_per_s": round(tokens / max(now - self.t_last, 1e-9), 1),
                "eta_epoch_s": round(left_epoch, 1),
                "eta_training_s": round(left_epoch + per_step * self.n_steps * (self.epochs - self.epoch), 1),
                "time": time.time()} | ({"system": system} if (system := self.system.sample()) else {})


class GenerationLog:
    """`generation` events: answers done of total for one checkpoint (rank 0)."""

    def __init__(self, trial_dir: Path, epoch: int) -> None:
        self.trial_dir, self.epoch = trial_dir, epoch

    def __call__(self, done: int, total: int) -> None:
        append_event(self.trial_dir, {"event": "generation", "epoch": self.epoch, "done": done,
                                      "total": total, "time": time.time()})
