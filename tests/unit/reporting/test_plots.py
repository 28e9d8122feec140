"""Plots produce real PNG files; the win matrix is right where played and NaN elsewhere."""

from __future__ import annotations

import math
from pathlib import Path

from hpo.reporting.plots import (
    mean_by,
    plot_win_matrix,
    plot_win_rounds,
    plot_win_rounds_multi,
    win_matrix,
)
from hpo.tournament.base import MatchRecord

PNG = b"\x89PNG\r\n\x1a\n"


def meta_and_scores() -> tuple[dict[str, dict], dict[str, float]]:
    meta: dict[str, dict] = {}
    scores: dict[str, float] = {}
    for lr in (1e-5, 1e-4, 1e-3):
        for epoch in (1, 2, 3):
            cid = f"adamw-lr{lr:.0e}-cosine-ep{epoch}"
            meta[cid] = {"lr": lr, "epoch": epoch, "optimizer": "adamw", "scheduler": "cosine"}
            scores[cid] = epoch + float(lr == 1e-4)
    return meta, scores


def record(a: str, b: str, wins: int, losses: int, ties: int = 0) -> MatchRecord:
    return MatchRecord(a, b, wins, losses, ties, 0, a if wins >= losses else b,
                       wins + losses + ties, 10, 2 * (wins + losses + ties))


def test_mean_by_groups_candidates_sharing_a_value() -> None:
    meta, scores = meta_and_scores()
    assert mean_by(scores, meta, "epoch") == {1.0: 4 / 3, 2.0: 7 / 3, 3.0: 10 / 3}
    assert mean_by(scores, meta, "lr")[1e-4] == 3.0
    meta["baseline"], scores["baseline"] = {"lr": None}, 9.0  # no lr/epoch: left out
    assert mean_by(scores, meta, "lr")[1e-4] == 3.0 and mean_by(scores, meta, "epoch")[3.0] == 10 / 3


def test_plot_win_rounds_writes_a_png(tmp_path: Path) -> None:
    meta, scores = meta_and_scores()
    out = plot_win_rounds(scores, meta, tmp_path / "fig" / "win_rounds.png", "tiny-llama")
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 10_000
    multi = plot_win_rounds_multi({"a": scores, "b": {k: -v for k, v in scores.items()}}, meta,
                                  tmp_path / "multi.png")
    assert multi.stat().st_size > 10_000


def test_win_matrix_values_and_png(tmp_path: Path) -> None:
    matches = [record("x", "y", 6, 2, 2), record("y", "x", 1, 1), record("y", "z", 3, 7)]
    ids, rate = win_matrix(matches)
    assert ids == ["x", "y", "z"]
    assert rate[0, 1] == (6 + 1 + 1) / 12  # both x-y matches pooled, ties count half
    assert math.isclose(rate[1, 0] + rate[0, 1], 1.0)
    assert math.isnan(rate[0, 2]) and math.isnan(rate[0, 0])
    out = plot_win_matrix(matches, tmp_path / "matrix.png")
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 5_000
