"""The judge stage's value: what the tournament decided and the evidence the later stages read.

It sits below the stages (they are independent of each other), so the judge stage returns it
and the decide stage reads it without either importing the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpo.tournament.audit import JudgeAudit
from hpo.tournament.base import MatchRecord, TournamentResult
from hpo.tournament.confidence import ConfidenceSet


@dataclass(frozen=True)
class TournamentOutcome:
    """The strategy's result, the winner's match against the baseline (None: no baseline, or it
    never produced answers), the matches a missing candidate forfeited, the winner's confidence
    set (None: the strategy judged nothing, e.g. val_loss), the judge audit, and the pairwise
    judge's counters as `report.json` shows them (`PairwiseJudge.stats_dict`)."""

    result: TournamentResult
    baseline: MatchRecord | None
    forfeits: frozenset[tuple[str, str]]
    confidence: ConfidenceSet | None
    audit: JudgeAudit
    judge_stats: Mapping[str, Any]

    @property
    def winner(self) -> str:
        return self.result.winner

    @property
    def ranking(self) -> list[str]:
        return self.result.ranking

    @property
    def matches(self) -> list[MatchRecord]:
        return self.result.matches

    @property
    def judge_calls(self) -> int:
        """Single-order judge calls the strategy requested (the baseline match not included)."""
        return self.result.calls

    def forfeited(self, match: MatchRecord) -> bool:
        """True when a missing candidate forfeited `match` (no judge call was made for it)."""
        return (match.a, match.b) in self.forfeits

    def played(self) -> list[MatchRecord]:
        """The strategy's matches that were judged, not forfeited."""
        return [m for m in self.matches if not self.forfeited(m)]
