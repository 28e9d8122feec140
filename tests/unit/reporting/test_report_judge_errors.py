"""The report shows judge errors per candidate (invalid items, truncated answers) when there are any."""

from __future__ import annotations

from typing import Any

from hpo.reporting.report import render


def report(per_candidate: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {"winner": {"candidate_id": "c1", "optimizer": "adamw", "lr": 1e-5, "scheduler": "cosine", "epoch": 1},
            "strategy": "blocked", "judge": "vllm", "policy": "soft", "truth": None, "baseline": None,
            "candidates": [], "ranking": ["c1", "c2"], "matches": [], "judge_calls": 4,
            "judge_calls_saved_by_early_decision": 0, "missing": {},
            "judge_stats": {"per_candidate": per_candidate}}


def test_errors_table_lists_only_candidates_with_errors() -> None:
    text = render(report({"c1": {"invalid": 0, "truncated": 0}, "c2": {"invalid": 3, "truncated": 5}}))
    assert "== Judge errors per candidate" in text
    row = [line for line in text.splitlines() if line.startswith("c2 ")]
    assert row and row[0].split() == ["c2", "3", "5"]
    assert not [line for line in text.splitlines() if line.startswith("c1 ") and "0" in line.split()[1:]]


def test_no_errors_no_table() -> None:
    assert "Judge errors" not in render(report({"c1": {"invalid": 0, "truncated": 0}}))
