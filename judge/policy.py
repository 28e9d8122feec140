"""Combine the two single-order verdicts of one item into one outcome (the tie policy).

Every item is judged twice: (A as response1, B as response2) and swapped. Position bias
shows up as the two orders naming the same *position*; the policy decides what that means.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from judge.errors import ConfigError
from judge.types import Verdict

POLICIES = ("strict", "lenient")

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
    a, b = _AB_VIEW[v_ab], _BA_VIEW[v_ba]
    if a == b:
        return a
    if policy == "lenient" and 0 in (a, b):
        return a + b
    return 0


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
        if Verdict.INVALID not in (v_ab, v_ba) and _AB_VIEW[v_ab] != _BA_VIEW[v_ba]:
            self.conflicts += 1

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
