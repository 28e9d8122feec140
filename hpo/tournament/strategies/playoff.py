"""Blocked + playoff: a noise-robust strategy that never costs more judge calls than blocked.

Blocked's weakness is that one noisy loss eliminates the true best for good. Playoff:

1. Runs the blocked tournament with exact early decision, which frees calls on lopsided
   matches (a full-length blocked run would cost `budget` calls).
2. Fits Bradley-Terry strengths to every item judgment gathered so far, and orders the
   candidates: the blocked winner first, then by strength. A true best that lost one close
   match keeps a high strength, because it lost to a strong candidate by a few items.
3. Grows a round robin of finalists in that order: a finalist joins only if its matches
   against every current finalist fit in the calls left even in the worst case (2 calls per
   item not judged yet). Judgments are never repeated (MatchCache).
4. Ranks the finalists by Bradley-Terry over ALL judgments, then everyone else.

Budget: `budget="blocked"` = (N-1) x n_items x 2, blocked's cost without early decision; an
int sets it directly. Calls never exceed it when the judge spends at most 2 calls per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hpo.errors import ConfigError
from hpo.tournament.base import MatchJudge, MatchOptions, MatchRecord, TournamentResult
from hpo.tournament.match import MatchCache, play_match
from hpo.tournament.ranking import bradley_terry
from hpo.tournament.strategies.blocked import (
    BlockedOptions,
    BlockedStrategy,
    check_candidates,
    worst_case_calls,
)


@dataclass(frozen=True)
class PlayoffOptions(MatchOptions):
    """What a user sets for `playoff`: tournament.blocks (its blocked first stage) and
    early_decision; `budget` and `max_finalists` have no config key yet."""

    blocks: int = 4
    budget: str | int = "blocked"
    max_finalists: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.budget != "blocked" and not (isinstance(self.budget, int) and self.budget >= 0):
            raise ConfigError(f"playoff budget must be 'blocked' or a call count, got {self.budget!r}")


class PlayoffStrategy:
    """Blocked with early decision, then a Bradley-Terry round robin of finalists."""

    name = "playoff"
    options_type = PlayoffOptions
    hooks: frozenset[str] = frozenset()

    def __init__(self, options: PlayoffOptions | None = None) -> None:
        o = options or PlayoffOptions()
        self.first = BlockedStrategy(BlockedOptions(blocks=o.blocks, early_decision=o.early_decision,
                                                    chunk=o.chunk))
        self.early_decision, self.chunk = o.early_decision, o.chunk
        self.budget, self.max_finalists = o.budget, o.max_finalists

    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """The budget: every stage checks its worst case against it."""
        return self.budget_calls(n_candidates, n_items)

    def budget_calls(self, n_candidates: int, n_items: int) -> int:
        """The call budget; an int below blocked's worst case is rejected, because the
        blocked first stage alone may spend that much."""
        floor = worst_case_calls(n_candidates, n_items)
        if self.budget == "blocked":
            return floor
        if int(self.budget) < floor:
            raise ConfigError(f"playoff budget {self.budget} is below blocked's worst case "
                              f"({floor} calls for {n_candidates} candidates); use halving")
        return int(self.budget)

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        pool = check_candidates(candidates)
        cache, start = MatchCache(judge), judge.calls
        limit = start + self.budget_calls(len(pool), judge.n_items)
        blocked = self.first.run(pool, cache, seed)
        matches = list(blocked.matches)
        strength = bradley_terry(cache.outcomes(), pool)
        order = [blocked.winner] + sorted(
            (c for c in pool if c != blocked.winner), key=lambda c: (-strength[c], c))
        finalists, played = grow_league(order, cache, limit, self.max_finalists,
                                        early_decision=self.early_decision, chunk=self.chunk)
        ranking, strength = league_ranking(finalists, order, cache)
        return TournamentResult(self.name, ranking[0], ranking, matches + played,
                                judge.calls - start, strength)


def grow_league(order: Sequence[str], cache: MatchCache, limit: int, max_size: int, *,
                early_decision: bool, chunk: int) -> tuple[list[str], list[MatchRecord]]:
    """Round robin grown in `order`: a newcomer joins only if its matches against every
    current member fit under `limit` calls in the worst case (2 calls per new item)."""
    members, played = [order[0]], []
    items = range(cache.n_items)
    for cand in order[1:max_size]:
        fresh = sum(cache.missing(m, cand, items) for m in members)
        if cache.calls + 2 * fresh > limit:
            break
        played += [play_match(m, cand, cache, early_decision=early_decision, chunk=chunk,
                              stage="league") for m in members]
        members.append(cand)
    return members, played


def league_ranking(members: Sequence[str], order: Sequence[str],
                   cache: MatchCache) -> tuple[list[str], dict[str, float]]:
    """Members by Bradley-Terry over their mutual judgments, then the others in `order`."""
    inside = set(members)
    mutual = {k: v for k, v in cache.outcomes().items() if set(k) <= inside}
    strength = bradley_terry(mutual, members)
    ranking = sorted(members, key=lambda c: (-strength[c], c))
    return ranking + [c for c in order if c not in inside], strength
