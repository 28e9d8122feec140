"""A simulated MatchJudge with known latent qualities, for tests and the strategy benchmark.

Model, per pair (a, b) and validation item i:

1. Which answer is really better on item i: `a` with probability
   sigmoid((q_a - q_b) / temperature) (Bradley-Terry item noise: a better model still loses
   some items). With `temperature=0` the better candidate is better on every item.
2. Each of the two single-order judgments: with probability `position_bias` the judge says
   "response 1" whatever the answers; otherwise it is right with probability `accuracy`.
   With probability `invalid_rate` an order is invalid.
3. The two orders are combined with the strict policy: agree -> that side, disagree -> tie,
   any invalid order -> invalid (None).

Draws are deterministic per (seed, pair, item), so asking again gives the same answer, like a
verdict store; only the first ask of an item for a pair costs 2 calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpo.tournament.base import ItemOutcome


class SimulatedJudge:
    """MatchJudge over candidates `ids` (default c00, c01, ...) with latent `qualities`."""

    def __init__(
        self,
        qualities: Sequence[float],
        n_items: int,
        accuracy: float = 0.9,
        position_bias: float = 0.0,
        seed: int = 0,
        *,
        temperature: float = 1.0,
        invalid_rate: float = 0.0,
        ids: Sequence[str] | None = None,
    ) -> None:
        self.ids = list(ids) if ids is not None else [f"c{i:02d}" for i in range(len(qualities))]
        if len(self.ids) != len(qualities):
            raise ValueError("ids and qualities differ in length")
        self.quality = dict(zip(self.ids, map(float, qualities), strict=True))
        self.index = {cid: k for k, cid in enumerate(self.ids)}
        self.n_items, self.accuracy, self.position_bias = n_items, accuracy, position_bias
        self.temperature, self.invalid_rate, self.seed = temperature, invalid_rate, seed
        self.calls = 0
        self._pairs: dict[tuple[str, str], tuple[list[ItemOutcome], list[ItemOutcome], bytearray]] = {}

    @property
    def true_best(self) -> str:
        return max(self.ids, key=lambda cid: self.quality[cid])

    def p_item(self, a: str, b: str) -> float:
        """Probability that `a`'s answer is really better than `b`'s on one item."""
        gap = self.quality[a] - self.quality[b]
        if self.temperature == 0:
            return 1.0 if gap > 0 else 0.0 if gap < 0 else 0.5
        return float(1.0 / (1.0 + np.exp(-gap / self.temperature)))

    def _order_verdicts(self, rng: np.random.Generator, truth_first: np.ndarray) -> np.ndarray:
        """One single-order verdict per item: True = response 1 preferred."""
        u = rng.random((2, self.n_items))
        correct = np.where(u[0] < self.accuracy, truth_first, ~truth_first)
        return np.where(u[1] < self.position_bias, True, correct)

    def _outcomes(self, lo: str, hi: str) -> tuple[list[ItemOutcome], list[ItemOutcome], bytearray]:
        """Per item outcomes from lo's view and from hi's view, and which items were asked."""
        if (lo, hi) not in self._pairs:
            rng = np.random.default_rng((self.seed, self.index[lo], self.index[hi]))
            lo_better = rng.random(self.n_items) < self.p_item(lo, hi)
            first = self._order_verdicts(rng, lo_better)  # lo shown as response 1
            second = self._order_verdicts(rng, ~lo_better)  # hi shown as response 1
            outcome = np.where(first & ~second, 1, np.where(~first & second, -1, 0))
            invalid: np.ndarray = np.any(rng.random((2, self.n_items)) < self.invalid_rate, axis=0)
            view: list[ItemOutcome] = [None if bad else int(v) for v, bad in zip(outcome.tolist(), invalid.tolist(), strict=True)]
            flipped = [None if v is None else -v for v in view]
            self._pairs[(lo, hi)] = (view, flipped, bytearray(self.n_items))
        return self._pairs[(lo, hi)]

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        lo, hi = (a, b) if a <= b else (b, a)
        view, flipped, asked = self._outcomes(lo, hi)
        fresh = {i for i in items if not asked[i]}
        for i in fresh:
            asked[i] = 1
        self.calls += 2 * len(fresh)
        source = view if a == lo else flipped
        return [source[i] for i in items]
