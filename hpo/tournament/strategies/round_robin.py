"""Round robin: every pair meets once; rank by match wins (Copeland).

Pairs are `itertools.combinations` of the seed-shuffled pool, so which side is the incumbent
`a` (who keeps a drawn match) is random but reproducible. Ranking: match wins, then item-level
win rate (ties count half), then candidate id. Cost: N(N-1)/2 matches, far more than blocked.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from hpo.tournament.base import MatchJudge, MatchOptions, TournamentResult
from hpo.tournament.match import play_match
from hpo.tournament.ranking import copeland, item_win_rate, rank_by
from hpo.tournament.strategies.blocked import check_candidates


@dataclass(frozen=True)
class RoundRobinOptions(MatchOptions):
    """What a user sets for `round_robin`: tournament.early_decision."""


class RoundRobinStrategy:
    """All pairs, Copeland ranking."""

    name = "round_robin"
    options_type = RoundRobinOptions
    hooks: frozenset[str] = frozenset()

    def __init__(self, options: RoundRobinOptions | None = None) -> None:
        o = options or RoundRobinOptions()
        self.early_decision, self.chunk = o.early_decision, o.chunk

    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """N(N-1)/2 matches x all items x 2 orders."""
        return n_candidates * (n_candidates - 1) // 2 * n_items * 2

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        pool = check_candidates(candidates)
        random.Random(seed).shuffle(pool)
        calls_before = judge.calls
        matches = [
            play_match(a, b, judge, early_decision=self.early_decision, chunk=self.chunk,
                       stage="round robin")
            for a, b in itertools.combinations(pool, 2)
        ]
        scores = copeland(matches, pool)
        ranking = rank_by(scores, item_win_rate(matches, pool))
        return TournamentResult(self.name, ranking[0], ranking, matches,
                                judge.calls - calls_before, scores)
