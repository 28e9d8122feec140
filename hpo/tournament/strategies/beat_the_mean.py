"""Beat-the-Mean, PAC setting (Yue and Joachims, ICML 2011, Algorithm 2), with its own stopping rule.

An outside baseline, re-implemented (`duelpy` 1.0.0 does not import under NumPy 2). With
duels of `chunk` items (`hpo.tournament.strategies.duel`):

1. Active set W = all arms. Each step the active arm b with the fewest comparisons duels an
   active arm drawn uniformly (itself included: a self-duel counts as a draw, as in the paper).
2. P_b = b's item win rate against the active arms, n* = the fewest comparisons of an
   active arm, c = 3 gamma^2 sqrt(log(1/delta) / n*)  (delta / (K^3 N') in the PAC version,
   with N' = 36 / (gamma^6 eps^2) log(K^3 N' / delta), found by fixed point).
3. When min P + c <= max P - c, the arm with the lowest P leaves W, and every active arm's
   record against it is forgotten.
4. Stops when one arm is left or n* >= N' (then the best P wins), or when the budget is spent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpo.tournament.base import MatchJudge, TournamentResult
from hpo.tournament.strategies.duel import BaselineOptions, BaselineStrategy, DuelArena


def pac_samples(k: int, eps: float, delta: float, gamma: float) -> float:
    """N' = ceil(36 / (gamma^6 eps^2) * log(K^3 N' / delta)), by fixed-point iteration."""
    n = 1.0
    for _ in range(50):
        n = math.ceil(36 / (gamma**6 * eps**2) * math.log(k**3 * n / delta))
    return n


@dataclass(frozen=True)
class BeatTheMeanOptions(BaselineOptions):
    """`beat_the_mean`'s options; none has a config key."""

    delta: float = 0.05
    eps: float = 0.1
    gamma: float = 1.0


class BeatTheMeanStrategy(BaselineStrategy):
    """Beat-the-Mean (PAC) within the budget."""

    name = "beat_the_mean"
    options_type = BeatTheMeanOptions

    def __init__(self, options: BeatTheMeanOptions | None = None) -> None:
        o = options or BeatTheMeanOptions()
        super().__init__(o)
        self.delta, self.eps, self.gamma = o.delta, o.eps, o.gamma

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        arena, rng = self.arena(candidates, judge, seed)
        k = len(arena.ids)
        cap = pac_samples(k, self.eps, self.delta, self.gamma)
        log_term = math.log(k**3 * cap / self.delta)
        active = np.ones(k, dtype=bool)
        # rec[b, j]: b's item wins / items against j, in duels where b was the chosen arm;
        # wins/games: the same summed over the active arms (kept up to date)
        rec_w, rec_n = np.zeros((k, k)), np.zeros((k, k))
        wins, games = np.zeros(k), np.zeros(k)
        while active.sum() > 1 and not arena.exhausted:
            live = np.flatnonzero(active)
            b = int(live[np.argmin(games[live])])
            if games[b] >= cap:
                break
            other = int(rng.choice(live))
            dw, dn = self._duel(arena, b, other)
            rec_w[b, other] += dw
            rec_n[b, other] += dn
            wins[b] += dw
            games[b] += dn
            worst = self._worst(live, wins, games, log_term)
            if worst is not None:  # it leaves; every record against it is forgotten
                active[worst] = False
                wins -= rec_w[:, worst]
                games -= rec_n[:, worst]
        rate = np.divide(wins, games, out=np.full(k, 0.5), where=games > 0)
        rate[~active] = -1.0
        return arena.result(self.name, int(np.argmax(rate)), rate)

    @staticmethod
    def _duel(arena: DuelArena, b: int, other: int) -> tuple[float, float]:
        """b's item wins and items in one duel with `other` (a self-duel is a draw, no call)."""
        if other == b:
            return arena.chunk / 2, float(arena.chunk)
        before_w, before_n = arena.wins[b, other], arena.n[b, other]
        arena.duel(b, other)
        return arena.wins[b, other] - before_w, arena.n[b, other] - before_n

    def _worst(self, live: np.ndarray, wins: np.ndarray, games: np.ndarray,
               log_term: float) -> int | None:
        """The lowest-rate arm once the confidence intervals separate (step 3), else None."""
        n_min = games[live].min()
        if n_min <= 0:
            return None
        rate = wins[live] / games[live]
        c = 3 * self.gamma**2 * math.sqrt(log_term / n_min)
        return int(live[np.argmin(rate)]) if rate.min() + c <= rate.max() - c else None
