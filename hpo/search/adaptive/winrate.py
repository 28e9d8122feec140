"""Win rate of a candidate against an anchor, from pairwise outcomes (+1 / -1 / 0 / None)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def winrate(outcomes: Sequence[int | None]) -> dict[str, Any]:
    """(wins + 0.5 * ties) / n over the valid items, with the raw counts.

    `outcomes` are PairwiseJudge results with the candidate as A: +1 the candidate's answer
    won, -1 the anchor's won, 0 a tie, None invalid (excluded from n). With no valid item
    the win rate is 0.5 (no evidence either way), so a searcher is not misled by a zero.
    """
    wins = sum(1 for o in outcomes if o is not None and o > 0)
    losses = sum(1 for o in outcomes if o is not None and o < 0)
    ties = sum(1 for o in outcomes if o == 0)
    invalid = sum(1 for o in outcomes if o is None)
    n = wins + losses + ties
    rate = (wins + 0.5 * ties) / n if n else 0.5
    return {"judge_winrate": rate, "wins": wins, "losses": losses, "ties": ties,
            "invalid": invalid, "n": n}
