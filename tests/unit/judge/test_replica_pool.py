"""ReplicaPool: round-robin over judge replicas, cool-downs for failing ones, revival."""

from __future__ import annotations

import pytest

from judge.backends.replicas import ReplicaPool


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_url_a_comma_list_or_a_list() -> None:
    assert ReplicaPool("http://a:1/").urls == ["http://a:1"]
    assert ReplicaPool("http://a:1,http://b:2").urls == ["http://a:1", "http://b:2"]
    assert ReplicaPool(["http://a:1", "http://a:1/", "http://b:2"]).urls == ["http://a:1", "http://b:2"]
    with pytest.raises(ValueError, match="at least one"):
        ReplicaPool([])


def test_round_robin_skips_a_failed_replica_until_its_cooldown_ends() -> None:
    clock = Clock()
    pool = ReplicaPool(["a", "b", "c"], cooldown_s=2, max_cooldown_s=5, clock=clock)
    assert [pool.pick() for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]
    pool.failed("b")
    assert pool.live() == 2
    assert [pool.pick() for _ in range(4)] == ["a", "c", "a", "c"]
    clock.now += 2.01  # cool-down over: b gets a real request again (a probe)
    assert "b" in [pool.pick() for _ in range(3)]
    pool.failed("b")  # still down: the next cool-down is twice as long, capped
    pool.failed("b")
    clock.now += 4.0
    assert pool.live() == 2
    clock.now += 1.01
    assert pool.live() == 3
    pool.served("b")
    assert pool.counts()["b"] == 1 and pool.live() == 3


def test_all_down_returns_the_replica_due_back_first() -> None:
    clock = Clock()
    pool = ReplicaPool(["a", "b"], cooldown_s=1, clock=clock)
    pool.failed("a")
    pool.failed("b")
    pool.failed("b")
    assert pool.live() == 0 and pool.pick() == "a"


def test_start_check_passes_with_one_live_replica() -> None:
    pool = ReplicaPool(["a", "b"])

    def check(url: str) -> None:
        if url == "a":
            raise ConnectionError("down")

    pool.check_any(check, ConnectionError)
    assert pool.live() == 1 and pool.pick() == "b"
    with pytest.raises(ConnectionError):
        ReplicaPool(["a"]).check_any(check, ConnectionError)
    with pytest.raises(PermissionError):  # a wrong key is not "unreachable": it propagates
        ReplicaPool(["b"]).check_any(lambda u: (_ for _ in ()).throw(PermissionError()), ConnectionError)


def test_first_answer_moves_past_unreachable_replicas_and_sets_them_aside() -> None:
    pool = ReplicaPool(["a", "b", "c"], clock=Clock())
    tried: list[str] = []

    def call(url: str) -> str:
        tried.append(url)
        if url != "c":
            raise ConnectionError(url)
        return f"answer from {url}"

    assert pool.first_answer(call, ConnectionError) == "answer from c"
    assert tried == ["a", "b", "c"] and pool.live() == 1
    with pytest.raises(ConnectionError):
        pool.first_answer(lambda url: (_ for _ in ()).throw(ConnectionError(url)), ConnectionError)
