"""Ranking helpers: Copeland (match wins) and Bradley-Terry (item-level strengths).

Both are pure functions of the judgments gathered, so any strategy can rank with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from hpo.tournament.base import MatchRecord


def copeland(matches: Iterable[MatchRecord], candidates: Sequence[str]) -> dict[str, float]:
    """Match wins per candidate (every candidate present, 0 if it never won)."""
    scores = dict.fromkeys(candidates, 0.0)
    for m in matches:
        scores[m.winner] += 1.0
    return scores


def item_win_rate(matches: Iterable[MatchRecord], candidates: Sequence[str]) -> dict[str, float]:
    """Share of valid judged items each candidate won (ties count half); 0.5 if none judged."""
    won = dict.fromkeys(candidates, 0.0)
    seen = dict.fromkeys(candidates, 0)
    for m in matches:
        valid = m.wins + m.losses + m.ties
        won[m.a] += m.wins + m.ties / 2
        won[m.b] += m.losses + m.ties / 2
        seen[m.a] += valid
        seen[m.b] += valid
    return {c: won[c] / seen[c] if seen[c] else 0.5 for c in candidates}


def bradley_terry(
    counts: Mapping[tuple[str, str], Sequence[float]],
    candidates: Sequence[str],
    *,
    prior: float = 1.0,
    iters: int = 300,
    tie_weight: float = 0.0,
) -> dict[str, float]:
    """Log-strengths by Bradley-Terry MM (Hunter 2004) over item-level outcomes.

    `counts[(a, b)]` = [a item wins, b item wins, ties, ...]. Ties count `tie_weight` of a win
    to each side: 0 (default) drops them, because under the strict both-orders policy most ties
    are judge noise (position bias, disagreement), and counting them as half wins compresses
    every win rate toward 1/2 so that beating weak opponents looks like beating strong ones.
    `prior` virtual games against a fixed average player keep strengths finite for candidates
    that won or lost everything, and pull rarely-judged candidates toward the average.
    """
    index = {c: k for k, c in enumerate(candidates)}
    n = len(candidates)
    wins = np.zeros((n, n))
    for (a, b), c in counts.items():
        i, j = index[a], index[b]
        wins[i, j] += c[0] + c[2] * tie_weight
        wins[j, i] += c[1] + c[2] * tie_weight
    games = wins + wins.T
    total_wins = wins.sum(axis=1) + prior / 2
    p = np.ones(n)
    for _ in range(iters):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1) + prior / (p + 1.0)
        new = total_wins / denom
        done = float(np.max(np.abs(new - p) / p)) < 1e-9
        p = new
        if done:
            break
    return {c: float(np.log(p[index[c]])) for c in candidates}


def rank_by(scores: Mapping[str, float], *tiebreaks: Mapping[str, float]) -> list[str]:
    """Candidates best-first by score, then by each tiebreak (higher first), then by id."""
    return sorted(scores, key=lambda c: (*(-s[c] for s in (scores, *tiebreaks)), c))
