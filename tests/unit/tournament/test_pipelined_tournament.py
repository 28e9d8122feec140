"""A pipelined blocked tournament (blocks played at once) decides exactly like the sequential one."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from hpo.testing.simulate import SimulatedJudge
from hpo.tournament.base import ItemOutcome, play_independent
from hpo.tournament.strategies.blocked import BlockedOptions, BlockedStrategy


class SlowThreadSafeJudge:
    """The simulated judge, with a lock on its counter and a pause that lets threads interleave."""

    def __init__(self, inner: SimulatedJudge) -> None:
        self.inner, self.n_items = inner, inner.n_items
        self.lock = threading.Lock()
        self.active = self.peak = 0

    @property
    def calls(self) -> int:
        return self.inner.calls

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.002)
        with self.lock:
            out = self.inner.judge(a, b, items)
            self.active -= 1
        return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_winner_matches_and_calls_with_and_without_pipelining(seed: int) -> None:
    qualities = [((i * 7919 + seed) % 23) / 10 for i in range(20)]
    results = {}
    peaks = {}
    for pipeline in (False, True):
        judge = SlowThreadSafeJudge(SimulatedJudge(qualities, n_items=40, accuracy=0.75, seed=seed))
        results[pipeline] = BlockedStrategy(BlockedOptions(blocks=4, pipeline=pipeline)).run(judge.inner.ids, judge, seed)
        peaks[pipeline] = judge.peak
    seq, pipe = results[False], results[True]
    assert pipe.winner == seq.winner and pipe.ranking == seq.ranking and pipe.calls == seq.calls
    key = [(m.stage, m.a, m.b, m.wins, m.losses, m.ties, m.items_judged, m.winner) for m in seq.matches]
    assert [(m.stage, m.a, m.b, m.wins, m.losses, m.ties, m.items_judged, m.winner) for m in pipe.matches] == key
    assert any(m.decided_early for m in seq.matches)  # early decision was in play
    assert peaks[False] == 1 and peaks[True] > 1  # the blocks really overlapped


def test_play_independent_keeps_order_and_raises() -> None:
    assert play_independent([lambda: 1, lambda: 2, lambda: 3], pipeline=True) == [1, 2, 3]

    def boom() -> int:
        raise ValueError("bad block")

    with pytest.raises(ValueError, match="bad block"):
        play_independent([lambda: 1, boom], pipeline=True)


class SlowBackend:
    identity = "slow"

    def __init__(self) -> None:
        self.asked: list[object] = []

    def judge(self, requests: Sequence[object]) -> list[object]:
        from judge.types import Judgment, Verdict

        self.asked += list(requests)
        time.sleep(0.05)
        return [Judgment(Verdict.RESPONSE1) for _ in requests]

    def close(self) -> None:
        pass


def test_concurrent_compares_judge_each_request_once(tmp_path: object) -> None:
    from judge.pairwise import PairwiseJudge
    from judge.types import ComparisonItem

    backend = SlowBackend()
    pairwise = PairwiseJudge(backend)  # type: ignore[arg-type]
    items = [ComparisonItem(f"q{i}", "", "x", "y") for i in range(6)]
    outcomes: list[list[int | None]] = []
    threads = [threading.Thread(target=lambda: outcomes.append(pairwise.compare(items))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(backend.asked) == 12 and len(set(backend.asked)) == 12  # 6 items x 2 orders, once
    assert pairwise.calls == 12 and outcomes == [[0] * 6] * 4
