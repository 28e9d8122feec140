"""Select by validation loss alone: the cheap baseline, run on purpose (no judge calls).

Each candidate's loss on the validation set's reference answers is computed during training
anyway; this strategy ranks by it, lowest first, and never asks the judge. On data whose
references are the only right answers (the synthetic suite) it is close to an answer key; on
open-ended instructions a low loss on one stored reference says little, which is why the
judge exists. A candidate without a loss (its training failed, or no reference answers)
ranks last. No matches are played, so every candidate has 0 win rounds. The
winner-vs-baseline match after the tournament is still judged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hpo.errors import ConfigError
from hpo.tournament.base import MatchJudge, TournamentResult
from hpo.tournament.strategies.blocked import check_candidates


@dataclass(frozen=True)
class ValLossOptions:
    """`val_loss` takes no user option: it plays no match."""


class ValLossStrategy:
    """Ranks by `losses(candidate)` ascending (equal losses by id); zero judge calls.

    `losses` is the run's `Hooks.losses` (the answers' `validation_loss` metric, waiting for
    each candidate's answers)."""

    name = "val_loss"
    options_type = ValLossOptions
    hooks = frozenset({"losses"})

    def __init__(self, options: ValLossOptions | None = None, *,
                 losses: Callable[[str], float | None] | None = None) -> None:
        self.losses = losses

    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """Never calls the judge."""
        return 0

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        pool = check_candidates(candidates)
        if self.losses is None:
            raise ConfigError("tournament strategy 'val_loss' needs the candidates' validation losses")
        loss = {c: self.losses(c) for c in pool}
        key = {c: math.inf if v is None or math.isnan(v) else v for c, v in loss.items()}
        ranking = sorted(pool, key=lambda c: (key[c], c))
        return TournamentResult(self.name, ranking[0], ranking, [], 0, {})
