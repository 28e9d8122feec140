"""PairwiseJudge: both orders, one batched call, store reuse, invalid retries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from hpo.errors import ConfigError
from judge.pairwise import PairwiseJudge
from judge.store import StoreIdentityError, VerdictStore
from judge.types import ComparisonItem, JudgeBackend, JudgeRequest, Judgment, Verdict


class FakeBackend:
    """Scripted judge: `rule(request, attempt)` -> Verdict. Records every batch it gets."""

    def __init__(self, rule: Callable[[JudgeRequest, int], Verdict], identity: str = "fake") -> None:
        self.identity = identity
        self.rule = rule
        self.batches: list[list[JudgeRequest]] = []
        self.attempts: dict[JudgeRequest, int] = {}

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        self.batches.append(list(requests))
        out = []
        for r in requests:
            attempt = self.attempts.get(r, 0)
            self.attempts[r] = attempt + 1
            v = self.rule(r, attempt)
            out.append(Judgment(v, raw=f"{v.value} (attempt {attempt})"))
        return out

    def close(self) -> None:
        pass

    @property
    def judged(self) -> int:
        return sum(len(b) for b in self.batches)


def longer(r: JudgeRequest, attempt: int) -> Verdict:
    """An unbiased judge: the longer answer wins, equal lengths tie."""
    if len(r.response1) == len(r.response2):
        return Verdict.TIE
    return Verdict.RESPONSE1 if len(r.response1) > len(r.response2) else Verdict.RESPONSE2


ITEMS = [ComparisonItem("q1", "", "long answer", "short"), ComparisonItem("q2", "ctx", "x", "yyyy"),
         ComparisonItem("q3", "", "same", "same")]


def test_is_a_judge_backend() -> None:
    assert isinstance(FakeBackend(longer), JudgeBackend)


def test_compare_both_orders_one_batch() -> None:
    backend = FakeBackend(longer)
    judge = PairwiseJudge(backend)
    assert judge.compare(ITEMS) == [1, -1, 0]
    assert len(backend.batches) == 1
    # q3 has equal answers: (A,B) and (B,A) are the same request, judged once.
    assert backend.judged == 5 and judge.calls == 5
    first = backend.batches[0]
    assert JudgeRequest("q1", "", "long answer", "short") in first
    assert JudgeRequest("q1", "", "short", "long answer") in first
    assert judge.stats.as_dict() == {"position1": 2, "position2": 2, "ties": 2, "invalid": 0, "conflicts": 0, "pairs": 3}


def test_duplicate_items_in_one_batch_are_judged_once() -> None:
    backend = FakeBackend(longer)
    judge = PairwiseJudge(backend)
    assert judge.compare([ITEMS[0], ITEMS[0], ITEMS[0]]) == [1, 1, 1]
    assert backend.judged == 2


def test_second_compare_hits_store(tmp_path: Path) -> None:
    store = VerdictStore(tmp_path / "v.sqlite")
    backend = FakeBackend(longer)
    first = PairwiseJudge(backend, store).compare(ITEMS)
    calls_before = backend.judged
    judge = PairwiseJudge(backend, store)
    assert judge.compare(ITEMS) == first
    assert backend.judged == calls_before and judge.calls == 0 and judge.cache_hits == 5
    # The swapped item reuses the same single-order judgments, outcome negated.
    swapped = [ComparisonItem(i.instruction, i.input, i.answer_b, i.answer_a) for i in ITEMS]
    assert judge.compare(swapped) == [-1, 1, 0] and judge.calls == 0
    # A different judge identity is refused with one line, before anything is judged.
    other = FakeBackend(longer, identity="other")
    with pytest.raises(StoreIdentityError, match="holds verdicts of judge 'fake'") as err:
        PairwiseJudge(other, store)
    assert "\n" not in str(err.value) and err.value.exit_code == 2 and other.judged == 0
    store.close()


def test_position_bias_strict_vs_lenient() -> None:
    always1 = FakeBackend(lambda r, a: Verdict.RESPONSE1)
    strict = PairwiseJudge(always1, policy="strict")
    assert strict.compare(ITEMS[:2]) == [0, 0]
    assert strict.stats.conflicts == 2
    lenient = PairwiseJudge(FakeBackend(lambda r, a: Verdict.RESPONSE1), policy="lenient")
    assert lenient.compare(ITEMS[:2]) == [0, 0]
    tie_then_win = FakeBackend(lambda r, a: Verdict.TIE if r.response1 == "x" else Verdict.RESPONSE1)
    assert PairwiseJudge(tie_then_win, policy="lenient").compare([ITEMS[1]]) == [-1]
    assert PairwiseJudge(tie_then_win, policy="strict").compare([ITEMS[1]]) == [0]


def test_invalid_retry_recovers_and_stores_valid(tmp_path: Path) -> None:
    flaky = FakeBackend(lambda r, a: Verdict.INVALID if a == 0 and r.instruction == "q1" else longer(r, a))
    store = VerdictStore(tmp_path / "v.sqlite")
    judge = PairwiseJudge(flaky, store, invalid_retries=1)
    assert judge.compare(ITEMS[:2]) == [1, -1]
    assert [len(b) for b in flaky.batches] == [4, 2]  # one retry batch with q1's two orders
    assert judge.calls == 6 and judge.invalid == 0
    stored = store.get_many("fake", [JudgeRequest("q1", "", "long answer", "short")])[0]
    assert stored is not None and stored.verdict is Verdict.RESPONSE1 and "attempt 1" in stored.raw
    store.close()


def test_invalid_after_retries_is_none_and_stored_invalid(tmp_path: Path) -> None:
    broken = FakeBackend(lambda r, a: Verdict.INVALID if r.instruction == "q2" else longer(r, a))
    store = VerdictStore(tmp_path / "v.sqlite")
    judge = PairwiseJudge(broken, store, invalid_retries=2)
    assert judge.compare(ITEMS[:2]) == [1, None]
    assert [len(b) for b in broken.batches] == [4, 2, 2]
    assert judge.invalid == 1 and judge.stats.invalid == 2
    got = store.get_many("fake", [JudgeRequest("q2", "ctx", "x", "yyyy")])[0]
    assert got is not None and got.verdict is Verdict.INVALID and "attempt 2" in got.raw
    # Stored as invalid: a resumed run does not ask again.
    again = PairwiseJudge(broken, store, invalid_retries=2)
    assert again.compare(ITEMS[:2]) == [1, None] and again.calls == 0
    store.close()


def test_no_retries() -> None:
    broken = FakeBackend(lambda r, a: Verdict.INVALID)
    judge = PairwiseJudge(broken, invalid_retries=0)
    assert judge.compare(ITEMS[:1]) == [None]
    assert len(broken.batches) == 1


def test_valid_judgments_are_stored_before_a_retry_fails(tmp_path: Path) -> None:
    def rule(r: JudgeRequest, attempt: int) -> Verdict:
        if attempt > 0:
            raise RuntimeError("judge died during retry")
        return Verdict.INVALID if r.instruction == "q2" else longer(r, attempt)

    store = VerdictStore(tmp_path / "v.sqlite")
    with pytest.raises(RuntimeError):
        PairwiseJudge(FakeBackend(rule), store).compare(ITEMS[:2])
    assert store.count() == 2  # q1's two orders survived; q2's invalid ones were not stored
    store.close()


def test_backend_returning_wrong_count() -> None:
    class Short(FakeBackend):
        def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
            return super().judge(requests)[:-1]

    with pytest.raises(RuntimeError, match="returned"):
        PairwiseJudge(Short(longer)).compare(ITEMS[:1])


def test_unknown_policy_and_stats_dict() -> None:
    with pytest.raises(ConfigError):
        PairwiseJudge(FakeBackend(longer), policy="coinflip")
    judge = PairwiseJudge(FakeBackend(longer))
    judge.compare(ITEMS[:1])
    d = judge.stats_dict()
    assert d["calls"] == 2 and d["cache_hits"] == 0 and d["verdicts_position1"] == 1 and d["policy"] == "strict"
