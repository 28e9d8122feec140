"""Judge candidate pairs in both orders, through the verdict store, with a tie policy.

The only component that talks to a JudgeBackend during a search. It batches: one backend
call per `compare` (plus one per retry round), never one per item, and it never asks the
backend for a judgment the store already holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judge.policy import PositionStats, combine, validate_policy
from judge.store import VerdictStore
from judge.types import ComparisonItem, JudgeBackend, JudgeRequest, Judgment, Verdict


def both_orders(item: ComparisonItem) -> tuple[JudgeRequest, JudgeRequest]:
    """(A as response1, B as response2) and the swapped request."""
    ab = JudgeRequest(item.instruction, item.input, item.answer_a, item.answer_b)
    ba = JudgeRequest(item.instruction, item.input, item.answer_b, item.answer_a)
    return ab, ba


class PairwiseJudge:
    """Both-order comparisons of candidate answers, cached and retried.

    Attributes: `calls` single-order judgments requested from the backend (store hits
    excluded, retries included), `cache_hits` judgments served by the store, `invalid`
    items whose outcome is None, `stats` position-bias counts over every judged item.
    """

    def __init__(self, backend: JudgeBackend, store: VerdictStore | None = None,
                 policy: str = "strict", invalid_retries: int = 1, persist_every: int = 64) -> None:
        self.backend = backend
        self.persist_every = max(1, int(persist_every))  # bounds what a kill can lose
        self.store = store
        self.policy = validate_policy(policy)
        self.invalid_retries = max(0, int(invalid_retries))
        self.calls = 0
        self.cache_hits = 0
        self.invalid = 0
        self.stats = PositionStats()

    def compare(self, items: Sequence[ComparisonItem]) -> list[int | None]:
        """Per item: +1 A better, -1 B better, 0 tie, None invalid (after retries)."""
        requests = [req for item in items for req in both_orders(item)]
        judgments = self.judge_requests(requests)
        outcomes: list[int | None] = []
        for i in range(len(items)):
            v_ab, v_ba = judgments[2 * i].verdict, judgments[2 * i + 1].verdict
            self.stats.add_pair(v_ab, v_ba)
            outcomes.append(combine(v_ab, v_ba, self.policy))
        self.invalid += sum(o is None for o in outcomes)
        return outcomes

    def judge_requests(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        """Single-order judgments for `requests`: store first, then one batched backend call.

        Identical requests are judged once. Every new judgment is in the store before it is
        returned; an invalid one is stored only after its retries are exhausted.
        """
        unique = list(dict.fromkeys(requests))
        known = self._lookup(unique)
        misses = [r for r in unique if r not in known]
        self.cache_hits += len(unique) - len(misses)
        for start in range(0, len(misses), self.persist_every):
            known.update(self._judge_new(misses[start:start + self.persist_every]))
        return [known[r] for r in requests]

    def _lookup(self, requests: list[JudgeRequest]) -> dict[JudgeRequest, Judgment]:
        if self.store is None or not requests:
            return {}
        found = self.store.get_many(self.backend.identity, requests)
        return {r: j for r, j in zip(requests, found, strict=True) if j is not None}

    def _judge_new(self, requests: list[JudgeRequest]) -> dict[JudgeRequest, Judgment]:
        """Ask the backend, persist valid answers at once, retry invalid ones, persist those."""
        results = self._ask(requests)
        retry = [r for r in requests if results[r].verdict is Verdict.INVALID]
        self._persist([r for r in requests if results[r].verdict is not Verdict.INVALID], results)
        pending = retry
        for _ in range(self.invalid_retries):
            if not pending:
                break
            retried = self._ask(pending)
            results.update(retried)  # a still-invalid retry keeps its latest raw text
            pending = [r for r in pending if results[r].verdict is Verdict.INVALID]
        self._persist(retry, results)
        return results

    def _ask(self, requests: list[JudgeRequest]) -> dict[JudgeRequest, Judgment]:
        if not requests:
            return {}
        judgments = self.backend.judge(requests)
        if len(judgments) != len(requests):
            raise RuntimeError(f"judge backend {self.backend.identity!r} returned "
                               f"{len(judgments)} judgments for {len(requests)} requests")
        self.calls += len(requests)
        return dict(zip(requests, judgments, strict=True))

    def _persist(self, requests: list[JudgeRequest], results: dict[JudgeRequest, Judgment]) -> None:
        if self.store is not None and requests:
            self.store.put_many(self.backend.identity, requests, [results[r] for r in requests])

    def stats_dict(self) -> dict[str, Any]:
        """Counters for logging/tracking, flat and JSON-friendly."""
        return {"calls": self.calls, "cache_hits": self.cache_hits, "invalid_items": self.invalid,
                "policy": self.policy, **{f"verdicts_{k}": v for k, v in self.stats.as_dict().items()}}
