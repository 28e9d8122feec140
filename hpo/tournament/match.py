"""One match between two candidates, with exact early decision, and a per-tournament cache.

Rules (see docs/tournament.md):

* Items are judged in a fixed order (0, 1, ..., n-1 unless `items` is given), in chunks.
* The winner is the side with more item wins. Equal counts go to `a`: in sequential
  comparison `a` is the incumbent (the current best), and a challenger must beat it, not tie it.
* Ties count for neither side; invalid items (None) count for neither side and are recorded.
* Early decision is exact: after each chunk the match stops as soon as the items left cannot
  change the winner, so the winner is always the one a full match would give.
"""

from __future__ import annotations

from collections.abc import Sequence

from hpo.tournament.base import A_WINS, B_WINS, TIE, ItemOutcome, MatchJudge, MatchRecord


def decided(wins: int, losses: int, remaining: int) -> bool:
    """True when `remaining` more items cannot change who wins (ties to the incumbent `a`)."""
    b_cannot_overtake = losses + remaining <= wins
    a_cannot_catch_up = losses > wins + remaining
    return b_cannot_overtake or a_cannot_catch_up


def play_match(
    a: str,
    b: str,
    judge: MatchJudge,
    *,
    early_decision: bool = True,
    chunk: int = 8,
    stage: str = "",
    items: Sequence[int] | None = None,
) -> MatchRecord:
    """Judge `a` (incumbent) against `b` on the validation items and return the record."""
    order = list(range(judge.n_items)) if items is None else list(items)
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    counts = {A_WINS: 0, B_WINS: 0, TIE: 0, None: 0}
    calls_before, judged = judge.calls, 0
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        for outcome in judge.judge(a, b, part):
            counts[outcome] += 1
        judged += len(part)
        if early_decision and decided(counts[A_WINS], counts[B_WINS], len(order) - judged):
            break
    winner = b if counts[B_WINS] > counts[A_WINS] else a
    return MatchRecord(
        a=a, b=b, wins=counts[A_WINS], losses=counts[B_WINS], ties=counts[TIE],
        invalid=counts[None], winner=winner, items_judged=judged, items_total=len(order),
        calls=judge.calls - calls_before, stage=stage,
    )


class MatchCache:
    """A MatchJudge wrapper that remembers every item outcome within one tournament.

    Asking for (a, b) on an item already judged as (a, b) or (b, a) is answered from memory
    (negated for the swapped pair: both orders were judged, so the outcome is symmetric) and
    costs no call. `outcomes()` exposes everything gathered, for Bradley-Terry or Copeland
    over all judgments. The verdict store dedupes across runs; this dedupes within one.
    """

    def __init__(self, judge: MatchJudge) -> None:
        self.inner = judge
        self.n_items = judge.n_items
        self._seen: dict[tuple[str, str], dict[int, ItemOutcome]] = {}

    @property
    def calls(self) -> int:
        """Calls of the wrapped judge: a cache hit costs nothing."""
        return self.inner.calls

    @calls.setter
    def calls(self, value: int) -> None:
        raise AttributeError("MatchCache.calls mirrors the wrapped judge and cannot be set")

    def _key(self, a: str, b: str) -> tuple[tuple[str, str], int]:
        return ((a, b), 1) if a <= b else ((b, a), -1)

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        key, sign = self._key(a, b)
        seen = self._seen.setdefault(key, {})
        missing = [i for i in dict.fromkeys(items) if i not in seen]
        if missing:
            lo, hi = key
            seen.update(zip(missing, self.inner.judge(lo, hi, missing), strict=True))
        return [None if seen[i] is None else sign * seen[i] for i in items]  # type: ignore[operator]

    def missing(self, a: str, b: str, items: Sequence[int]) -> int:
        """How many of `items` would need new judge calls for this pair."""
        seen = self._seen.get(self._key(a, b)[0], {})
        return sum(1 for i in set(items) if i not in seen)

    def outcomes(self) -> dict[tuple[str, str], tuple[int, int, int, int]]:
        """(a, b) with a < b -> counts (a item wins, b item wins, ties, invalid)."""
        result = {}
        for key, seen in self._seen.items():
            values = list(seen.values())
            result[key] = (values.count(A_WINS), values.count(B_WINS), values.count(TIE),
                           values.count(None))
        return result
