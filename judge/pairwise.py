"""Judge candidate pairs in both orders, through the verdict store, with a tie policy.

The only component that talks to a JudgeBackend during a search. It batches: one backend
call per `compare` (plus one per retry round), never one per item, and it never asks the
backend for a judgment the store already holds.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from judge.policy import PositionStats, combine_judgments, validate_policy
from judge.prompt import as_text
from judge.store import VerdictStore
from judge.types import ComparisonItem, JudgeBackend, JudgeRequest, Judgment, Verdict


def both_orders(item: ComparisonItem) -> tuple[JudgeRequest, JudgeRequest]:
    """(A as response1, B as response2) and the swapped request."""
    ab = JudgeRequest(item.instruction, item.input, item.answer_a, item.answer_b)
    ba = JudgeRequest(item.instruction, item.input, item.answer_b, item.answer_a)
    return ab, ba


def prefix_key(request: JudgeRequest) -> tuple[str, str, str]:
    """What the prompts of two requests share when they share this key: the prompt up to and
    including response 1."""
    return (as_text(request.instruction), as_text(request.input), as_text(request.response1))


class PairwiseJudge:
    """Both-order comparisons of candidate answers, cached and retried.

    Attributes: `calls` single-order judgments requested from the backend (store hits
    excluded, retries included), `cache_hits` judgments served by the store, `seconds` spent
    in backend calls (summed: concurrent matches each count their own), `invalid`
    items whose outcome is None, `stats` position-bias counts over every judged item;
    when `compare` is told which candidates play (`pair=(a, b)`): `pair_stats` per pair
    (conflict rate), `by_candidate` per candidate ("invalid" items it took part in,
    "truncated" answers of its that were cut to fit the judge's context).
    A store is bound to the backend's identity (VerdictStore.bind): another judge's store is
    refused with one line.
    """

    def __init__(self, backend: JudgeBackend, store: VerdictStore | None = None,
                 policy: str = "strict", invalid_retries: int = 1, persist_every: int = 64,
                 tie_band: float = 0.0) -> None:
        self.backend = backend
        self.persist_every = max(1, int(persist_every))  # bounds what a kill can lose
        self.store = store
        if store is not None:
            store.bind(backend.identity)
        self.policy, self.tie_band = validate_policy(policy), float(tie_band)
        self.pair_stats: dict[tuple[str, str], PositionStats] = {}
        self.by_candidate: dict[str, Counter[str]] = {}
        self._count_lock = threading.Lock()
        self._inflight: dict[JudgeRequest, threading.Event] = {}
        self._finished: dict[JudgeRequest, Judgment] = {}
        self.invalid_retries = max(0, int(invalid_retries))
        self.calls = 0
        self.cache_hits = 0
        self.seconds = 0.0  # summed over backend calls (overlapping matches count each)
        self.invalid = 0
        self.stats = PositionStats()

    def compare(self, items: Sequence[ComparisonItem], pair: tuple[str, str] | None = None) -> list[int | None]:
        """Per item: +1 A better, -1 B better, 0 tie, None invalid (after retries).

        `pair` names the candidates (A, B), for the per-pair and per-candidate counts."""
        requests = [req for item in items for req in both_orders(item)]
        judgments = self.judge_requests(requests)
        outcomes: list[int | None] = []
        for i in range(len(items)):
            j_ab, j_ba = judgments[2 * i], judgments[2 * i + 1]
            outcomes.append(combine_judgments(j_ab, j_ba, self.policy, self.tie_band))
            with self._count_lock:  # matches may be played concurrently (pipelined tournament)
                self.stats.add_pair(j_ab.verdict, j_ba.verdict)
                if pair is not None:
                    self._count(pair, j_ab, j_ba, outcomes[-1] is None)
        with self._count_lock:
            self.invalid += sum(o is None for o in outcomes)
        return outcomes

    def _count(self, pair: tuple[str, str], j_ab: Judgment, j_ba: Judgment, invalid: bool) -> None:
        """Per-pair conflicts and per-candidate invalid items and truncated answers."""
        a, b = pair
        self.pair_stats.setdefault((a, b), PositionStats()).add_pair(j_ab.verdict, j_ba.verdict)
        count_a = self.by_candidate.setdefault(a, Counter())
        count_b = self.by_candidate.setdefault(b, Counter())
        if invalid:
            count_a["invalid"] += 1
            count_b["invalid"] += 1
        # In order AB candidate A is response 1; in order BA it is response 2.
        count_a["truncated"] += ("1" in j_ab.truncated) + ("2" in j_ba.truncated)
        count_b["truncated"] += ("2" in j_ab.truncated) + ("1" in j_ba.truncated)

    def judge_requests(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        """Single-order judgments for `requests`: store first, then one batched backend call.

        Identical requests are judged once, also across threads (a pipelined tournament):
        a request another thread is already judging is waited for, not asked again. Every
        new judgment is in the store before it is returned; an invalid one is stored only
        after its retries are exhausted.
        """
        unique = list(dict.fromkeys(requests))
        known = self._lookup(unique)
        # Requests sharing a prompt prefix (instruction, input, response 1) go out together,
        # so a server's prefix cache (vLLM automatic prefix caching) hits.
        mine, theirs = self._claim(sorted((r for r in unique if r not in known), key=prefix_key))
        with self._count_lock:
            self.cache_hits += len(unique) - len(mine)
        try:
            for start in range(0, len(mine), self.persist_every):
                known.update(self._judge_new(mine[start:start + self.persist_every]))
        finally:
            self._release(mine, known)
        for request, event in theirs:
            event.wait()
            done = self._finished.get(request)
            known[request] = done if done is not None else self.judge_requests([request])[0]
        return [known[r] for r in requests]

    def _claim(self, misses: list[JudgeRequest]) -> tuple[list[JudgeRequest], list[tuple[JudgeRequest, threading.Event]]]:
        """Split misses into those this thread judges and those in flight in another thread."""
        mine, theirs = [], []
        with self._count_lock:
            for request in misses:
                if request in self._inflight:
                    theirs.append((request, self._inflight[request]))
                else:
                    self._inflight[request] = threading.Event()
                    mine.append(request)
        return mine, theirs

    def _release(self, mine: list[JudgeRequest], known: dict[JudgeRequest, Judgment]) -> None:
        """Publish this thread's results (None if it failed) and wake the waiting threads."""
        with self._count_lock:
            for request in mine:
                if request in known:
                    self._finished[request] = known[request]
                self._inflight.pop(request).set()
            if len(self._finished) > 100_000:  # waiters read it at once; keep it bounded
                self._finished.clear()

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
        t0 = time.perf_counter()
        judgments = self.backend.judge(requests)
        seconds = time.perf_counter() - t0
        if len(judgments) != len(requests):
            raise RuntimeError(f"judge backend {self.backend.identity!r} returned "
                               f"{len(judgments)} judgments for {len(requests)} requests")
        with self._count_lock:
            self.calls += len(requests)
            self.seconds += seconds
        return dict(zip(requests, judgments, strict=True))

    def _persist(self, requests: list[JudgeRequest], results: dict[JudgeRequest, Judgment]) -> None:
        if self.store is not None and requests:
            self.store.put_many(self.backend.identity, requests, [results[r] for r in requests])

    def stats_dict(self) -> dict[str, Any]:
        """Counters for logging/tracking, flat and JSON-friendly."""
        per_candidate = {c: {"invalid": n["invalid"], "truncated": n["truncated"]}
                         for c, n in sorted(self.by_candidate.items())}
        pairs = {f"{a} vs {b}": round(s.conflict_rate(), 4) for (a, b), s in sorted(self.pair_stats.items())}
        return {"calls": self.calls, "cache_hits": self.cache_hits, "invalid_items": self.invalid,
                "judge_seconds": round(self.seconds, 3),
                "policy": self.policy, "conflict_rate": round(self.stats.conflict_rate(), 4),
                **{f"verdicts_{k}": v for k, v in self.stats.as_dict().items()},
                "per_candidate": per_candidate, "pair_conflict_rate": pairs}
