"""The blocked bracket, pinned on a small seeded example, and early decision's exactness."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hpo.errors import ConfigError
from hpo.testing.simulate import SimulatedJudge
from hpo.tournament.strategies.blocked import (
    BlockedOptions,
    BlockedStrategy,
    split_blocks,
    worst_case_calls,
)

IDS = [f"c{i}" for i in range(8)]


class QualityIsIndex:
    """Deterministic judge: the higher index wins every item; 2 calls per item asked."""

    n_items = 10

    def __init__(self) -> None:
        self.calls = 0

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[int | None]:
        self.calls += 2 * len(items)
        return [1 if int(a[1:]) > int(b[1:]) else -1 for _ in items]


# random.Random(0).shuffle(IDS) -> c4 c1 c5 c2 | c0 c3 c7 c6
PINNED = [
    ("c4", "c1", "c4", "block 1"), ("c4", "c5", "c5", "block 1"), ("c5", "c2", "c5", "block 1"),
    ("c0", "c3", "c3", "block 2"), ("c3", "c7", "c7", "block 2"), ("c7", "c6", "c7", "block 2"),
    ("c5", "c7", "c7", "final"),
]


@pytest.mark.parametrize(("early", "items", "calls"), [(True, 8, 112), (False, 10, 140)])
def test_blocked_bracket_is_pinned(early: bool, items: int, calls: int) -> None:
    judge = QualityIsIndex()
    result = BlockedStrategy(BlockedOptions(blocks=2, early_decision=early, chunk=4)).run(IDS, judge, seed=0)
    assert [(m.a, m.b, m.winner, m.stage) for m in result.matches] == PINNED
    assert all(m.items_judged == items for m in result.matches)
    assert result.calls == calls == judge.calls
    assert result.winner == "c7"
    assert result.ranking == ["c7", "c5", "c3", "c4", "c0", "c1", "c2", "c6"]
    assert result.scores == {"c7": 3, "c5": 2, "c3": 1, "c4": 1, "c0": 0, "c1": 0, "c2": 0, "c6": 0}


def test_without_early_decision_calls_are_the_worst_case() -> None:
    judge = QualityIsIndex()
    result = BlockedStrategy(BlockedOptions(blocks=3, early_decision=False)).run(IDS, judge, seed=1)
    assert result.calls == worst_case_calls(8, 10) == 7 * 10 * 2
    assert len(result.matches) == 7


def test_uneven_blocks_differ_by_at_most_one() -> None:
    assert [len(b) for b in split_blocks(list(range(10)), 4)] == [3, 3, 2, 2]
    assert [len(b) for b in split_blocks(list(range(3)), 4)] == [1, 1, 1]  # clamped to N
    assert sum(split_blocks(list(range(10)), 4), []) == list(range(10))
    with pytest.raises(ConfigError):
        BlockedStrategy(BlockedOptions(blocks=0))


def test_bad_candidate_pools_are_rejected() -> None:
    with pytest.raises(ConfigError):
        BlockedStrategy().run([], QualityIsIndex(), seed=0)
    with pytest.raises(ConfigError):
        BlockedStrategy().run(["c1", "c1"], QualityIsIndex(), seed=0)


def test_early_decision_same_winners_fewer_calls_over_seeds() -> None:
    early_total = full_total = 0
    for seed in range(25):
        qualities = [0.3 * i for i in range(20)]
        def judge() -> SimulatedJudge:
            return SimulatedJudge(qualities, 40, 0.8, 0.1, seed, temperature=1.0)  # noqa: B023

        full = BlockedStrategy(BlockedOptions(early_decision=False)).run(judge().ids, judge(), seed)
        early = BlockedStrategy(BlockedOptions(early_decision=True)).run(judge().ids, judge(), seed)
        assert early.winner == full.winner and early.ranking == full.ranking
        assert [m.winner for m in early.matches] == [m.winner for m in full.matches]
        assert early.calls <= full.calls
        early_total, full_total = early_total + early.calls, full_total + full.calls
    assert early_total < full_total
