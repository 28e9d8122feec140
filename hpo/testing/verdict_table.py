"""Dense verdict tables: every pair's both-orders outcome on every item, and a judge that reads one.

A `VerdictTable` holds `outcome[a, b, i]` in {1, -1, 0} from candidate a's view (1 = a's answer
won item i in both orders, -1 = lost, 0 = tie or conflict, the strict policy); it is
antisymmetric (`outcome[b, a] == -outcome[a, b]`). Tables come from a noise model (the
simulators in `hpo.testing.noise`) or from a real run (`build_table`: a round robin over
stored answers judged once, then cached as `.npz`), so a strategy can be replayed on real judge
behaviour any number of times at no judge cost.

`TableJudge` is a `MatchJudge` over a table: asking for a (pair, item) the first time costs 2
calls (both orders); asking again is free, like the verdict store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpo.tournament.base import ItemOutcome, MatchJudge

FORMAT_VERSION = 1


@dataclass
class VerdictTable:
    """`outcome[a, b, i]` (int8) for candidates `ids`; `value` = each candidate's true value
    (latent quality in a simulation, full-table Bradley-Terry strength in a replay)."""

    ids: list[str]
    outcome: np.ndarray
    value: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.outcome.ndim != 3 or self.outcome.shape[:2] != (n, n) or self.value.shape != (n,):
            raise ValueError(f"table shapes {self.outcome.shape}, {self.value.shape} do not fit {n} ids")

    @property
    def n_items(self) -> int:
        return int(self.outcome.shape[2])

    @property
    def true_best(self) -> str:
        return self.ids[int(np.argmax(self.value))]

    def regret(self, winner: str) -> float:
        """Value lost by picking `winner` instead of the true best."""
        return float(self.value.max() - self.value[self.ids.index(winner)])

    def save(self, path: str | Path) -> None:
        """Cache as a compressed `.npz` (format version, ids, outcomes, values)."""
        np.savez_compressed(path, version=FORMAT_VERSION, ids=np.array(self.ids),
                            outcome=self.outcome.astype(np.int8), value=self.value)

    @classmethod
    def load(cls, path: str | Path) -> VerdictTable:
        with np.load(path, allow_pickle=False) as f:
            if int(f["version"]) != FORMAT_VERSION:
                raise ValueError(f"{path}: verdict table format {int(f['version'])}, "
                                 f"expected {FORMAT_VERSION}")
            return cls([str(x) for x in f["ids"]], f["outcome"].astype(np.int8), f["value"])


def antisymmetric(upper: np.ndarray) -> np.ndarray:
    """Full (N, N, n) table from the a < b entries of `upper` (the rest is ignored)."""
    n = upper.shape[0]
    mask = np.triu(np.ones((n, n), dtype=bool), 1)[:, :, None]
    top = np.where(mask, upper, 0).astype(np.int8)
    return top - np.transpose(top, (1, 0, 2))


class TableJudge:
    """MatchJudge reading a VerdictTable; 2 calls per (unordered pair, item) asked first."""

    def __init__(self, table: VerdictTable) -> None:
        self.table, self.n_items, self.calls = table, table.n_items, 0
        self.index = {cid: k for k, cid in enumerate(table.ids)}
        n = len(table.ids)
        self.asked = np.zeros((n, n, table.n_items), dtype=bool)

    @property
    def ids(self) -> list[str]:
        return self.table.ids

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        i, j = self.index[a], self.index[b]
        lo, hi = min(i, j), max(i, j)
        idx = np.fromiter(items, dtype=np.intp)
        fresh = ~self.asked[lo, hi, idx]
        self.calls += 2 * int(np.unique(idx[fresh]).size)
        self.asked[lo, hi, idx] = True
        return [int(v) for v in self.table.outcome[i, j, idx]]


def build_table(judge: MatchJudge, ids: Sequence[str], value: Sequence[float] | None = None,
                *, progress: bool = False) -> VerdictTable:
    """Judge every pair of `ids` on every item once through `judge` (e.g. an AnswerMatchJudge
    over a run's stored answers), for replays. An invalid verdict is stored as a tie.
    `value` defaults to Bradley-Terry strengths over the whole table."""
    n, m = len(ids), judge.n_items
    upper = np.zeros((n, n, m), dtype=np.int8)
    for i in range(n):
        for j in range(i + 1, n):
            got = judge.judge(ids[i], ids[j], range(m))
            upper[i, j] = [0 if v is None else v for v in got]
        if progress:
            print(f"  verdict table: row {i + 1}/{n}", flush=True)
    outcome = antisymmetric(upper)
    vals = np.asarray(value, dtype=float) if value is not None else table_strength(outcome)
    return VerdictTable(list(ids), outcome, vals)


def table_strength(outcome: np.ndarray) -> np.ndarray:
    """Bradley-Terry log-strengths over every item of a dense table (ties dropped)."""
    from hpo.tournament.ranking import bradley_terry

    n = outcome.shape[0]
    names = [str(k) for k in range(n)]
    wins = (outcome == 1).sum(axis=2)
    counts = {(names[i], names[j]): (float(wins[i, j]), float(wins[j, i]), 0.0)
              for i in range(n) for j in range(i + 1, n)}
    strength = bradley_terry(counts, names)
    return np.array([strength[k] for k in names])
