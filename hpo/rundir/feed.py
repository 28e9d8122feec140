"""Which candidates' answers exist, so the tournament can start before all trials finish."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class CandidateFeed:
    """Thread-safe availability board: a candidate is pending, ready, or missing (with why)."""

    def __init__(self, planned: Iterable[str]) -> None:
        self._planned = list(planned)
        self._ready: set[str] = set()
        self._missing: dict[str, str] = {}
        self._cond = threading.Condition()

    def ready(self, candidate_id: str) -> None:
        with self._cond:
            self._ready.add(candidate_id)
            self._cond.notify_all()

    def missing(self, candidate_id: str, why: str) -> None:
        with self._cond:
            if candidate_id not in self._ready:
                self._missing.setdefault(candidate_id, why)
            self._cond.notify_all()

    def close(self, why: str = "never produced") -> None:
        """Trials are over: whatever is not ready now is missing."""
        with self._cond:
            for cid in self._planned:
                if cid not in self._ready:
                    self._missing.setdefault(cid, why)
            self._cond.notify_all()

    def wait(self, candidate_id: str) -> bool:
        """Block until the candidate is ready (True) or known missing (False)."""
        with self._cond:
            self._cond.wait_for(lambda: candidate_id in self._ready or candidate_id in self._missing)
            return candidate_id in self._ready

    def missing_reasons(self) -> dict[str, str]:
        with self._cond:
            return dict(self._missing)

    def ready_ids(self) -> list[str]:
        with self._cond:
            return [c for c in self._planned if c in self._ready]
