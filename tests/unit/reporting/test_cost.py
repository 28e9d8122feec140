"""The cost summary: per training wall time, GPU-hours and tokens from events.jsonl; the judge's
calls, store hits and verdicts/s; the run's split between training, generation and judging."""

from __future__ import annotations

import json
from pathlib import Path

from hpo.reporting.cost import cost_metrics, cost_section, cost_summary
from hpo.reporting.report import table


def _write(trial: Path, events: list[dict], finished: float | None = None) -> None:
    trial.mkdir(parents=True)
    (trial / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events) + '{"event": "st')
    if finished is not None:
        (trial / "done.json").write_text(json.dumps({"finished": finished}))


def _trials(tmp_path: Path) -> Path:
    trials = tmp_path / "trials"
    _write(trials / "a", [
        {"event": "epoch_start", "epoch": 1, "time": 1000.0},
        {"event": "step", "epoch": 1, "step": 10, "time": 1100.0},
        {"event": "epoch_end", "epoch": 1, "train_seconds": 900.0, "train_tokens": 5000, "time": 1900.0},
        {"event": "answers", "epoch": 1, "generation_seconds": 90.0, "generated_tokens": 700, "time": 2000.0},
        {"event": "epoch_start", "epoch": 2, "time": 2000.0},  # crashed, retried: counted once
        {"event": "epoch_start", "epoch": 2, "time": 2100.0},
        {"event": "epoch_end", "epoch": 2, "train_seconds": 1500.0, "train_tokens": 5000, "time": 3600.0},
        {"event": "answers", "epoch": 2, "generation_seconds": 90.0, "generated_tokens": 300, "time": 3700.0},
    ], finished=4600.0)
    _write(trials / "b", [{"event": "epoch_start", "epoch": 1, "time": 500.0},
                          {"event": "epoch_end", "epoch": 1, "train_seconds": 200.0, "train_tokens": 100,
                           "time": 700.0}])
    return trials


def test_per_training_wall_gpu_hours_and_tokens(tmp_path: Path) -> None:
    cost = cost_summary(_trials(tmp_path), 2.0, {"calls": 120, "cache_hits": 40, "judge_seconds": 60.0}, 1.0)
    a, b = cost["trainings"]
    assert a == {"training_id": "a", "wall_s": 3600.0, "gpus": 2.0, "gpu_hours": 2.0, "train_s": 2400.0,
                 "generation_s": 180.0, "train_tokens": 10000, "generated_tokens": 1000}
    assert b["wall_s"] == 200.0 and b["generated_tokens"] == 0  # no done.json: its last event
    assert cost["judge"] == {"calls": 120, "from_store": 40, "seconds": 60.0, "verdicts_per_s": 2.0,
                             "gpus": 1.0, "gpu_hours": round(60 / 3600, 6)}
    assert cost["seconds"] == {"training": 2600.0, "generation": 180.0, "judging": 60.0}
    assert cost["gpu_hours"]["training"] == round(2 * 2600 / 3600, 6)
    assert cost["gpu_hours"]["generation"] == 0.1 and cost["train_tokens"] == 10100


def test_cpu_run_has_zero_gpu_hours_and_no_rate_without_judge_time(tmp_path: Path) -> None:
    cost = cost_summary(_trials(tmp_path), 0.0, {"calls": 0, "cache_hits": 12}, 0.0)
    assert set(cost["gpu_hours"].values()) == {0.0} and cost["judge"]["verdicts_per_s"] is None
    metrics = cost_metrics(cost)
    assert metrics["cost/judge_from_store"] == 12 and "cost/judge_verdicts_per_s" not in metrics
    assert metrics["cost/seconds_training"] == 2600.0 and metrics["cost/generated_tokens"] == 1000


def test_cost_section_renders_each_training_and_the_split(tmp_path: Path) -> None:
    cost = cost_summary(_trials(tmp_path), 1.0, {"calls": 120, "cache_hits": 40, "judge_seconds": 60.0}, 0.0)
    text = "\n".join(cost_section(cost, table))
    assert "a         1:00:00  1     1.000" in text
    assert "judge: 120 calls, 40 verdicts served from the store, 0:01:00 in calls, 2.0 verdicts/s" in text
    assert "time: training 0:43:20, generation 0:03:00, judging 0:01:00" in text
