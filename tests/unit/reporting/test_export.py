"""`hpo report --format`: the leaderboard as CSV, JSON and Markdown; the table stays the report."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from hpo.cli import main
from hpo.reporting.export import COLUMNS, bt_scores, export, leaderboard


def _match(stage: str, a: str, b: str, wins: int, losses: int, ties: int = 0) -> dict[str, Any]:
    return {"stage": stage, "a": a, "b": b, "wins": wins, "losses": losses, "ties": ties, "invalid": 0,
            "winner": a if wins >= losses else b, "forfeit": False, "items_judged": 10,
            "items_total": 10, "calls": 20}


def _report() -> dict[str, Any]:
    cands = [{"candidate_id": c, "training_id": c[:-4], "epoch": 1, "lr": lr, "optimizer": "adamw",
              "scheduler": "cosine", "win_rounds": w, "exact_match": em, "train_loss": 1.0}
             for c, lr, w, em in [("A-ep1", 1e-3, 2, 0.9), ("B-ep1", 1e-4, 1, 0.95), ("C-ep1", 1e-5, 0, 0.2)]]
    cands.append({"candidate_id": "D-ep1", "training_id": "D", "epoch": 1, "lr": 1e-2,
                  "optimizer": "sgd", "scheduler": "linear", "win_rounds": 0, "missing": "training failed: x"})
    return {"format": "hpo.report/v1", "experiment": "tiny", "strategy": "blocked", "judge": "simulated",
            "policy": "strict", "winner": {"candidate_id": "A-ep1", "epoch": 1, "lr": 1e-3,
                                           "optimizer": "adamw", "scheduler": "cosine"},
            "ranking": ["A-ep1", "B-ep1", "C-ep1"], "candidates": cands, "missing": {"D-ep1": "x"},
            "matches": [_match("block 1", "B-ep1", "C-ep1", 8, 1, 1), _match("final", "A-ep1", "B-ep1", 6, 3, 1),
                        _match("baseline", "A-ep1", "base-ep1", 7, 2, 1)],
            "baseline": {"candidate_id": "base-ep1", "win": 7, "lose": 2, "tie": 1, "invalid": 0,
                         "winner_beats_baseline": True},
            "truth": {"winner_exact_match": 0.9, "winner_true_rank": 2, "n_ranked": 3,
                      "best_candidate": "B-ep1", "best_exact_match": 0.95, "regret": 0.05},
            "judge_calls": 60, "judge_calls_saved_by_early_decision": 0, "judge_stats": {}}


def test_leaderboard_rows_in_tournament_order_with_bt_baseline_and_truth() -> None:
    rows = leaderboard(_report())
    assert [r["candidate"] for r in rows] == ["A-ep1", "B-ep1", "C-ep1", "D-ep1"]
    a, b, c, d = rows
    assert a["bt_score"] > b["bt_score"] > c["bt_score"] and d["bt_score"] is None
    assert (a["baseline_win"], a["baseline_lose"], a["baseline_tie"]) == (7, 2, 1)
    assert b["baseline_win"] is None  # only the winner plays the baseline
    assert (a["truth_rank"], b["truth_rank"], c["truth_rank"]) == (2, 1, 3)
    assert d["missing"] == "training failed: x" and a["reached"].startswith("winner")
    assert "base-ep1" not in bt_scores(_report())  # the baseline match is not a candidate's


def test_bt_bounds_only_when_the_report_has_them() -> None:
    assert leaderboard(_report())[0]["bt_low"] is None
    rep = {**_report(), "bradley_terry": {"low": {"A-ep1": 0.1}, "high": {"A-ep1": 0.9}}}
    assert (leaderboard(rep)[0]["bt_low"], leaderboard(rep)[0]["bt_high"]) == (0.1, 0.9)


def test_csv_has_a_header_and_one_row_per_candidate() -> None:
    rows = list(csv.DictReader(io.StringIO(export(_report(), "csv"))))
    assert tuple(rows[0]) == COLUMNS and [r["candidate"] for r in rows] == ["A-ep1", "B-ep1", "C-ep1", "D-ep1"]
    assert rows[0]["baseline_win"] == "7" and rows[1]["baseline_win"] == "" and rows[3]["truth_exact_match"] == ""


def test_json_is_the_leaderboard_with_winner_baseline_and_truth() -> None:
    data = json.loads(export(_report(), "json"))
    assert data["format"] == "hpo.leaderboard/v1" and data["winner"]["candidate_id"] == "A-ep1"
    assert len(data["leaderboard"]) == 4 and data["truth"]["regret"] == 0.05


def test_markdown_has_winner_baseline_line_and_a_table() -> None:
    text = export(_report(), "markdown")
    lines = text.splitlines()
    assert lines[0] == "## hpo: tiny" and "**Winner:** `A-ep1`" in text
    assert "7 win / 2 lose / 1 tie: the winner beats it" in text
    table = [ln for ln in lines if ln.startswith("|")]
    assert len(table) == 2 + 4 and table[1].startswith("|---|")
    assert "bt_low" not in table[0]  # empty columns are left out
    assert table[2].split(" | ")[1] == "A-ep1"


def test_cli_format_flag(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "report.json").write_text(json.dumps(_report()))
    assert main(["report", str(tmp_path), "--format", "csv"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 4
    assert main(["report", str(tmp_path)]) == 0
    assert "== Winner" in capsys.readouterr().out


def test_parent_description_explains_the_run(tmp_path: Any) -> None:
    from hpo.tracking.describe import MAX_NOTE, TOP, description

    rep = {**_report(), "winner_confidence_set": {"winner": "A-ep1", "members": ["A-ep1", "B-ep1"],
                                                  "level": 0.95, "method": "bradley_terry"}}
    text = description(rep, tmp_path / "run1")
    assert "**Winner:** `A-ep1`" in text and "7 win / 2 lose / 1 tie" in text
    assert "not clearly best: `B-ep1` cannot be told apart from it" in text
    assert f"`hpo run -e {tmp_path / 'run1' / 'config.yaml'} --run-name run1-again`" in text
    many = {**rep, "ranking": [f"c{i}-ep1" for i in range(3 * TOP)],
            "candidates": [{"candidate_id": f"c{i}-ep1", "win_rounds": 0} for i in range(3 * TOP)]}
    big = description(many, tmp_path / "run1")
    assert len(big) <= MAX_NOTE and f"top {TOP} of {3 * TOP}" in big
    assert sum(line.startswith("| ") and line[2].isdigit() for line in big.splitlines()) == TOP
