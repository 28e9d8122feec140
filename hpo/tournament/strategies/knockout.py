"""Seeded single elimination with byes.

Seeds are the seed-shuffled pool (no prior strength is known). The bracket is the standard
one for P = the next power of two (seed 1 meets seed P, 2 meets P-1, and top seeds can only
meet late); seeds above N are byes, so the top P - N seeds skip round 1. In every match the
better seed is the incumbent `a`. Ranking: the winner, then by rounds won, then by id.
Cost: N - 1 matches, like blocked.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from hpo.tournament.base import MatchJudge, MatchOptions, MatchRecord, TournamentResult
from hpo.tournament.match import play_match
from hpo.tournament.strategies.blocked import check_candidates, worst_case_calls


def bracket_order(size: int) -> list[int]:
    """Standard seeding for a power-of-two bracket: [1, 8, 4, 5, 2, 7, 3, 6] for 8 (1-based)."""
    order = [1]
    while len(order) < size:
        total = 2 * len(order) + 1
        order = [s for seed in order for s in (seed, total - seed)]
    return order


@dataclass(frozen=True)
class KnockoutOptions(MatchOptions):
    """What a user sets for `knockout`: tournament.early_decision (no blocks: one bracket)."""


class KnockoutStrategy:
    """Single elimination."""

    name = "knockout"
    options_type = KnockoutOptions
    hooks: frozenset[str] = frozenset()

    def __init__(self, options: KnockoutOptions | None = None) -> None:
        o = options or KnockoutOptions()
        self.early_decision, self.chunk = o.early_decision, o.chunk

    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """N - 1 matches x all items x 2 orders."""
        return worst_case_calls(n_candidates, n_items)

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        pool = check_candidates(candidates)
        random.Random(seed).shuffle(pool)
        size = 1 << (len(pool) - 1).bit_length()
        slots: list[tuple[int, str] | None] = [
            (s, pool[s - 1]) if s <= len(pool) else None for s in bracket_order(size)
        ]
        calls_before, rnd = judge.calls, 1
        matches: list[MatchRecord] = []
        while len(slots) > 1:
            slots = [self._play(x, y, judge, f"round {rnd}", matches)
                     for x, y in zip(slots[::2], slots[1::2], strict=True)]
            rnd += 1
        assert slots[0] is not None
        scores = {c: 0.0 for c in pool}
        for m in matches:
            scores[m.winner] += 1
        winner = slots[0][1]
        ranking = sorted(pool, key=lambda c: (c != winner, -scores[c], c))
        return TournamentResult(self.name, winner, ranking, matches,
                                judge.calls - calls_before, scores)

    def _play(self, x: tuple[int, str] | None, y: tuple[int, str] | None, judge: MatchJudge,
              stage: str, matches: list[MatchRecord]) -> tuple[int, str] | None:
        """Winner slot of two slots; a missing side (bye) lets the other through unplayed."""
        if x is None or y is None:
            return x or y
        top, low = (x, y) if x[0] < y[0] else (y, x)
        rec = play_match(top[1], low[1], judge, early_decision=self.early_decision,
                         chunk=self.chunk, stage=stage)
        matches.append(rec)
        return top if rec.winner == top[1] else low
