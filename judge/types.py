"""Value types and the backend Protocol shared by every judge backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable


class Verdict(str, Enum):
    """A single-order verdict, in PandaLM's vocabulary. INVALID is never turned into a tie."""

    RESPONSE1 = "1"
    RESPONSE2 = "2"
    TIE = "Tie"
    INVALID = "invalid"


@dataclass(frozen=True)
class JudgeRequest:
    """One single-order comparison: is response1 or response2 the better answer?"""

    instruction: str
    input: str
    response1: str
    response2: str


# First-token probabilities of "1", "2" and the first token of "Tie" (logprobs mode).
Probs = tuple[float, float, float]


@dataclass(frozen=True)
class Judgment:
    """The judge's answer to one JudgeRequest, with its raw text for audit.

    `probs` holds P("1"), P("2"), P(first token of "Tie") when the backend read them
    (logprobs mode), else None. `truncated` names the response positions ("1", "2", "12")
    that were cut to fit the judge's context, "" when the prompt fit as given.
    """

    verdict: Verdict
    raw: str = ""
    reason: str = ""
    reference: str = ""
    probs: Probs | None = None
    truncated: str = ""


@runtime_checkable
class JudgeBackend(Protocol):
    """Anything that can judge a batch of single-order requests.

    `identity` names the judge (backend, model, mode) so the verdict store never mixes the
    judgments of two different judges. It must not contain secrets or URLs' credentials.
    """

    identity: str

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ComparisonItem:
    """Two candidates' answers to one instruction; judged in both orders by PairwiseJudge."""

    instruction: str
    input: str
    answer_a: str
    answer_b: str
