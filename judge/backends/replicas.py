"""Several replicas of one judge server behind one client.

`judge.url` may list several servers that serve the same model (vLLM, JudgeLM). The pool
spreads requests round-robin over the replicas that answer. A replica whose attempt fails at the
transport level (connection refused, timeout, 5xx) is set aside for a cool-down that doubles on
each further failure (up to `max_cooldown_s`); its request is retried at once on another replica,
so nothing is lost, and the verdict store above the client means a stored judgment is never asked
again. After the cool-down the replica gets a real request again (a probe): a replica that came
back is used again. With every replica set aside, `pick` returns the one due soonest, and the
caller's own backoff and deadline apply.

Thread-safe: a judge client calls `pick`/`failed`/`served` from many request threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class _Replica:
    url: str
    down_until: float = 0.0
    failures: int = 0
    served: int = 0


class ReplicaPool:
    """Round-robin over live replica URLs, with cool-downs for failing ones."""

    def __init__(self, urls: str | Sequence[str], cooldown_s: float = 2.0, max_cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        listed = urls.split(",") if isinstance(urls, str) else list(urls)  # "--judge-url a,b"
        cleaned = list(dict.fromkeys(u.rstrip("/") for u in listed if u and u.strip()))
        if not cleaned:
            raise ValueError("judge.url: give at least one server URL")
        self._replicas = [_Replica(u) for u in cleaned]
        self._cooldown, self._max_cooldown, self._clock = cooldown_s, max_cooldown_s, clock
        self._next = 0
        self._lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self._replicas]

    def pick(self) -> str:
        """The next live replica (round-robin); if none is live, the one due back soonest."""
        with self._lock:
            now, n = self._clock(), len(self._replicas)
            for k in range(n):
                rep = self._replicas[(self._next + k) % n]
                if rep.down_until <= now:
                    self._next = (self._next + k + 1) % n
                    return rep.url
            return min(self._replicas, key=lambda r: r.down_until).url

    def live(self) -> int:
        """How many replicas are not cooling down now."""
        with self._lock:
            now = self._clock()
            return sum(r.down_until <= now for r in self._replicas)

    def failed(self, url: str) -> None:
        """A transport-level failure: set the replica aside (cool-down doubles per failure)."""
        with self._lock:
            rep = self._find(url)
            rep.failures += 1
            pause = min(self._max_cooldown, self._cooldown * 2 ** (rep.failures - 1))
            rep.down_until = self._clock() + pause

    def served(self, url: str) -> None:
        """A completed request: the replica is healthy again."""
        with self._lock:
            rep = self._find(url)
            rep.failures, rep.down_until = 0, 0.0
            rep.served += 1

    def counts(self) -> dict[str, int]:
        """Requests served per replica URL (for logs and tests)."""
        with self._lock:
            return {r.url: r.served for r in self._replicas}

    def check_any(self, check_one: Callable[[str], None], unreachable: type[Exception]) -> None:
        """Run a start-up check on every replica: fine if at least one passes. Replicas raising
        `unreachable` are set aside; any other error (wrong key, wrong model) propagates."""
        last: Exception | None = None
        for url in self.urls:
            try:
                check_one(url)
            except unreachable as exc:
                self.failed(url)
                last = exc
        if last is not None and self.live() == 0:
            raise last

    def first_answer(self, call: Callable[[str], T], unreachable: type[Exception]) -> T:
        """`call(url)` on the replicas in pick order until one answers; a replica raising
        `unreachable` is set aside and the next is tried. For requests any replica can serve
        (tokenizer lookups); other errors propagate. Raises the last `unreachable` if none answers."""
        last: Exception | None = None
        for _ in self._replicas:
            url = self.pick()
            try:
                return call(url)
            except unreachable as exc:
                self.failed(url)
                last = exc
        assert last is not None
        raise last

    def _find(self, url: str) -> _Replica:
        for rep in self._replicas:
            if rep.url == url:
                return rep
        raise KeyError(url)
