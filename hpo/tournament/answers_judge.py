"""MatchJudge over stored answers: turns (a, b, items) into ComparisonItems for a pairwise judge.

The tournament only knows candidate ids and item indices; this adapter looks up each
candidate's answer to each validation example and delegates to a pairwise judge (in practice
`judge.pairwise.PairwiseJudge`), which judges both orders, applies the tie policy and dedupes
through the verdict store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from hpo.errors import ConfigError
from hpo.tournament.base import ItemOutcome
from hpo.types import Example
from judge.types import ComparisonItem


class Pairwise(Protocol):
    """What AnswerMatchJudge needs from a pairwise judge (PairwiseJudge has this shape)."""

    calls: int

    def compare(self, items: Sequence[ComparisonItem], pair: tuple[str, str] | None = None) -> list[int | None]: ...


class AnswerMatchJudge:
    """MatchJudge backed by `answers[candidate_id][i]` for validation example i."""

    def __init__(self, answers: Mapping[str, Sequence[str]], examples: Sequence[Example],
                 pairwise: Pairwise) -> None:
        self.answers, self.examples, self.pairwise = answers, list(examples), pairwise
        self.n_items = len(self.examples)

    @property
    def calls(self) -> int:
        return self.pairwise.calls

    def answers_of(self, cid: str) -> Sequence[str]:
        """One candidate's answers, looked up lazily (a live mapping may wait for the file);
        a missing candidate raises KeyError, a wrong answer count ConfigError."""
        answers = self.answers[cid]
        if len(answers) != self.n_items:
            raise ConfigError(f"candidate '{cid}' has {len(answers)} answers, "
                              f"expected {self.n_items} (one per validation example)")
        return answers

    def items_for(self, a: str, b: str, items: Sequence[int]) -> list[ComparisonItem]:
        """The ComparisonItems for `a` (as answer_a) against `b` on the given item indices."""
        ans_a, ans_b = self.answers_of(a), self.answers_of(b)
        return [ComparisonItem(self.examples[i].instruction, self.examples[i].input,
                               ans_a[i], ans_b[i]) for i in items]

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        if not items:
            return []
        outcomes = self.pairwise.compare(self.items_for(a, b, items), pair=(a, b))
        if len(outcomes) != len(items):
            raise RuntimeError(f"pairwise judge returned {len(outcomes)} outcomes for {len(items)} items")
        return list(outcomes)
