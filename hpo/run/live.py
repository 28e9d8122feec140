"""Tournament inputs that arrive while trials still train: answers loaded on demand, forfeits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.tournament.base import A_WINS, B_WINS, ItemOutcome, MatchJudge


class LiveAnswers(Mapping[str, Sequence[str]]):
    """Answers by candidate id; waits for a candidate's file when it is not there yet."""

    def __init__(self, store: AnswerStore, feed: CandidateFeed) -> None:
        self._store, self._feed = store, feed
        self._cache: dict[str, list[str]] = {}

    def __getitem__(self, cid: str) -> Sequence[str]:
        if cid not in self._cache:
            if not self._feed.wait(cid):
                raise KeyError(cid)
            self._cache[cid] = self._store.read(cid).answers
        return self._cache[cid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._feed.ready_ids())

    def __len__(self) -> int:
        return len(self._feed.ready_ids())


class ForfeitJudge:
    """A MatchJudge that waits for both candidates and scores a forfeit when one never arrives.

    A candidate whose training failed or was stopped before that epoch forfeits every match:
    it is thereby excluded from winning, without changing the bracket of the others'
    availability-independent seeded order.
    """

    def __init__(self, inner: MatchJudge, feed: CandidateFeed) -> None:
        self.inner, self.feed = inner, feed
        self.forfeits: list[tuple[str, str]] = []

    @property
    def n_items(self) -> int:
        return self.inner.n_items

    @property
    def calls(self) -> int:
        return self.inner.calls

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        ok_a, ok_b = self.feed.wait(a), self.feed.wait(b)
        if ok_a and ok_b:
            return self.inner.judge(a, b, items)
        self.forfeits.append((a, b))
        outcome = B_WINS if ok_b and not ok_a else A_WINS
        return [outcome] * len(items)
