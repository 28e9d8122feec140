"""play_match: winner rule, invalid items, exact early decision; MatchCache."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from hpo.tournament.base import A_WINS, B_WINS, TIE, ItemOutcome
from hpo.tournament.match import MatchCache, decided, play_match


class ScriptedJudge:
    """Returns a fixed outcome per item for (a, b), negated for (b, a); 2 calls per item."""

    def __init__(self, script: Sequence[ItemOutcome]) -> None:
        self.script, self.n_items, self.calls = list(script), len(script), 0

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        self.calls += 2 * len(items)
        sign = 1 if a < b else -1
        return [None if (v := self.script[i]) is None else sign * v for i in items]


def test_more_item_wins_decides_and_invalid_counts_for_neither() -> None:
    judge = ScriptedJudge([A_WINS, B_WINS, B_WINS, None, TIE, None])
    rec = play_match("a", "b", judge, early_decision=False, chunk=2)
    assert (rec.wins, rec.losses, rec.ties, rec.invalid) == (1, 2, 1, 2)
    assert rec.winner == "b" and rec.items_judged == 6 and rec.calls == 12


def test_equal_counts_go_to_the_incumbent_a() -> None:
    judge = ScriptedJudge([A_WINS, B_WINS, TIE, None])
    assert play_match("a", "b", judge, early_decision=False).winner == "a"
    assert play_match("b", "a", judge, early_decision=False).winner == "b"


def test_early_decision_stops_after_the_deciding_chunk() -> None:
    judge = ScriptedJudge([A_WINS] * 10)
    rec = play_match("a", "b", judge, chunk=4)
    # after 4: 4-0 with 6 left (b could reach 6 > 4); after 8: 8-0 with 2 left -> decided
    assert rec.items_judged == 8 and rec.calls == 16 and rec.decided_early
    assert rec.winner == "a"


def test_early_decision_for_the_challenger() -> None:
    rec = play_match("a", "b", ScriptedJudge([B_WINS] * 9), chunk=3)
    # after 6: 0-6 with 3 left, a can reach 3 < 6 -> decided for b
    assert rec.winner == "b" and rec.items_judged == 6


def test_decided_is_exact_on_boundaries() -> None:
    assert decided(5, 2, 3)  # b reaches 5 = a: tie goes to a
    assert not decided(5, 2, 4)  # b could reach 6
    assert decided(1, 5, 3)  # a reaches 4 < 5
    assert not decided(1, 5, 4)  # a could reach 5 = b, a keeps it


@pytest.mark.parametrize("seed", range(40))
def test_early_decision_gives_the_full_match_winner(seed: int) -> None:
    rng = random.Random(seed)
    script = rng.choices([A_WINS, B_WINS, TIE, None], weights=[4, 4, 2, 1], k=rng.randint(1, 40))
    full = play_match("a", "b", ScriptedJudge(script), early_decision=False, chunk=3)
    early = play_match("a", "b", ScriptedJudge(script), early_decision=True, chunk=3)
    assert early.winner == full.winner
    assert early.calls <= full.calls and early.items_judged <= full.items_judged


def test_match_cache_answers_swapped_pairs_without_calls() -> None:
    inner = ScriptedJudge([A_WINS, B_WINS, TIE, None])
    cache = MatchCache(inner)
    assert cache.judge("a", "b", [0, 1]) == [A_WINS, B_WINS]
    assert cache.calls == 4
    assert cache.judge("b", "a", [0, 1, 2]) == [B_WINS, A_WINS, TIE]
    assert cache.calls == 6  # only item 2 was new
    assert cache.missing("a", "b", range(4)) == 1
    assert cache.outcomes() == {("a", "b"): (1, 1, 1, 0)}
    with pytest.raises(AttributeError):
        cache.calls = 0
