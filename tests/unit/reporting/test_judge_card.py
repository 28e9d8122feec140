"""The report names the judge that ran and, for a trained one, its measured held-out figures."""

from __future__ import annotations

import json
from pathlib import Path

from hpo.config.schema import JudgeConfig
from hpo.reporting.card import describe, judge_summary


def test_reference_is_named_an_oracle() -> None:
    line = describe(judge_summary(JudgeConfig(backend="reference")))
    assert line.startswith("judge: reference") and "oracle" in line and "gold answer" in line


def test_trained_judge_reports_its_heldout_figures(tmp_path: Path) -> None:
    card = {"recipe": "tiny", "parameters": 864128,
            "heldout_eval": {"n": 600, "accuracy": 0.61, "swap_consistency": 0.8, "invalid_rate": 0.0}}
    (tmp_path / "judge_card.json").write_text(json.dumps(card))
    summary = judge_summary(JudgeConfig(backend="hf", model=str(tmp_path)))
    assert summary["heldout_accuracy"] == 0.61
    line = describe(summary)
    assert "600 held-out pairs: accuracy 0.610, swap consistency 0.800, invalid 0.000" in line


def test_judge_without_card_says_not_measured(tmp_path: Path) -> None:
    line = describe(judge_summary(JudgeConfig(backend="vllm", model=str(tmp_path))))
    assert "not measured" in line
