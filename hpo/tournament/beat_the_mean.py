"""Beat-the-Mean, PAC setting (Yue and Joachims, ICML 2011, Algorithm 2), with its own stopping rule.

An outside baseline, re-implemented (`duelpy` 1.0.0 does not import under NumPy 2). With
duels of `chunk` items (`hpo.tournament.duel`):

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

import numpy as np

from hpo.tournament.base import MatchJudge, TournamentResult
from hpo.tournament.duel import BaselineStrategy, DuelArena


def pac_samples(k: int, eps: float, delta: float, gamma: float) -> float:
    """N' = ceil(36 / (gamma^6 eps^2) * log(K^3 N' / delta)), by fixed-point iteration."""
    n = 1.0
    for _ in range(50):
        n = math.ceil(36 / (gamma**6 * eps**2) * math.log(k**3 * n / delta))
    return n


class BeatTheMeanStrategy(BaselineStrategy):
    """Beat-the-Mean (PAC) within the budget."""

    name = "beat_the_mean"

    def __init__(self, blocks: int = 4, early_decision: bool = True, chunk: int = 8,
                 budget: str | int = "blocked", delta: float = 0.05, eps: float = 0.1,
                 gamma: float = 1.0) -> None:
        super().__init__(blocks, early_decision, chunk, budget)
        self.delta, self.eps, self.gamma = delta, eps, gamma

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        arena, rng = self.arena(candidates, judge, seed)
        k = len(arena.ids)
        cap = pac_samples(k, self.eps, self.delta, self.gamma)
        log_term = math.log(k**3 * cap / self.delta)
        active = np.ones(k, dtype=bool)
        # rec[b, j]: b's item wins / items against j, in duels where b was the chosen arm
        rec_w, rec_n = np.zeros((k, k)), np.zeros((k, k))
        while active.sum() > 1 and not arena.exhausted:
            games = rec_n[:, active].sum(axis=1)
            b = int(np.flatnonzero(active)[np.argmin(games[active])])
            if games[b] >= cap:
                break
            other = int(rng.choice(np.flatnonzero(active)))
            self._duel(arena, b, other, rec_w, rec_n)
            self._eliminate(active, rec_w, rec_n, log_term)
        games, wins = rec_n[:, active].sum(axis=1), rec_w[:, active].sum(axis=1)
        rate = np.divide(wins, games, out=np.full(k, 0.5), where=games > 0)
        rate[~active] = -1.0
        return arena.result(self.name, int(np.argmax(rate)), rate)

    @staticmethod
    def _duel(arena: DuelArena, b: int, other: int, rec_w: np.ndarray, rec_n: np.ndarray) -> None:
        if other == b:  # a self-duel: a draw on `chunk` items, no judge call
            rec_w[b, b] += arena.chunk / 2
            rec_n[b, b] += arena.chunk
            return
        before_w, before_n = arena.wins[b, other], arena.n[b, other]
        arena.duel(b, other)
        rec_w[b, other] += arena.wins[b, other] - before_w
        rec_n[b, other] += arena.n[b, other] - before_n

    def _eliminate(self, active: np.ndarray, rec_w: np.ndarray, rec_n: np.ndarray,
                   log_term: float) -> None:
        """Drop the lowest-rate arm once the confidence intervals separate (step 3)."""
        live = np.flatnonzero(active)
        games = rec_n[np.ix_(live, live)].sum(axis=1)
        if games.min() <= 0:
            return
        rate = rec_w[np.ix_(live, live)].sum(axis=1) / games
        c = 3 * self.gamma**2 * math.sqrt(log_term / games.min())
        if rate.min() + c <= rate.max() - c:
            active[live[np.argmin(rate)]] = False  # its records drop out with the mask
