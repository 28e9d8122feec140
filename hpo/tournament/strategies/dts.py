"""Double Thompson Sampling (Wu and Liu, NeurIPS 2016), for Copeland dueling bandits.

An outside baseline, re-implemented (`duelpy` 1.0.0 does not import under NumPy 2).
Algorithm 1 of the paper, with duels of `chunk` items (`hpo.tournament.strategies.duel`):

1. Confidence bounds U, L = W/N -/+ sqrt(alpha ln t / N) (x/0 := 1 for U, 0 for L), alpha 0.5.
2. Copeland upper scores zeta_i = #{j != i: U_ij > 1/2}; C = the arms with the top score.
3. First arm: one Thompson sample theta_ij ~ Beta(W_ij + 1, W_ji + 1) (theta_ji = 1 - theta_ij);
   the arm of C with the most sampled wins (theta_ij > 1/2), ties at random.
4. Second arm: theta_i ~ Beta(W_i,first + 1, W_first,i + 1) for the arms i with
   L_i,first <= 1/2 (the first arm itself at 1/2); the largest sample.
5. No stopping rule: it plays until the budget is spent; the recommendation is the Copeland
   winner of the empirical matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc

from hpo.tournament.base import MatchJudge, TournamentResult
from hpo.tournament.strategies.duel import BaselineOptions, BaselineStrategy, DuelArena


def pick(values: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the maximum, ties broken at random."""
    return int(rng.choice(np.flatnonzero(values == values.max())))


@dataclass(frozen=True)
class DTSOptions(BaselineOptions):
    """`dts`'s options; none has a config key."""

    alpha: float = 0.5


class DTSStrategy(BaselineStrategy):
    """Double Thompson Sampling until the budget is spent."""

    name = "dts"
    options_type = DTSOptions

    def __init__(self, options: DTSOptions | None = None) -> None:
        o = options or DTSOptions()
        super().__init__(o)
        self.alpha = o.alpha

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        arena, rng = self.arena(candidates, judge, seed)
        k, idle = len(arena.ids), 0
        above = np.full((k, k), 0.5)  # P(theta_ij > 1/2) under Beta(W_ij + 1, W_ji + 1)
        while not arena.exhausted and idle < 10 * k:
            upper, lower = self._bounds(arena)
            first = self._first(upper, above, rng)
            second = self._second(arena, lower, first, rng)
            idle = idle + 1 if second == first else 0
            arena.duel(first, second)
            for i, j in ((first, second), (second, first)):
                above[i, j] = 1.0 - betainc(arena.wins[i, j] + 1, arena.wins[j, i] + 1, 0.5)
        return arena.result(self.name, arena.copeland_winner(), arena.means().mean(axis=1))

    def _bounds(self, arena: DuelArena) -> tuple[np.ndarray, np.ndarray]:
        n = arena.n
        t = max(int(n.sum()) // 2, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean, rad = arena.wins / n, np.sqrt(self.alpha * np.log(t) / n)
        upper = np.where(n > 0, mean + rad, 1.0)
        lower = np.where(n > 0, mean - rad, 0.0)
        np.fill_diagonal(upper, 0.5)
        np.fill_diagonal(lower, 0.5)
        return upper, lower

    @staticmethod
    def _first(upper: np.ndarray, above: np.ndarray, rng: np.random.Generator) -> int:
        """Step 3. Only the events theta_ij > 1/2 matter, so each is drawn as a Bernoulli with
        the Beta posterior's exact probability (same distribution as sampling theta)."""
        zeta = (upper > 0.5).sum(axis=1)
        cands = np.flatnonzero(zeta == zeta.max())
        won = rng.random(above.shape) < above
        won = np.triu(won, 1) | np.tril(~won.T, -1)  # theta_ji = 1 - theta_ij
        score = won[cands].sum(axis=1)
        return int(cands[pick(score, rng)])

    @staticmethod
    def _second(arena: DuelArena, lower: np.ndarray, first: int, rng: np.random.Generator) -> int:
        theta = rng.beta(arena.wins[:, first] + 1, arena.wins[first, :] + 1)
        theta[first] = 0.5
        theta[lower[:, first] > 0.5] = -1.0  # clearly beats `first`: not a candidate
        return pick(theta, rng)
