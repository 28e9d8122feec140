"""Both tie policies over all 16 verdict pairs."""

from __future__ import annotations

import itertools

import pytest

from hpo.errors import ConfigError
from judge.policy import POLICIES, PositionStats, combine
from judge.types import Verdict

R1, R2, T, X = Verdict.RESPONSE1, Verdict.RESPONSE2, Verdict.TIE, Verdict.INVALID

# (v_ab, v_ba) -> outcome for A. In v_ba, "1" means B. Written out by hand.
STRICT = {
    (R1, R1): 0, (R1, R2): 1, (R1, T): 0, (R1, X): None,
    (R2, R1): -1, (R2, R2): 0, (R2, T): 0, (R2, X): None,
    (T, R1): 0, (T, R2): 0, (T, T): 0, (T, X): None,
    (X, R1): None, (X, R2): None, (X, T): None, (X, X): None,
}
LENIENT = {
    (R1, R1): 0, (R1, R2): 1, (R1, T): 1, (R1, X): None,
    (R2, R1): -1, (R2, R2): 0, (R2, T): -1, (R2, X): None,
    (T, R1): -1, (T, R2): 1, (T, T): 0, (T, X): None,
    (X, R1): None, (X, R2): None, (X, T): None, (X, X): None,
}


@pytest.mark.parametrize(("policy", "table"), [("strict", STRICT), ("lenient", LENIENT)])
def test_all_pairs(policy: str, table: dict) -> None:
    assert len(table) == 16
    for (v_ab, v_ba), want in table.items():
        assert combine(v_ab, v_ba, policy) == want, (policy, v_ab, v_ba)


def test_default_is_strict() -> None:
    assert all(combine(a, b) == STRICT[(a, b)] for a, b in STRICT)


def test_symmetry_swapping_candidates_negates_outcome() -> None:
    # Judging (B, A) swaps the roles of the two orders, so the outcome flips sign.
    for policy in POLICIES:
        for a, b in itertools.product(list(Verdict), repeat=2):
            out, swapped = combine(a, b, policy), combine(b, a, policy)
            assert (out is None and swapped is None) or out == -swapped  # type: ignore[operator]


def test_unknown_policy() -> None:
    with pytest.raises(ConfigError, match="strict, lenient"):
        combine(R1, R2, "majority")


def test_position_stats() -> None:
    stats = PositionStats()
    stats.add_pair(R1, R1)  # position bias: conflict
    stats.add_pair(R1, R2)  # consistent
    stats.add_pair(T, R2)  # conflict (tie vs winner)
    stats.add_pair(T, T)  # consistent
    stats.add_pair(X, R1)  # invalid: not a conflict
    assert stats.as_dict() == {"position1": 4, "position2": 2, "ties": 3, "invalid": 1, "conflicts": 2, "pairs": 5}
