"""Each strategy's declared worst case (`max_calls`, what `--dry-run` prints) against a
brute-force count: the strategy plays, with early decision off, a judge that counts two calls
for every (pair, item) it is asked for the first time."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest

from hpo.tournament.base import ItemOutcome, Strategy
from hpo.tournament.registry import STRATEGIES, make_strategy, option_names

# With early decision off, fixed schedules spend exactly their bound, and the budgeted
# strategies spend their whole budget on these small grids. Others (a stopping rule of
# their own) must stay within it and reach it somewhere on the grid.
EXACT = {"blocked", "knockout", "round_robin", "playoff", "halving", "racing"}


class CountingJudge:
    """Random but repeatable outcomes; counts 2 calls per new (unordered pair, item)."""

    def __init__(self, n_items: int, seed: int) -> None:
        self.n_items, self.calls, self.seed = n_items, 0, seed
        self.asked: set[tuple[frozenset[str], int]] = set()

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        out: list[ItemOutcome] = []
        for i in items:
            key = (frozenset((a, b)), i)
            if key not in self.asked:
                self.asked.add(key)
                self.calls += 2
            lo, hi = sorted((a, b))
            v = random.Random(f"{self.seed}-{lo}-{hi}-{i}").choice((1, -1, 0))
            out.append(v if a == lo else -v)
        return out


def full_length(name: str) -> Strategy:
    """Strategy `name` without early decision, where it takes that option."""
    return make_strategy(name, **({"early_decision": False} if "early_decision" in option_names(name) else {}))


def brute_force(name: str, n: int, items: int, seed: int) -> int:
    judge = CountingJudge(items, seed)
    strategy = full_length(name)
    strategy.run([f"c{k:02d}" for k in range(n)], judge, seed=seed)
    return judge.calls


# val_loss never calls the judge (its own test: test_val_loss_strategy.py)
@pytest.mark.parametrize("name", [n for n in STRATEGIES.names() if n != "val_loss"])
def test_declared_bound_matches_brute_force(name: str) -> None:
    reached = False
    for n, items, seed in itertools.product((1, 2, 5, 8), (1, 3, 6), (0, 1)):
        bound = full_length(name).max_calls(n, items)
        used = brute_force(name, n, items, seed)
        assert used == bound if name in EXACT else used <= bound, (n, items, seed, used, bound)
        reached = reached or (used == bound > 0)
    assert reached


def test_round_robin_bound_for_the_paper_grid() -> None:
    assert make_strategy("round_robin").max_calls(80, 170) == 1_074_400
    assert make_strategy("blocked").max_calls(80, 170) == 26_860
