"""A confidence set for the winner: which candidates the judgments cannot tell apart from it.

Many close pairs end in ties, so naming one winner overstates what the judge showed. We
bootstrap over validation items: each replicate draws the n validation items with
replacement, re-weights every item judgment gathered in the tournament by how often its item
was drawn, and re-scores all candidates on the matches played (Bradley-Terry over item
outcomes, ties dropped as in `ranking.bradley_terry`, or Copeland: pairs won on items).
A candidate c is in the set when, in at least `1 - level` of the replicates, c scores at least
as high as the winner: at level 0.95 the data do not show the winner better than c (a
one-sided test per candidate, not corrected for multiple comparisons, so the set errs on the
side of being large). The winner is always a member.

`ItemLog` wraps the tournament's MatchJudge and keeps every item outcome the strategy saw,
whatever the strategy; that is what the bootstrap resamples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hpo.tournament.base import ItemOutcome, MatchJudge


class ItemLog:
    """MatchJudge wrapper recording each (unordered pair, item) outcome once, lo's view."""

    def __init__(self, judge: MatchJudge) -> None:
        self.inner, self.n_items = judge, judge.n_items
        self.seen: dict[tuple[str, str, int], int] = {}

    @property
    def calls(self) -> int:
        return self.inner.calls

    def __getattr__(self, name: str) -> Any:  # forfeits, ids, ...: the wrapped judge's
        return getattr(self.inner, name)

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        out = self.inner.judge(a, b, items)
        for i, v in zip(items, out, strict=True):
            if v is not None:
                key, sign = ((a, b, i), 1) if a <= b else ((b, a, i), -1)
                self.seen[key] = sign * v
        return out

    def observations(self) -> list[tuple[str, str, int, int]]:
        return [(a, b, i, v) for (a, b, i), v in self.seen.items()]


@dataclass
class ConfidenceSet:
    winner: str
    members: list[str]  # the winner first, then by how often they matched or beat it
    level: float
    method: str
    replicates: int
    not_worse_share: dict[str, float]  # per member: share of replicates scoring >= the winner

    @property
    def clear(self) -> bool:
        """True when the winner stands alone."""
        return len(self.members) == 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def winner_confidence_set(observations: Sequence[tuple[str, str, int, int]],
                          candidates: Sequence[str], winner: str, n_items: int, *,
                          level: float = 0.95, method: str = "bradley_terry",
                          replicates: int = 400, seed: int = 0) -> ConfidenceSet:
    """Bootstrap confidence set (see module docstring) from item outcomes (a, b, item, outcome
    from a's view: 1, -1 or 0)."""
    if method not in ("bradley_terry", "copeland"):
        raise ValueError(f"method must be 'bradley_terry' or 'copeland', got {method!r}")
    index = {c: k for k, c in enumerate(candidates)}
    obs = np.array([(index[a], index[b], i, v) for a, b, i, v in observations
                    if a in index and b in index], dtype=np.int64)  # e.g. a baseline match
    obs = obs.reshape(-1, 4)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=replicates)
    wins = pair_wins(obs, draws[:, obs[:, 2]], len(candidates))  # (R, K, K)
    scores = bt_scores(wins) if method == "bradley_terry" else copeland_scores(wins)
    w = index[winner]
    share = (scores >= scores[:, [w]]).mean(axis=0)
    keep = [k for k in np.argsort(-share, kind="stable") if k == w or share[k] >= 1 - level]
    keep = [w] + [k for k in keep if k != w]
    return ConfidenceSet(winner, [candidates[k] for k in keep], level, method, replicates,
                         {candidates[k]: float(share[k]) for k in keep})


def pair_wins(obs: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """wins[r, i, j] = replicate r's weighted item wins of i over j (ties dropped)."""
    out = np.zeros((weight.shape[0], k * k))
    if len(obs):
        a, b, v = obs[:, 0], obs[:, 1], obs[:, 3]
        for cells, mask in ((a * k + b, v == 1), (b * k + a, v == -1)):
            for r in range(weight.shape[0]):
                out[r] += np.bincount(cells[mask], weights=weight[r, mask], minlength=k * k)
    return out.reshape(-1, k, k)


def bt_scores(wins: np.ndarray, prior: float = 1.0, iters: int = 200) -> np.ndarray:
    """Bradley-Terry log-strengths per replicate, the MM fit of `ranking.bradley_terry`."""
    games = wins + np.transpose(wins, (0, 2, 1))
    total = wins.sum(axis=2) + prior / 2
    p = np.ones(wins.shape[:2])
    for _ in range(iters):
        denom = (games / (p[:, :, None] + p[:, None, :])).sum(axis=2) + prior / (p + 1.0)
        new = total / denom
        done = float(np.max(np.abs(new - p) / p)) < 1e-9
        p = new
        if done:
            break
    return np.log(p)


def copeland_scores(wins: np.ndarray) -> np.ndarray:
    """Pairs won on items per replicate (more items won than lost), plus half a point per
    item-level win rate as the tiebreak (always < 1)."""
    beats = (wins > np.transpose(wins, (0, 2, 1))).sum(axis=2).astype(float)
    games = wins.sum(axis=2) + wins.sum(axis=1)
    rate = np.divide(wins.sum(axis=2), games, out=np.full(games.shape, 0.5), where=games > 0)
    return beats + 0.5 * rate
