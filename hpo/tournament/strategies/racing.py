"""Racing: a halving screen, then an adaptive race of the contenders most likely to be best.

Why: under a noisy judge the top candidates differ by less than the items of one pairing can
resolve, and a pair cannot be judged on more items than there are. But the judge's noise is
independent across pairings, so a contender's strength is pinned down far better by many
opponents than by one. Halving's league spreads its calls over every pair of ~13 finalists;
racing spends them on the two contenders still most likely to win:

1. Screen (as `halving`): every active candidate meets its two cycle neighbours on the first
   `first_items` items, items doubling each round; Bradley-Terry (BT) over ALL judgments so
   far keeps the better half, until `contenders` remain or `screen_share` of the budget is spent.
2. Race (top-two sampling, dueling-bandit style): each step, BT over all judgments gives every
   contender a strength and a standard error (1/sqrt(Fisher information)); seeded normal draws
   estimate each contender's probability of being the strongest. The `width` most probable
   play `batch` more items each: first against each other, then against the strongest
   opponents by BT, always on items not judged yet for that pair. Until the budget is spent.
3. Ranking: contenders by BT strength, then everyone else by strength. scores = BT
   log-strengths over all judgments.

Budget: `budget="blocked"` = (N-1) x n_items x 2, the paper's blocked tournament without early
decision; an int sets it directly. A match is cut to the items that fit in the worst case
(2 calls per item not judged yet), so calls never exceed the budget.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpo.errors import ConfigError
from hpo.tournament.base import MatchJudge, MatchOptions, MatchRecord, TournamentResult
from hpo.tournament.match import MatchCache, play_match
from hpo.tournament.ranking import bradley_terry
from hpo.tournament.strategies.blocked import check_candidates
from hpo.tournament.strategies.halving import Screening, call_budget, check_budget, screen_rounds


@dataclass(frozen=True)
class RacingOptions(MatchOptions):
    """What a user sets for `racing`: tournament.early_decision; the screen and race settings
    have no config key yet."""

    budget: str | int = "blocked"
    first_items: int = 16
    contenders: int = 16
    screen_share: float = 0.3
    width: int = 2
    batch: int = 170

    def __post_init__(self) -> None:
        super().__post_init__()
        check_budget("racing", self.budget)
        if min(self.first_items, self.contenders, self.width, self.batch) < 1 \
                or not 0 < self.screen_share <= 1:
            raise ConfigError("racing needs first_items, contenders, width, batch >= 1 "
                              "and 0 < screen_share <= 1")


class RacingStrategy:
    """Halving screen down to `contenders`, then a top-two race within blocked's budget."""

    name = "racing"
    options_type = RacingOptions
    hooks: frozenset[str] = frozenset()

    def __init__(self, options: RacingOptions | None = None) -> None:
        o = options or RacingOptions()
        self.early_decision, self.chunk, self.budget = o.early_decision, o.chunk, o.budget
        self.first_items, self.contenders, self.screen_share = o.first_items, o.contenders, o.screen_share
        self.width, self.batch = o.width, o.batch

    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """The budget: every match is cut or skipped to fit it."""
        return call_budget(self.budget, n_candidates, n_items)

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        pool = check_candidates(candidates)
        random.Random(seed).shuffle(pool)
        cache, start = MatchCache(judge), judge.calls
        budget = call_budget(self.budget, len(pool), judge.n_items)
        limit = start + budget
        active, _order, matches = screen_rounds(pool, cache, Screening(
            keep=self.contenders, limit=limit, spend_until=start + budget * self.screen_share,
            first_items=self.first_items, early_decision=self.early_decision, chunk=self.chunk))
        race = self._race(active[: self.contenders], pool, cache, limit, matches, seed)
        strength = bradley_terry(cache.outcomes(), pool)
        ranking = race + [c for c in sorted(pool, key=lambda c: (-strength[c], c))
                          if c not in race]
        return TournamentResult(self.name, ranking[0], ranking, matches, judge.calls - start,
                                strength)

    def _race(self, alive: list[str], pool: Sequence[str], cache: MatchCache, limit: int,
              matches: list[MatchRecord], seed: int) -> list[str]:
        """Each step the `width` contenders most likely to be best play one more batch."""
        rng = np.random.default_rng(seed)
        step = 0
        while cache.calls < limit:
            step += 1
            strength, prob = posterior_best(cache, pool, alive, rng)
            leaders = sorted(alive, key=lambda c: (-prob[c], -strength[c], c))[: self.width]
            opponents = leaders + sorted((c for c in pool if c not in leaders),
                                         key=lambda c: (-strength[c], c))
            before = cache.calls
            for a in leaders:
                stop = min(cache.calls + 2 * self.batch, limit)
                matches += self._spend(a, opponents, cache, stop, f"race {step}")
            if cache.calls == before:
                break
        strength = bradley_terry(cache.outcomes(), pool)
        return sorted(alive, key=lambda c: (-strength[c], c))

    def _spend(self, a: str, opponents: Sequence[str], cache: MatchCache, stop: int,
               stage: str) -> list[MatchRecord]:
        """`a` meets `opponents` in turn on all items until `stop` calls are reached."""
        played = []
        everything = range(cache.n_items)
        for b in opponents:
            if b == a:
                continue
            fresh = [i for i in everything if cache.missing(a, b, [i])]
            room = (stop - cache.calls) // 2
            if room <= 0:
                break
            if not fresh:
                continue
            items = fresh[:room]
            played.append(play_match(a, b, cache, early_decision=False, chunk=len(items),
                                     stage=stage, items=items))
        return played


def posterior_best(cache: MatchCache, pool: Sequence[str], alive: Sequence[str],
                   rng: np.random.Generator, draws: int = 400) -> tuple[dict[str, float],
                                                                       dict[str, float]]:
    """BT log-strengths, and for each of `alive` the share of normal draws (mean = strength,
    sd = 1/sqrt(Fisher information)) in which it is the strongest of `alive`."""
    outcomes = cache.outcomes()
    strength = bradley_terry(outcomes, pool)
    info = dict.fromkeys(pool, 0.25)  # the prior's virtual game
    for (a, b), (w, lo, _t, _i) in outcomes.items():
        p = 1.0 / (1.0 + math.exp(strength[b] - strength[a]))
        info[a] += (w + lo) * p * (1 - p)
        info[b] += (w + lo) * p * (1 - p)
    mean = np.array([strength[c] for c in alive])
    sd = np.array([info[c] ** -0.5 for c in alive])
    best = np.argmax(mean + sd * rng.standard_normal((draws, len(alive))), axis=1)
    share = np.bincount(best, minlength=len(alive)) / draws
    return strength, {c: float(share[k]) for k, c in enumerate(alive)}
