"""Agreement with the truth and bias figures on a constructed verdict table with known values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpo.reporting.report import bias_lines, trust_lines, val_loss_lines
from hpo.run.record import judge_audit_metrics
from hpo.tournament.audit import (
    JudgedItem,
    Pick,
    agreement,
    audit,
    bias,
    build_table,
    truth_verdict,
    val_loss_pick,
)
from hpo.types import Example
from judge.store import VerdictStore
from judge.types import JudgeRequest, Judgment, Verdict

# (a, b, item, outcome, first, second, len_a, len_b, truth), all in a's view
TABLE = [
    JudgedItem("A", "B", 0, 1, 1, 1, 5, 3, 1),     # truth A, judge A: agree, separated right
    JudgedItem("A", "B", 1, 0, 1, -1, 4, 4, 1),    # truth A, orders conflict -> tie: missed
    JudgedItem("A", "B", 2, -1, -1, -1, 2, 6, 1),  # truth A, judge B: wrong direction
    JudgedItem("A", "B", 3, 0, 0, 0, 3, 3, 0),     # both right/wrong, judge tie: agree
    JudgedItem("A", "C", 0, 1, 1, 1, 5, 9, 0),     # truth tie, judge A: false separation
    JudgedItem("C", "A", 1, -1, -1, None, 7, 4, -1),  # second order invalid; truth A, judge A
]


def test_truth_verdict_is_right_vs_wrong() -> None:
    assert [truth_verdict(*p) for p in [(True, False), (False, True), (True, True), (False, False)]] \
        == [1, -1, 0, 0]


def test_agreement_and_decisive_recall_on_a_known_table() -> None:
    got = agreement(TABLE)
    assert got is not None
    assert (got.items, got.agree, got.decisive) == (6, 3, 4)  # items 0, 3 and the C-A one agree
    assert (got.separated, got.right_direction, got.wrong_direction) == (3, 2, 1)
    assert got.false_separations == 1
    assert got.rate == pytest.approx(0.5) and got.recall == pytest.approx(0.5)
    assert agreement([JudgedItem("A", "B", 0, 1, 1, 1, 1, 1, None)]) is None  # no reference


def test_bias_figures_on_a_known_table() -> None:
    got = bias(TABLE)
    # single-order verdicts (position-1 view): item0 +1,-1; item1 +1,+1; item2 -1,+1;
    # item3 0,0; A-C +1,-1; C-A -1 (second invalid) -> 11 verdicts, 9 decisive, 5 won by position 1
    assert got.single_verdicts == 11
    assert got.first_position_win_rate == pytest.approx(5 / 9)
    assert got.single_order_tie_rate == pytest.approx(2 / 11)
    assert got.order_conflict_rate == pytest.approx(1 / 5)  # of the 5 items with both orders
    assert got.tie_rate == pytest.approx(2 / 6)
    # decisive with unequal lengths: item0 (longer A won), item2 (longer B won),
    # A-C (shorter A won), C-A (shorter A won) -> 2 of 4
    assert got.decisive_unequal_length == 4 and got.longer_answer_win_rate == pytest.approx(0.5)
    assert got.mean_answer_length == {"A": pytest.approx((5 + 4 + 2 + 3) / 4),  # once per item,
                                      "B": pytest.approx((3 + 4 + 6 + 3) / 4),
                                      "C": pytest.approx((9 + 7) / 2)}


def test_audit_splits_final_and_baseline_matches() -> None:
    got = audit(TABLE, final=("B", "A", "final"), baseline=("A", "C"))
    assert got.final is not None and got.final.items == 4 and got.final_stage == "final"
    assert got.baseline is not None and (got.baseline.items, got.baseline.agree) == (2, 1)
    assert got.overall is not None and got.overall.items == 6
    data = got.to_dict()
    assert data["agreement"]["final"]["decisive_recall"] == pytest.approx(1 / 3)
    assert data["bias"]["order_conflict_rate"] == pytest.approx(0.2)
    none = audit(TABLE[:1], final=None, baseline=None)
    assert none.final is None and none.baseline is None


def test_table_reads_both_orders_from_the_verdict_store(tmp_path: Path) -> None:
    examples = [Example("Reverse the string.", "abc", "cba"), Example("Add.", "1 2", None)]
    answers = {"A": ["cba", "3"], "B": ["abc", "33"]}
    store = VerdictStore(tmp_path / "v.sqlite")
    ab = JudgeRequest("Reverse the string.", "abc", "cba", "abc")
    ba = JudgeRequest("Reverse the string.", "abc", "abc", "cba")
    # position bias: both orders name response 1, a conflict the strict policy scores a tie
    store.put_many("j", [ab, ba], [Judgment(Verdict.RESPONSE1), Judgment(Verdict.RESPONSE1)])
    table = build_table([("A", "B", 0, 0), ("B", "A", 1, 1)], answers, examples,
                        lambda reqs: store.get_many("j", reqs))
    store.close()
    assert table[0] == JudgedItem("A", "B", 0, 0, 1, -1, 3, 3, 1)  # A right, B wrong
    assert table[1] == JudgedItem("B", "A", 1, 1, None, None, 2, 1, None)  # not stored, no reference
    assert bias(table).order_conflict_rate == 1.0


def test_val_loss_pick_beside_the_judge_pick_with_truth() -> None:
    rows: list[dict[str, Any]] = [{"candidate_id": "x", "validation_loss": 1.2, "exact_match": 0.5},
            {"candidate_id": "y", "validation_loss": 0.9, "exact_match": 0.7},
            {"candidate_id": "z", "missing": "training failed"}]
    got = val_loss_pick(rows, judge_pick="x")
    assert got is not None and not got.agree
    assert got.val_loss == Pick("y", 0.9, 0.7, 1, 0.0)
    assert got.judge == Pick("x", 1.2, 0.5, 2, got.judge.regret) and got.judge.regret == pytest.approx(0.2)
    again = val_loss_pick(rows, judge_pick="y")
    assert again is not None and again.agree
    assert val_loss_pick([{"candidate_id": "x"}], judge_pick="x") is None  # no losses: no pick
    no_truth = val_loss_pick([{"candidate_id": "x", "validation_loss": 1.0}], "x")
    assert no_truth is not None and no_truth.judge == Pick("x", 1.0, None, None, None)


def test_report_sections_show_trust_bias_and_the_val_loss_pick() -> None:
    data = audit(TABLE, final=("A", "B", "final"), baseline=("A", "C")).to_dict()
    trust = "\n".join(trust_lines(data))
    assert "How far to trust the judge" in trust
    overall = next(line for line in trust.splitlines() if line.startswith("all judged items"))
    assert overall.split()[3:] == ["6", "0.50", "4", "3", "2", "1", "0.50"]
    assert "deciding match (final)" in trust and "winner vs baseline" in trust
    report = {"judge_audit": data, "winner": {"candidate_id": "A"}, "baseline": {"candidate_id": "C"}}
    biases = "\n".join(bias_lines(report))
    assert "first-position win rate 0.56" in biases and "order conflicts 0.20" in biases
    assert "longer answer won 0.50 of 4" in biases and "A 3.5, C 8.0; all 3: 3.5-8.0" in biases
    rows = [{"candidate_id": "A", "validation_loss": 1.5, "exact_match": 0.5},
            {"candidate_id": "B", "validation_loss": 0.5, "exact_match": 0.75}]
    pick = val_loss_pick(rows, "A")
    assert pick is not None
    _, title, tab = val_loss_lines(pick.to_dict())
    assert "they differ" in title and "TRUTH rank" in tab
    assert tab.splitlines()[2].split() == ["validation", "loss", "B", "0.500", "0.750", "1", "0"]
    assert tab.splitlines()[3].split() == ["judge", "A", "1.500", "0.500", "2", "0.250"]
    assert trust_lines(audit(TABLE[:0], None, None).to_dict()) == []  # no truth: no section


def test_mlflow_metrics_carry_trust_bias_and_the_val_loss_pick() -> None:
    pick = val_loss_pick([{"candidate_id": "A", "validation_loss": 0.5, "exact_match": 0.5}], "A")
    assert pick is not None
    report = {"judge_audit": audit(TABLE, ("A", "B", "final"), ("A", "C")).to_dict(),
              "val_loss_pick": pick.to_dict()}
    got = judge_audit_metrics(report)
    assert got["judge_truth.overall.decisive_recall"] == pytest.approx(0.5)
    assert got["judge_truth.baseline.agreement"] == pytest.approx(0.5)
    assert got["judge_bias.order_conflict_rate"] == pytest.approx(0.2)
    assert got["judge_bias.mean_answer_length.C"] == pytest.approx(8.0)
    assert got["val_loss_pick.validation_loss"] == 0.5 and got["val_loss_pick.agrees_with_judge"] == 1
    assert all(isinstance(v, float) for v in got.values())
