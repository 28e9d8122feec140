"""RUCB, Relative Upper Confidence Bound (Zoghi, Whiteson, Munos, de Rijke, ICML 2014).

An outside baseline, re-implemented because `duelpy` 1.0.0 does not import under NumPy 2
(it uses the removed `np.float`). Algorithm 1 of the paper, with duels of `chunk` items
(`hpo.tournament.strategies.duel`):

1. U = W / (W + W^T) + sqrt(alpha ln t / (W + W^T)), x/0 := 1, U_ii = 1/2 (t = items so far).
2. Candidates C = arms with U_ij >= 1/2 for every j. Empty C: pick c uniformly from all arms;
   a single-member C becomes the hypothesised best B. c is drawn from C giving B probability
   1/2 when B is in C, the others equal shares.
3. Challenger d = argmax_j U_jc (d = c is allowed, as in the paper: no duel that step).
4. No stopping rule of its own: it plays until the budget is spent. The recommendation is
   the Copeland winner of the empirical preference matrix (as duelpy's RUCB).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpo.tournament.base import MatchJudge, TournamentResult
from hpo.tournament.strategies.duel import BaselineOptions, BaselineStrategy, DuelArena


def upper_bounds(arena: DuelArena, t: int, alpha: float) -> np.ndarray:
    """U_ij (see module docstring)."""
    n = arena.n
    with np.errstate(divide="ignore", invalid="ignore"):
        u = arena.wins / n + np.sqrt(alpha * np.log(max(t, 1)) / n)
    u[n == 0] = 1.0
    np.fill_diagonal(u, 0.5)
    return u


@dataclass(frozen=True)
class RUCBOptions(BaselineOptions):
    """`rucb`'s options; none has a config key."""

    alpha: float = 0.51


class RUCBStrategy(BaselineStrategy):
    """RUCB until the budget is spent; Copeland winner of the empirical matrix."""

    name = "rucb"
    options_type = RUCBOptions

    def __init__(self, options: RUCBOptions | None = None) -> None:
        o = options or RUCBOptions()
        super().__init__(o)
        self.alpha = o.alpha

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        arena, rng = self.arena(candidates, judge, seed)
        k, best, idle = len(arena.ids), None, 0
        while not arena.exhausted and idle < 10 * k:
            u = upper_bounds(arena, int(arena.n.sum()) // 2 + 1, self.alpha)
            cands = np.flatnonzero((u >= 0.5).all(axis=1))
            if len(cands) == 0:
                cands = np.arange(k)
            if len(cands) == 1:
                best = int(cands[0])
            c = self._champion(cands, best, rng)
            col = u[:, c]
            d = int(rng.choice(np.flatnonzero(col == col.max())))
            idle = idle + 1 if d == c else 0
            arena.duel(c, d)
        winner = arena.copeland_winner()
        return arena.result(self.name, winner, arena.means().mean(axis=1))

    @staticmethod
    def _champion(cands: np.ndarray, best: int | None, rng: np.random.Generator) -> int:
        if best is not None and best in cands and len(cands) > 1:
            if rng.random() < 0.5:
                return best
            return int(rng.choice(cands[cands != best]))
        return int(rng.choice(cands))
