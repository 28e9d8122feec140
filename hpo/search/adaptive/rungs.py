"""Successive halving's arithmetic: the rounds, the survivors of a rung, the epoch budget.

Pure functions of the settings (no Ray, no judge), shared by the driver that runs the rounds
(`hpo.search.adaptive.halving`) and `--dry-run`, which prints the training epochs each search mode
spends next to the grid's. Halving's epochs are fixed in advance: round r trains every live
training from the previous rung's epoch up to its own, so the total is known before anything
runs (fewer only when a training fails).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError


@dataclass(frozen=True)
class Round:
    """One synchronous round: train `live` trainings up to `epoch`, then keep `keep` of them."""

    index: int
    epoch: int
    live: int
    keep: int

    @property
    def decides(self) -> bool:
        """A rung round (compare and stop some), not the last one that trains to the end."""
        return self.keep < self.live


def schedule(n_trainings: int, rungs: Sequence[int], epochs: int, eta: int) -> list[Round]:
    """The rounds: one per rung (keeping ceil(live / eta), at least 1), then one to `epochs`."""
    rounds, live = [], n_trainings
    for index, epoch in enumerate([*rungs, epochs]):
        keep = live if epoch == epochs else max(1, math.ceil(live / eta))
        rounds.append(Round(index, epoch, live, keep))
        live = keep
    return rounds


def training_epochs(rounds: Sequence[Round]) -> int:
    """Epochs trained over all rounds: each round adds (its epoch - the last one) per live training."""
    total, reached = 0, 0
    for r in rounds:
        total += r.live * (r.epoch - reached)
        reached = r.epoch
    return total


def rung_calls(rounds: Sequence[Round], n_items: int) -> int:
    """Most single-order judge calls the rungs' round robins spend (both orders, no early
    decision, no store hits); the final tournament comes on top."""
    return sum(r.live * (r.live - 1) // 2 * n_items * 2 for r in rounds if r.decides)


def survivors(ranking: Sequence[str], keep: int) -> list[str]:
    """The best `keep` of a best-first ranking (the rest stop)."""
    if keep < 1:
        raise ValueError("a rung keeps at least one training")
    return list(ranking[:keep])


def check_rungs(rungs: Sequence[int], checkpoints: Sequence[int], epochs: int) -> None:
    """Every rung is a checkpoint epoch before the last (its answers are what the rung compares)."""
    if rungs[-1] >= epochs:
        raise ConfigError(f"search.halving.rungs {list(rungs)}: each must be < the trainings' "
                          f"{epochs} epochs (the last round trains the survivors to the end)")
    missing = [e for e in rungs if e not in checkpoints]
    if missing:
        raise ConfigError(f"search.halving.rungs {missing} are not checkpoint epochs "
                          f"{list(checkpoints)}: a rung compares the answers of that epoch")


@dataclass(frozen=True)
class EpochBudget:
    """Training epochs of a search mode (the baseline excluded), next to the full grid's."""

    mode: str
    grid: int
    worst: int
    expected: int
    note: str = ""

    def line(self) -> str:
        share = f"{self.expected / self.grid:.0%}" if self.grid else "n/a"
        return (f"training epochs  {self.mode}: at most {self.worst}, expected {self.expected}"
                f" ({share} of the grid's {self.grid}; baseline excluded)"
                f"{'; ' + self.note if self.note else ''}")


def epoch_budget(cfg: ExperimentConfig, n_trainings: int, epochs: int) -> EpochBudget:
    """Worst-case and expected training epochs of the configured search over `n_trainings`."""
    s = cfg.search
    grid = n_trainings * epochs
    if s.scheduler == "halving":
        spent = training_epochs(schedule(n_trainings, s.halving.rungs, epochs, s.halving.eta))
        return EpochBudget(f"halving on {s.halving.rank_by}", grid, spent, spent,
                           "fixed in advance (synchronous rounds)")
    n = s.num_samples if s.search == "optuna" else n_trainings
    if s.scheduler != "asha":
        return EpochBudget(s.search, grid, n * epochs, n * epochs)
    return EpochBudget(f"{s.search} + asha", grid, n * epochs, asha_expected(cfg, n, epochs),
                       "a lower estimate: synchronous halving at ASHA's rungs + one judging-lag"
                       " epoch per stopped trial; async promotion lets early trials through")


def asha_expected(cfg: ExperimentConfig, n: int, epochs: int) -> int:
    """ASHA's epochs if it stopped like synchronous halving at its rungs (grace_period x rf^k),
    plus the one epoch each stopped trial trains while its last epoch is being judged."""
    s = cfg.search
    rungs, e = [], min(s.grace_period, epochs)
    while e < epochs:
        rungs.append(e)
        e *= s.reduction_factor
    rounds = schedule(n, rungs, epochs, s.reduction_factor)
    lag = sum(r.live - r.keep for r in rounds if r.epoch < epochs)
    return min(n * epochs, training_epochs(rounds) + lag)
