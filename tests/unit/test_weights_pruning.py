"""keep_weights: best: the blocked tournament deletes each eliminated candidate's weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hpo.config import ExperimentConfig
from hpo.tournament.base import A_WINS, B_WINS, ItemOutcome
from hpo.tournament.blocked import BlockedStrategy
from hpo.trial.weights import WeightsPruner, elimination_hook


class RankJudge:
    """The candidate with the larger number wins every item."""

    n_items, calls = 4, 0

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        return [A_WINS if int(a[1:]) > int(b[1:]) else B_WINS for _ in items]


def test_blocked_tournament_deletes_losers_weights_as_they_lose(tmp_path: Path) -> None:
    ids = [f"c{i}" for i in range(8)]
    for cid in [*ids, "base"]:
        (tmp_path / "weights" / cid).mkdir(parents=True)
    pruner = WeightsPruner(tmp_path, protect=["base"])
    seen: list[list[str]] = []

    def on_eliminated(cid: str) -> None:
        pruner.eliminated(cid)
        seen.append(sorted(p.name for p in (tmp_path / "weights").iterdir()))

    result = BlockedStrategy(blocks=2, on_eliminated=on_eliminated).run(ids, RankJudge(), seed=0)
    assert result.winner == "c7"
    assert sorted(pruner.deleted) == [c for c in ids if c != "c7"]  # each loser once
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["base", "c7"]
    assert [len(s) for s in seen] == list(range(8, 1, -1))  # one fewer after every match
    pruner.eliminated("c3")  # replayed on resume: no error, nothing more deleted
    assert len(pruner.deleted) == 7


def test_hook_only_for_keep_weights_best(tmp_path: Path) -> None:
    assert elimination_hook(ExperimentConfig.model_validate({}), tmp_path) is None
    best = ExperimentConfig.model_validate({"train": {"keep_weights": "best"}})
    assert callable(elimination_hook(best, tmp_path))
