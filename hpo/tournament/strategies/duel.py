"""The dueling-bandit view of a MatchJudge, shared by the outside baselines (RUCB, DTS, BTM).

Dueling-bandit algorithms ask for one noisy comparison of arms (i, j) at a time. Here a duel
judges the pair on the next `chunk` items it has not been judged on (items in order 0..n-1,
so every pair meets on the same items as our own matches; both orders, strict policy). The
statistics count items: `wins[i, j]` = items i won against j, a tie counts half to each side.
Once a pair has met on every item, its next duels wrap around to item 0 and repeat stored
verdicts, which costs no calls; so the budget is counted in item duels (2 per item, as
judged fresh) and the judge's real calls never exceed it.

One comparison per step would make a Python loop of 13,000 steps per run; `chunk` items per
step is the same batching our own matches use (`match.play_match`, chunk 8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpo.errors import ConfigError
from hpo.tournament.base import A_WINS, B_WINS, TIE, MatchJudge, MatchRecord, TournamentResult
from hpo.tournament.strategies.blocked import check_candidates, worst_case_calls


class DuelArena:
    """Plays duels for a baseline and keeps the pairwise item statistics."""

    def __init__(self, judge: MatchJudge, ids: Sequence[str], budget: int, chunk: int) -> None:
        self.judge, self.ids, self.chunk = judge, list(ids), chunk
        k = len(self.ids)
        self.wins = np.zeros((k, k))
        self.cursor = np.zeros((k, k), dtype=np.int64)  # items duelled so far, per pair
        self.counts = np.zeros((k, k, 4), dtype=np.int64)  # i-view: wins, losses, ties, invalid
        self.spent, self.budget = 0, budget
        self.calls_before = judge.calls

    @property
    def n(self) -> np.ndarray:
        """Items duelled per pair (symmetric)."""
        return self.wins + self.wins.T

    @property
    def exhausted(self) -> bool:
        return self.spent + 2 > self.budget

    def duel(self, i: int, j: int) -> bool:
        """One duel of arms i and j (i != j); False when the budget is spent."""
        room = (self.budget - self.spent) // 2
        if room <= 0 or i == j:
            return room > 0
        lo, hi = min(i, j), max(i, j)
        start = int(self.cursor[lo, hi])
        items = [(start + k) % self.judge.n_items for k in range(min(self.chunk, room))]
        outcomes = self.judge.judge(self.ids[lo], self.ids[hi], items)
        self.cursor[lo, hi] += len(items)
        self.spent += 2 * len(items)
        self._record(lo, hi, outcomes)
        return True

    def _record(self, lo: int, hi: int, outcomes: Sequence[int | None]) -> None:
        v = np.array([9 if x is None else x for x in outcomes])
        tally = [int(np.sum(v == A_WINS)), int(np.sum(v == B_WINS)), int(np.sum(v == TIE)),
                 int(np.sum(v == 9))]
        self.counts[lo, hi] += tally
        share = tally[0] + 0.5 * (tally[2] + tally[3])  # a tie or invalid item: half each
        self.wins[lo, hi] += share
        self.wins[hi, lo] += len(v) - share

    def means(self) -> np.ndarray:
        """Empirical P(i beats j) per item; 1/2 where the pair never met."""
        n = self.n
        return np.divide(self.wins, n, out=np.full_like(self.wins, 0.5), where=n > 0)

    def copeland_winner(self) -> int:
        """Most empirical pairwise wins (mean > 1/2), then the best mean win rate, then index."""
        m = self.means()
        cope = (m > 0.5).sum(axis=1)
        borda = m.sum(axis=1)
        return int(min(range(len(self.ids)), key=lambda k: (-cope[k], -borda[k], k)))

    def result(self, name: str, winner: int, scores: np.ndarray) -> TournamentResult:
        """TournamentResult with one aggregate MatchRecord per pair that met."""
        matches = []
        for lo, hi in zip(*np.nonzero(self.counts.sum(axis=2)), strict=True):
            w, lose, t, bad = (int(x) for x in self.counts[lo, hi])
            a, b = self.ids[lo], self.ids[hi]
            matches.append(MatchRecord(a, b, w, lose, t, bad, b if lose > w else a,
                                       w + lose + t + bad, self.judge.n_items,
                                       0, stage="duels"))
        order = sorted(range(len(self.ids)), key=lambda k: (k != winner, -scores[k], k))
        return TournamentResult(name, self.ids[winner], [self.ids[k] for k in order], matches,
                                self.judge.calls - self.calls_before,
                                {c: float(s) for c, s in zip(self.ids, scores, strict=True)})


@dataclass(frozen=True)
class BaselineOptions:
    """Common options of the outside baselines: none has a config key (no blocks, no early
    decision: the algorithms have their own rules). `chunk` items per duel, `budget` calls."""

    chunk: int = 8
    budget: str | int = "blocked"

    def __post_init__(self) -> None:
        if self.budget != "blocked" and not (isinstance(self.budget, int) and self.budget >= 0):
            raise ConfigError(f"budget must be 'blocked' or a call count, got {self.budget!r}")
        if self.chunk < 1:
            raise ConfigError("chunk must be >= 1")


class BaselineStrategy:
    """Common budget of the outside baselines."""

    name = "baseline"
    hooks: frozenset[str] = frozenset()

    def __init__(self, options: BaselineOptions) -> None:
        self.chunk, self.budget = options.chunk, options.budget

    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """The budget (the arena never spends more)."""
        if self.budget == "blocked":
            return worst_case_calls(n_candidates, n_items)
        return int(self.budget)

    def arena(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> tuple[DuelArena, np.random.Generator]:
        pool = check_candidates(candidates)
        rng = np.random.default_rng(seed)
        rng.shuffle(pool)  # type: ignore[arg-type]
        return DuelArena(judge, pool, self.max_calls(len(pool), judge.n_items), self.chunk), rng
