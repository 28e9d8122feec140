"""Step-level progress: the cadence, the events a trial writes, the driver's tail into MLflow
metrics and the terminal's per-trial lines."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.reporting.progress import Progress
from hpo.run.steps import EventTail, step_metrics
from hpo.trial.dist import Dist
from hpo.trial.steplog import GenerationLog, StepLog, due


class TwoRanks(Dist):
    """Rank 0 of a world of 2 whose peer holds the same shares (sum = twice this rank's)."""

    def sum(self, values: list[float]) -> list[float]:
        return [2 * v for v in values]


def _events(trial_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (trial_dir / "events.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("n_steps", "every", "expected"), [
    (25, 10, [10, 20, 25]), (20, 10, [10, 20]), (3, 10, [3]), (4, 1, [1, 2, 3, 4])])
def test_cadence_every_n_steps_and_the_epochs_last(n_steps: int, every: int, expected: list[int]) -> None:
    assert [i + 1 for i in range(n_steps) if due(i, n_steps, every)] == expected


def test_step_events_mean_the_window_over_ranks_and_count_down(tmp_path: Path) -> None:
    log = StepLog(tmp_path, TwoRanks(0, 2), every=2, epoch=2, epochs=3, n_steps=5)
    for i, share in enumerate([0.5, 0.25, 1.0, 0.5, 0.75]):
        log.step(i, share, tokens=100, lr=1e-3)
    rows = _events(tmp_path)
    assert [(r["step"], r["global_step"]) for r in rows] == [(2, 7), (4, 9), (5, 10)]
    assert [r["loss"] for r in rows] == [0.75, 1.5, 1.5]  # mean over the window of the rank sums
    assert rows[-1]["eta_epoch_s"] == 0 and rows[0]["eta_epoch_s"] >= 0
    assert rows[-1]["eta_training_s"] >= rows[-1]["eta_epoch_s"]  # one more epoch to go
    assert all(r["lr"] == 1e-3 and r["tokens_per_s"] > 0 and r["epochs"] == 3 for r in rows)


def test_log_every_steps_zero_turns_step_reports_off(tmp_path: Path) -> None:
    """0 = off (no step events, so no step or system metrics): the logging-overhead benchmark's
    "without" arm, and a user's way to keep events.jsonl to epochs and answers."""
    assert ExperimentConfig.model_validate({"train": {"log_every_steps": 0}}).train.log_every_steps == 0
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        ExperimentConfig.model_validate({"train": {"log_every_steps": -1}})
    log = StepLog(tmp_path, Dist(), every=0, epoch=1, epochs=1, n_steps=3)
    for i in range(3):
        log.step(i, 0.5, tokens=10, lr=1e-3)
    assert not (tmp_path / "events.jsonl").exists()


def test_only_rank_zero_writes(tmp_path: Path) -> None:
    log = StepLog(tmp_path, TwoRanks(1, 2), every=1, epoch=1, epochs=1, n_steps=2)
    log.step(0, 0.5, 10, 1e-3)
    assert not (tmp_path / "events.jsonl").exists()


def test_tail_hands_on_new_progress_events_once(tmp_path: Path) -> None:
    old = tmp_path / "a" / "events.jsonl"
    old.parent.mkdir()
    old.write_text(json.dumps({"event": "step", "epoch": 1, "step": 1, "steps": 2}) + "\n")
    got: list[tuple[str, str]] = []
    tail = EventTail(tmp_path, lambda tid, es: got.extend((tid, e["event"]) for e in es), interval_s=0)
    StepLog(tmp_path / "b", Dist(), 1, 1, 1, 1).step(0, 0.5, 10, 1e-3)
    GenerationLog(tmp_path / "b", 1)(100, 170)
    with (tmp_path / "b" / "events.jsonl").open("a") as fh:
        fh.write(json.dumps({"event": "answers", "epoch": 1}) + "\n" + '{"event": "st')  # partial
    tail.tick()
    tail.tick()
    tail.flush("b")
    assert got == [("b", "step"), ("b", "generation")]  # a resumed run's old lines are skipped


def test_step_metrics_names_and_fractional_epoch() -> None:
    m = step_metrics({"event": "step", "epoch": 2, "step": 5, "steps": 20, "loss": 1.5, "lr": 1e-4,
                      "tokens_per_s": 900.0, "eta_epoch_s": 30.0, "eta_training_s": 90.0})
    assert m == {"train/loss": 1.5, "train/lr": 1e-4, "train/tokens_per_s": 900.0,
                 "train/eta_epoch_s": 30.0, "train/eta_training_s": 90.0, "train/epoch": 1.25}


def test_plain_progress_prints_a_trials_line_at_most_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    out = io.StringIO()
    p = Progress(2, stream=out)
    step = {"event": "step", "epoch": 1, "epochs": 2, "step": 10, "steps": 40, "loss": 2.5,
            "lr": 1e-3, "tokens_per_s": 9500.0, "eta_epoch_s": 75.0, "eta_training_s": 400.0}
    p.trial("adamw-lr1e-03", step)
    p.trial("adamw-lr1e-03", {**step, "step": 20})  # within the interval: view only
    p.trial("sgd-lr1e-01", {"event": "generation", "epoch": 1, "done": 100, "total": 170})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("adamw-lr1e-03 ep1/2 step 10/40 loss 2.5000 lr 1.00e-03 9,500 tok/s"
                             " ETA epoch 01:15 training 06:40")
    assert lines[1].endswith("sgd-lr1e-01 ep1 generating answers 100/170")
    assert "step 20/40" in p.trial_lines()[0]
    p.trial_ended("adamw-lr1e-03")
    assert p.trial_lines() == ["sgd-lr1e-01 ep1 generating answers 100/170"]


def test_live_view_shows_one_line_per_running_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeTty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("HPO_PLAIN_PROGRESS", raising=False)
    p = Progress(2, stream=FakeTty())
    try:
        p.trial("adamw-lr1e-03", {"event": "generation", "epoch": 1, "done": 100, "total": 170})
        p.say("an event while a trial line is shown")  # renders inside say: must not deadlock
        from rich.console import Console

        console = Console(file=io.StringIO(), width=200)
        console.print(p.live)
        assert "adamw-lr1e-03 ep1 generating answers 100/170" in console.file.getvalue()  # type: ignore[attr-defined]
    finally:
        p.close()


class _Plan:
    def training(self, training_id: str) -> Any:
        from hpo.types import TrainingSpec

        if training_id != "adamw-lr1e-03":
            raise KeyError(training_id)
        return TrainingSpec.from_dict({"optimizer": "adamw", "lr": 1e-3, "scheduler": "cosine", "epochs": 2})


class _Tracker:
    def __init__(self) -> None:
        self.metrics: list[tuple[str, dict[str, float], int | None]] = []

    def start_run(self, name: str, params: Any, tags: Any, parent_id: str | None = None) -> str:
        return f"run-{name}"

    def log_steps(self, run_id: str, rows: list[tuple[int, dict[str, float]]]) -> None:
        self.metrics += [(run_id, m, step) for step, m in rows]

    def log_dataset(self, *args: Any) -> None: ...


def test_recorder_logs_step_metrics_for_known_trainings_and_shows_every_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.config.schema import ExperimentConfig
    from hpo.run.events import RunRecorder
    from hpo.rundir.layout import RunDir

    monkeypatch.delenv("CI", raising=False)
    tracker, progress = _Tracker(), Progress(2, stream=io.StringIO())
    rec = RunRecorder(ExperimentConfig.model_validate({}), RunDir(tmp_path), tracker, _Plan(),  # type: ignore[arg-type]
                      None, progress)  # type: ignore[arg-type]
    rec.tail.interval_s = 0
    for tid in ("adamw-lr1e-03", "new-sample"):  # the second: a search's sample not yet recorded
        StepLog(tmp_path / "trials" / tid, Dist(), 2, 2, 2, 4).step(1, 0.75, 10, 1e-3)
    rec.on_tick()
    assert [(run, m["train/loss"], step) for run, m, step in tracker.metrics] == [("run-adamw-lr1e-03", 0.75, 6)]
    assert len(progress.trial_lines()) == 2


def test_step_events_carry_system_metrics_logged_under_mlflows_names(tmp_path: Path) -> None:
    log = StepLog(tmp_path, Dist(), every=1, epoch=1, epochs=1, n_steps=2)
    log.step(0, 0.5, 10, 1e-3)
    log.step(1, 0.5, 10, 1e-3)
    row, soon_after = _events(tmp_path)
    assert "system" not in soon_after  # at most one sample per 10 s (MLflow's default interval)
    system = row["system"]
    assert 0 <= system["cpu_utilization_percentage"] <= 100
    assert 0 < system["system_memory_usage_percentage"] <= 100
    assert 0 < system["trial_memory_rss_megabytes"] < system["system_memory_usage_megabytes"]
    metrics = step_metrics(row)
    assert metrics["system/trial_memory_rss_megabytes"] == system["trial_memory_rss_megabytes"]
    assert metrics["train/loss"] == 0.5  # beside the training's own step metrics


def test_gpu_sample_names_each_device_and_skips_utilisation_without_pynvml(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    from types import SimpleNamespace

    from hpo.trial.sysmetrics import gpu_sample

    def utilization(i: int) -> float:
        if i == 1:
            raise ModuleNotFoundError("pynvml")
        return 87.0

    cuda = SimpleNamespace(is_available=lambda: True, device_count=lambda: 2, utilization=utilization,
                           mem_get_info=lambda i: (1e9 * (i + 1), 4e9))
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    assert gpu_sample() == {"gpu_0_memory_usage_megabytes": 3000.0, "gpu_0_memory_usage_percentage": 75.0,
                            "gpu_0_utilization_percentage": 87.0, "gpu_1_memory_usage_megabytes": 2000.0,
                            "gpu_1_memory_usage_percentage": 50.0}
