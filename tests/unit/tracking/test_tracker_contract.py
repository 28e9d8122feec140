"""Contract tests run against every Tracker implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpo.errors import ConfigError
from hpo.tracking import TRACKERS
from hpo.tracking.base import Tracker


@pytest.fixture(params=TRACKERS.names())
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return TRACKERS.create(request.param, uri=f"sqlite:///{tmp_path}/m.db", experiment="contract",
                           artifact_root=tmp_path / "art")


def test_tracker_protocol_roundtrip(tracker: Any, tmp_path: Path) -> None:
    assert isinstance(tracker, Tracker)
    parent = tracker.start_run("parent", {"a": {"b": 1}}, {"k": "v"})
    child = tracker.start_run("child", {"lr": 1e-3}, {}, parent_id=parent)
    assert parent != child and isinstance(parent, str)
    tracker.log_metrics(child, {"loss": 1.5, "nan": float("nan")}, step=2)
    tracker.log_series(child, "train_loss_step", [(1, 2.0), (2, 1.5)])
    tracker.log_steps(child, [(10, {"train/loss": 2.0, "train/lr": 1e-3}), (20, {"train/loss": 1.5})])
    tracker.log_params(child, {"lr": 1e-3, "extra": "x"})  # re-logging a param is not an error
    (tmp_path / "f.txt").write_text("hello")
    tracker.log_artifact(parent, tmp_path / "f.txt")
    tracker.set_tags(parent, {"hpo.winner": "c1"})
    tracker.log_table(parent, [{"stage": "final", "wins": 3}, {"stage": "block 1", "note": None}],
                      "tables/matches.json")
    tracker.log_dataset(parent, "tiny-train", tmp_path / "f.txt", "synthetic", "training")
    tracker.end_run(child)
    tracker.end_run(parent, "FAILED")
    tracker.reopen_run(parent)  # a resumed run is RUNNING again
    assert tracker.run_status(parent) in ("RUNNING", "")
    tracker.end_run(parent, "KILLED")


def test_mlflow_tables_and_status(tmp_path: Path) -> None:
    t = TRACKERS.create("mlflow", uri=f"sqlite:///{tmp_path}/m.db", experiment="x",
                        artifact_root=tmp_path / "art")
    run = t.start_run("p", {}, {})
    t.log_table(run, [{"stage": "final", "wins": 3}, {"stage": "block 1", "extra": None}], "tables/m.json")
    import json

    table = json.loads(next((tmp_path / "art").rglob("m.json")).read_text())
    assert table["columns"] == ["stage", "wins", "extra"] and table["data"][0][:2] == ["final", 3]
    t.log_steps(run, [(10, {"train/loss": 2.0, "train/lr": 1e-3}), (20, {"train/loss": 1.5})])
    history = t.client.get_metric_history(run, "train/loss")
    assert sorted((m.step, m.value) for m in history) == [(10, 2.0), (20, 1.5)]
    (tmp_path / "train.jsonl").write_text('{"instruction": "a"}\n')
    t.log_dataset(run, "tiny-train", tmp_path / "train.jsonl", "/data/train.jsonl", "training")
    (inp,) = t.client.get_run(run).inputs.dataset_inputs
    assert (inp.dataset.name, inp.dataset.source) == ("tiny-train", "/data/train.jsonl")
    assert len(inp.dataset.digest) == 16 and inp.tags[0].value == "training"
    t.end_run(run, "FAILED")
    assert t.run_status(run) == "FAILED"
    t.reopen_run(run)
    assert t.run_status(run) == "RUNNING"


def test_mlflow_tracker_records_nested_runs(tmp_path: Path) -> None:
    t = TRACKERS.create("mlflow", uri=f"sqlite:///{tmp_path}/m.db", experiment="x",
                        artifact_root=tmp_path / "art")
    parent = t.start_run("p", {"model": {"name": "tiny"}}, {})
    child = t.start_run("c", {"lr": 0.001}, {}, parent_id=parent)
    t.log_metrics(child, {"exact_match": 0.5}, step=3)
    run = t.client.get_run(child)
    assert run.data.tags["mlflow.parentRunId"] == parent
    assert run.data.params["lr"] == "0.001"
    assert [(m.step, m.value) for m in t.client.get_metric_history(child, "exact_match")] == [(3, 0.5)]
    t.log_series(child, "loss", [(s, 1.0 / s) for s in range(1, 1201)])
    assert len(t.client.get_metric_history(child, "loss")) == 1200
    assert t.client.get_run(parent).data.params["model.name"] == "tiny"


def test_unknown_tracker_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="valid: mlflow, none"):
        TRACKERS.validate("wandb")


def test_unopenable_tracking_uri_is_one_line_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open tracking URI") as exc:
        TRACKERS.create("mlflow", uri="bogus-scheme://nowhere", experiment="x")
    assert "\n" not in str(exc.value)

