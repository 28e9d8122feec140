"""Combine the two single-order verdicts of one item into one outcome (the tie policy).

Every item is judged twice: (A as response1, B as response2) and swapped. Position bias
shows up as the two orders naming the same *position*; the policy decides what that means.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from judge.errors import ConfigError
from judge.parse import verdict_from_probs
from judge.types import Judgment, Probs, Verdict

POLICIES = ("strict", "lenient", "soft")

# A's view of each order's verdict: +1 A better, -1 B better, 0 tie.
_AB_VIEW = {Verdict.RESPONSE1: 1, Verdict.RESPONSE2: -1, Verdict.TIE: 0}
_BA_VIEW = {Verdict.RESPONSE1: -1, Verdict.RESPONSE2: 1, Verdict.TIE: 0}


def validate_policy(policy: str) -> str:
    """Return `policy` if known, else raise ConfigError naming the valid ones."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown tie policy '{policy}'; valid: {', '.join(POLICIES)}")
    return policy


def combine(v_ab: Verdict, v_ba: Verdict, policy: str = "strict") -> int | None:
    """+1 A better, -1 B better, 0 tie, None if either order is invalid.

    strict (the paper's rule): a winner only if both orders name the same candidate.
    lenient (PandaLM maintainers): orders that agree keep their result; one tie defers to the
    other order's winner; two orders naming the same position cancel to a tie.
    """
    validate_policy(policy)
    if Verdict.INVALID in (v_ab, v_ba):
        return None
    if policy == "soft":
        return combine_judgments(Judgment(v_ab), Judgment(v_ba), policy)
    a, b = _AB_VIEW[v_ab], _BA_VIEW[v_ba]
    if a == b:
        return a
    if policy == "lenient" and 0 in (a, b):
        return a + b
    return 0


def _shares(judgment: Judgment) -> Probs:
    """(q1, q2, qTie) of one order: its probabilities renormalised, or one-hot on its verdict."""
    if judgment.probs is not None and sum(judgment.probs) > 0:
        total = sum(judgment.probs)
        return (judgment.probs[0] / total, judgment.probs[1] / total, judgment.probs[2] / total)
    return {Verdict.RESPONSE1: (1.0, 0.0, 0.0), Verdict.RESPONSE2: (0.0, 1.0, 0.0)}.get(
        judgment.verdict, (0.0, 0.0, 1.0))


def soft_probs(j_ab: Judgment, j_ba: Judgment) -> Probs:
    """Balanced position calibration (FairEval): A's view averaged over both orders.

    (P(A better), P(B better), P(tie)) = the mean of order AB's (q1, q2, qTie) and order BA's
    (q2, q1, qTie), so a constant preference for one position cancels out."""
    ab, ba = _shares(j_ab), _shares(j_ba)
    return ((ab[0] + ba[1]) / 2, (ab[1] + ba[0]) / 2, (ab[2] + ba[2]) / 2)


def combine_judgments(j_ab: Judgment, j_ba: Judgment, policy: str = "strict", tie_band: float = 0.0) -> int | None:
    """`combine` on judgments; the `soft` policy decides from the averaged probabilities.

    soft: the verdict rule of judge.parse.verdict_from_probs (tie band included) applied to
    `soft_probs`. Orders without probabilities count as one-hot, so soft over two plain
    verdicts is exactly strict."""
    validate_policy(policy)
    if Verdict.INVALID in (j_ab.verdict, j_ba.verdict):
        return None
    if policy != "soft":
        return combine(j_ab.verdict, j_ba.verdict, policy)
    verdict = verdict_from_probs(soft_probs(j_ab, j_ba), top=0.0, tie_band=tie_band)
    return {Verdict.RESPONSE1: 1, Verdict.RESPONSE2: -1}.get(verdict, 0)


@dataclass
class PositionStats:
    """Counts that expose position bias: single-order verdicts by position, and conflicts.

    `conflicts` counts items whose two valid orders disagree about the candidate (the
    signature of a position-biased judge: 1 and 1, or 2 and 2, or a tie against a winner).
    """

    position1: int = 0
    position2: int = 0
    ties: int = 0
    invalid: int = 0
    conflicts: int = 0
    pairs: int = 0

    def add_verdict(self, verdict: Verdict) -> None:
        if verdict is Verdict.RESPONSE1:
            self.position1 += 1
        elif verdict is Verdict.RESPONSE2:
            self.position2 += 1
        elif verdict is Verdict.TIE:
            self.ties += 1
        else:
            self.invalid += 1

    def add_pair(self, v_ab: Verdict, v_ba: Verdict) -> None:
        """Record both orders of one item."""
        self.add_verdict(v_ab)
        self.add_verdict(v_ba)
        self.pairs += 1
        if Verdict.INVALID not in (v_ab, v_ba) and _AB_VIEW[v_ab] != _BA_VIEW[v_ba]:
            self.conflicts += 1

    def conflict_rate(self) -> float:
        """Share of judged items whose two orders disagree; many means the two are close."""
        return self.conflicts / self.pairs if self.pairs else 0.0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
