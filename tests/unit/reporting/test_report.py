"""The terminal report says what its order means; truth columns only where truth exists."""

from __future__ import annotations

from typing import Any

from hpo.reporting.report import ranking_section, standings


def match(stage: str, a: str, b: str, winner: str, forfeit: bool = False) -> dict[str, Any]:
    return {"stage": stage, "a": a, "b": b, "winner": winner, "forfeit": forfeit}


def report(with_truth: bool) -> dict[str, Any]:
    cands = [{"candidate_id": c, "win_rounds": w, **({"exact_match": em} if with_truth else {})}
             for c, w, em in [("A", 3, 0.9), ("B", 2, 0.95), ("C", 1, 0.2), ("D", 0, 0.5)]]
    return {"strategy": "blocked", "winner": {"candidate_id": "A"}, "ranking": ["A", "B", "C", "D"],
            "candidates": cands, "truth": {"winner_exact_match": 0.9} if with_truth else None,
            "matches": [match("block 1", "A", "C", "A"), match("block 2", "B", "D", "B"),
                        match("final", "A", "B", "A")]}


def test_standings_say_how_far_each_got() -> None:
    assert standings(report(True)) == {"A": "winner (final)", "B": "final: lost",
                                       "C": "block 1: lost", "D": "block 2: lost"}


def test_ranking_with_truth_labels_it() -> None:
    title, note, table = ranking_section(report(True), top=10)
    assert "'blocked' strategy's ranking" in note and "TRUTH" in note
    header, _, *rows = table.splitlines()
    assert "reached (stage: result)" in header and "TRUTH exact match" in header and "TRUTH rank" in header
    assert rows[0].split()[:2] == ["1", "A"] and "winner (final)" in rows[0]
    b = rows[1].split()
    assert b[1] == "B" and b[-1] == "1"  # B's true rank is 1 even though the tournament put A first


def test_ranking_without_truth_has_no_truth_columns() -> None:
    _, note, table = ranking_section(report(False), top=2)
    assert "TRUTH" not in note + table and "exact" not in table
    assert len(table.splitlines()) == 2 + 2  # header, rule, top 2
