"""Noise models, verdict tables and the PandaLM-measured judge parameters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from benchmarks.judge_params_pandalm import human_labels, measure
from hpo.testing.noise import (
    GPT35,
    PANDALM_7B,
    JudgeParams,
    correlated_table,
    fit_judge_params,
    independent_table,
    paper_like_qualities,
)
from hpo.testing.verdict_table import TableJudge, VerdictTable, build_table
from hpo.tournament.comparator import AnswerMatchJudge
from hpo.tournament.registry import make_strategy
from hpo.types import Example
from judge.types import ComparisonItem

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "pandalm"


def test_fit_recovers_known_parameters() -> None:
    truth = JudgeParams(accuracy=0.8, tie_rate=0.1, position_bias=0.05)
    named = (1 - 0.05) * (1 - 0.1)
    p = np.array([[0.05 + named * 0.8, named * 0.2, 0.95 * 0.1],
                  [0.05 + named * 0.2, named * 0.8, 0.95 * 0.1]])
    assert fit_judge_params(p * 100_000) == truth


@pytest.mark.skipif(not DATA.exists(), reason="PandaLM test set not present")
def test_published_constants_are_the_measured_ones() -> None:
    labels = human_labels(json.loads((DATA / "testset-v1.json").read_text()))
    for const, file, key in ((PANDALM_7B, "pandalm-7b-testset-v1.json", "pandalm_result"),
                             (GPT35, "gpt-3.5-turbo-testset-v1.json", "gpt_result")):
        rows = json.loads((DATA / file).read_text())
        assert measure(labels, {r["idx"]: r[key] for r in rows})[0] == const


def single_order_accuracy(table: VerdictTable) -> float:
    """Share of decided items (both orders agree) won by the higher-value side."""
    better = np.sign(table.value[:, None] - table.value[None, :])[:, :, None]
    decided = table.outcome != 0
    return float(np.mean((table.outcome == better)[decided & (better != 0)]))


@pytest.mark.parametrize("make", [independent_table, correlated_table])
def test_tables_are_antisymmetric_and_favour_the_better(make) -> None:  # type: ignore[no-untyped-def]
    q = paper_like_qualities(np.random.default_rng(0))
    table = make(q, 40, PANDALM_7B, seed=0)
    assert np.array_equal(table.outcome, -np.transpose(table.outcome, (1, 0, 2)))
    assert table.true_best == f"c{int(np.argmax(q)):02d}"
    assert 0.6 < single_order_accuracy(table) < 1.0


def test_correlated_errors_repeat_per_answer() -> None:
    """The best candidate's bad items: in the correlated model a lost item tends to be lost
    against many opponents (fixed answer), in the independent one it is not."""
    q = paper_like_qualities(np.random.default_rng(1))
    best = int(np.argmax(q))
    spread = {}
    for make in (independent_table, correlated_table):
        losses = (make(q, 60, PANDALM_7B, seed=1).outcome[best] == -1).mean(axis=0)
        spread[make.__name__] = float(losses.std())
    assert spread["correlated_table"] > 1.5 * spread["independent_table"]


def test_table_judge_counts_first_asks_and_round_trips(tmp_path: Path) -> None:
    q = np.array([0.0, 1.0, 2.0])
    table = independent_table(q, 10, PANDALM_7B, seed=3)
    judge = TableJudge(table)
    first = judge.judge("c00", "c02", [0, 1, 2])
    assert judge.calls == 6
    assert judge.judge("c02", "c00", [2, 1, 0]) == [-v for v in reversed(first)]
    assert judge.calls == 6
    table.save(tmp_path / "t.npz")
    again = VerdictTable.load(tmp_path / "t.npz")
    assert again.ids == table.ids and np.array_equal(again.outcome, table.outcome)


class LongerWins:
    """A stand-in pairwise judge: the longer answer wins, equal lengths tie (2 calls/item)."""

    def __init__(self) -> None:
        self.calls = 0

    def compare(self, items: Sequence[ComparisonItem], pair: object = None) -> list[int | None]:
        self.calls += 2 * len(items)
        return [(len(i.answer_a) > len(i.answer_b)) - (len(i.answer_a) < len(i.answer_b))
                for i in items]


def test_replay_table_from_stored_answers(tmp_path: Path) -> None:
    """build_table over answers (the real-run path, with a stand-in judge), cached, replayed."""
    val = [Example(id=str(i), instruction=f"q{i}", input="", output="") for i in range(6)]
    answers = {f"m{k}": ["x" * (k + (i % 2)) for i in range(6)] for k in range(5)}
    pairwise = LongerWins()
    table = build_table(AnswerMatchJudge(answers, val, pairwise), sorted(answers))
    assert pairwise.calls == 10 * 6 * 2 and table.true_best == "m4"
    table.save(tmp_path / "replay.npz")
    replayed = VerdictTable.load(tmp_path / "replay.npz")
    judge = TableJudge(replayed)
    result = make_strategy("blocked").run(replayed.ids, judge, seed=0)
    assert result.winner == "m4" and judge.calls == result.calls > 0
