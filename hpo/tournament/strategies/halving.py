"""Successive halving + league: a noise-robust strategy within blocked's call budget.

Blocked spends most of its calls proving that weak candidates are weak, and one noisy loss
eliminates the true best for good. Halving screens cheaply, then spends most of the budget
where it matters, on a round robin ("league") of the strongest few:

1. Screen: every active candidate plays its two neighbours in a seeded cycle on the first
   `first_items` items; Bradley-Terry strengths over ALL judgments so far rank the active
   candidates and the better half stays. Items double each round (16, 32, 64, ...). A single
   loss never eliminates anyone: strength pools every item of every match.
2. The screen stops once the active set is small enough for the league to fit in
   `league_share` of the budget.
3. League: the survivors, strongest first, join a round robin on all items while the worst
   case (2 calls per item not judged yet) fits in the calls left (`grow_league`).
4. Ranking: league members by Bradley-Terry over their mutual judgments, then the others in
   screening order. scores = those strengths (log scale).

Budget: `budget="blocked"` = (N-1) x n_items x 2 calls, blocked's cost without early
decision; an int sets it directly. Screen matches that would not fit are skipped.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from hpo.errors import ConfigError
from hpo.tournament.base import MatchJudge, MatchOptions, MatchRecord, TournamentResult
from hpo.tournament.match import MatchCache, play_match
from hpo.tournament.ranking import bradley_terry
from hpo.tournament.strategies.blocked import check_candidates, worst_case_calls
from hpo.tournament.strategies.playoff import grow_league, league_ranking


def check_budget(strategy: str, budget: str | int) -> None:
    """A call budget is `"blocked"` (blocked's worst case) or a call count >= 0."""
    if budget != "blocked" and not (isinstance(budget, int) and budget >= 0):
        raise ConfigError(f"{strategy} budget must be 'blocked' or a call count, got {budget!r}")


def call_budget(budget: str | int, n_candidates: int, n_items: int) -> int:
    """Judge calls a budget allows: `"blocked"` = (N-1) x n_items x 2, or the count itself."""
    return worst_case_calls(n_candidates, n_items) if budget == "blocked" else int(budget)


def league_size(budget_calls: int, n_items: int) -> int:
    """Largest k whose full round robin, k(k-1)/2 pairs x n_items x 2 calls, fits the budget."""
    k = 1
    while (k + 1) * k // 2 * n_items * 2 <= budget_calls:
        k += 1
    return k


@dataclass(frozen=True)
class HalvingOptions(MatchOptions):
    """What a user sets for `halving`: tournament.early_decision; `budget`, `first_items` and
    `league_share` have no config key yet."""

    budget: str | int = "blocked"
    first_items: int = 16
    league_share: float = 0.6

    def __post_init__(self) -> None:
        super().__post_init__()
        check_budget("halving", self.budget)
        if self.first_items < 1 or not 0 < self.league_share <= 1:
            raise ConfigError("halving needs first_items >= 1 and 0 < league_share <= 1")


class HalvingStrategy:
    """Successive halving on growing item subsets, then a Bradley-Terry league."""

    name = "halving"
    options_type = HalvingOptions
    hooks: frozenset[str] = frozenset()

    def __init__(self, options: HalvingOptions | None = None) -> None:
        o = options or HalvingOptions()
        self.early_decision, self.chunk, self.budget = o.early_decision, o.chunk, o.budget
        self.first_items, self.league_share = o.first_items, o.league_share

    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """The budget: every match is cut or skipped to fit it."""
        return call_budget(self.budget, n_candidates, n_items)

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        pool = check_candidates(candidates)
        random.Random(seed).shuffle(pool)
        cache, start, n = MatchCache(judge), judge.calls, judge.n_items
        budget = call_budget(self.budget, len(pool), n)
        target = max(2, league_size(int(budget * self.league_share), n))
        _active, order, matches = screen_rounds(pool, cache, Screening(
            keep=target, limit=start + budget, first_items=self.first_items,
            early_decision=self.early_decision, chunk=self.chunk))
        members, played = grow_league(order, cache, start + budget, len(pool),
                                      early_decision=self.early_decision, chunk=self.chunk)
        ranking, strength = league_ranking(members, order, cache)
        return TournamentResult(self.name, ranking[0], ranking, matches + played,
                                judge.calls - start, strength)


@dataclass(frozen=True)
class Screening:
    """How far `screen_rounds` goes: down to `keep` candidates, no match past `limit` calls,
    no new round once `spend_until` calls are spent."""

    keep: int
    limit: int
    spend_until: float = math.inf
    first_items: int = 16
    early_decision: bool = True
    chunk: int = 8


def screen_rounds(pool: Sequence[str], cache: MatchCache,
                  s: Screening) -> tuple[list[str], list[str], list[MatchRecord]]:
    """Screen rounds on doubling item subsets; Bradley-Terry over all judgments keeps the better
    half each round. Returns the survivors, everyone in screening order, and the matches."""
    active, order, matches = list(pool), list(pool), []
    rnd, m = 1, min(s.first_items, cache.n_items)
    while len(active) > s.keep and cache.calls < s.spend_until:
        matches += screen(active, cache, m, s.limit, f"screen {rnd}",
                          early_decision=s.early_decision, chunk=s.chunk)
        strength = bradley_terry(cache.outcomes(), pool)
        ranked = sorted(active, key=lambda c: (-strength[c], c))
        active = ranked[: max(s.keep, len(active) // 2)]  # ranked: Swiss-style pairing
        order = ranked + [c for c in order if c not in ranked]
        rnd, m = rnd + 1, min(2 * m, cache.n_items)
    return active, order, matches


def screen(active: Sequence[str], cache: MatchCache, m: int, limit: int, stage: str, *,
           early_decision: bool, chunk: int) -> list[MatchRecord]:
    """Each active candidate meets its cycle neighbours on the first `m` items, while the
    worst case (2 calls per item not judged yet) fits under `limit`."""
    pairs = {tuple(sorted((a, active[(i + 1) % len(active)]))) for i, a in enumerate(active)}
    played = []
    for a, b in sorted(pairs):
        if cache.calls + 2 * cache.missing(a, b, range(m)) > limit:
            continue
        played.append(play_match(a, b, cache, early_decision=early_decision, chunk=chunk,
                                 stage=stage, items=range(m)))
    return played
