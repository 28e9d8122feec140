"""Round robin: every pair meets once; rank by match wins (Copeland).

Pairs are `itertools.combinations` of the seed-shuffled pool, so which side is the incumbent
`a` (who keeps a drawn match) is random but reproducible. Ranking: match wins, then item-level
win rate (ties count half), then candidate id. Cost: N(N-1)/2 matches, far more than blocked.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from hpo.tournament.base import MatchJudge, TournamentResult
from hpo.tournament.blocked import check_candidates
from hpo.tournament.match import play_match
from hpo.tournament.ranking import copeland, item_win_rate, rank_by


class RoundRobinStrategy:
    """All pairs, Copeland ranking. `blocks` is accepted for a uniform config and ignored."""

    name = "round_robin"

    def __init__(self, blocks: int = 4, early_decision: bool = True, chunk: int = 8) -> None:
        self.early_decision, self.chunk = early_decision, chunk

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
