"""`hpo run` end to end on a reduced grid: real Ray Tune trials, real training, real MLflow store."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import hpo_cli, small_args

pytestmark = pytest.mark.integration


def test_run_end_to_end_reads_back_from_mlflow(tmp_path: Path, small_space: tuple[Path, Path]) -> None:
    grid, base = small_space
    proc = hpo_cli("run", *small_args(tmp_path, grid, base), "--run-name", "e2e")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "e2e"
    report = json.loads((run_dir / "report.json").read_text())
    ids = {c["candidate_id"] for c in report["candidates"]}
    assert ids == {"adamw-lr1e-04-cosine-ep1", "adamw-lr1e-04-cosine-ep2",
                   "adamw-lr1e-03-cosine-ep1", "adamw-lr1e-03-cosine-ep2"}
    assert report["winner"]["candidate_id"] in ids
    assert report["baseline"]["win"] + report["baseline"]["lose"] + report["baseline"]["tie"] \
        + report["baseline"]["invalid"] == 24
    assert all(0.0 <= c["exact_match"] <= 1.0 for c in report["candidates"])
    assert (run_dir / "plots" / "win_rounds.png").stat().st_size > 1000
    assert "== Winner" in proc.stdout
    conf = report["winner_confidence_set"]
    assert conf["members"][0] == report["winner"]["candidate_id"] and set(conf["members"]) <= ids
    assert ("NOT CLEARLY BEST" in proc.stdout) == (len(conf["members"]) > 1)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("hpo")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3  # 2 grid trainings + baseline
    parent = parents[0]
    assert parent.data.tags["hpo.winner"] == report["winner"]["candidate_id"]
    assert parent.data.params["winner.optimizer"] == "adamw"
    assert parent.data.tags["hpo.winner_confidence_set"] == ", ".join(conf["members"])
    assert parent.data.metrics["winner_confidence_set_size"] == len(conf["members"])
    history = client.get_metric_history(children[0].info.run_id, "exact_match")
    assert sorted(m.step for m in history) in ([1, 2], [1])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.json", "win_rounds.png", "win_matrix.png"} <= artifacts

    again = hpo_cli("report", str(run_dir))
    assert again.returncode == 0 and report["winner"]["candidate_id"] in again.stdout
    assert "== Cost ==" in again.stdout
    _step_progress_and_cost(client, children, run_dir, report, parent.data.metrics)
    _no_ray_tune_console(proc.stdout + proc.stderr)
    _answers_side_by_side(client, parent.info.run_id, run_dir, report, tmp_path)
    exported = hpo_cli("report", str(run_dir), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert exported.returncode == 0 and sorted(r["candidate"] for r in rows) == sorted(ids)


def _step_progress_and_cost(client: Any, children: list[Any], run_dir: Path, report: dict[str, Any],
                            parent_metrics: dict[str, float]) -> None:
    """Each child's train/loss curve has more points than epochs, the first before its first
    checkpoint's answers; the cost summary counts every training's tokens."""
    for child in children:
        training_id = child.data.tags["hpo.training_id"]
        epochs = int(child.data.params["epochs"])
        history = client.get_metric_history(child.info.run_id, "train/loss")
        assert len(history) > epochs, (training_id, len(history))
        memory = client.get_metric_history(child.info.run_id, "system/trial_memory_rss_megabytes")
        cpu = client.get_metric_history(child.info.run_id, "system/cpu_utilization_percentage")
        assert memory and all(m.value > 0 for m in memory) and cpu, training_id
        lines = (run_dir / "trials" / training_id / "events.jsonl").read_text().splitlines()
        kinds = [json.loads(ln)["event"] for ln in lines]
        assert "step" in kinds[:kinds.index("answers")] and "generation" in kinds
    cost = report["cost"]
    assert len(cost["trainings"]) == 3 and all(t["train_tokens"] > 0 for t in cost["trainings"])
    assert cost["judge"]["calls"] == report["judge_stats"]["calls"]
    assert parent_metrics["cost/train_tokens"] == cost["train_tokens"] > 0
    parent = client.get_run(children[0].data.tags["mlflow.parentRunId"])
    note = parent.data.tags["mlflow.note.content"]
    assert f"**Winner:** `{report['winner']['candidate_id']}`" in note and "**Cost:**" in note
    names = {d.dataset.name for d in parent.inputs.dataset_inputs}
    assert names == {f"{report['experiment']}-train", f"{report['experiment']}-validation"}


def _answers_side_by_side(client: Any, parent_id: str, run_dir: Path, report: dict[str, Any],
                          tmp_path: Path) -> None:
    """The parent's answers table: one row per validation item, winner and baseline first."""
    path = client.download_artifacts(parent_id, "tables/answers.json", str(tmp_path))
    table = json.loads(Path(path).read_text())
    items = (run_dir / "data" / "validation.jsonl").read_text().splitlines()
    assert len(table["data"]) == len(items)
    assert table["columns"][:2] == ["item", "instruction"] and "reference" in table["columns"]
    winner, base = report["winner"]["candidate_id"], report["baseline"]["candidate_id"]
    answers = [c for c in table["columns"] if c not in ("item", "instruction", "input", "reference")]
    assert answers[:2] == [f"winner: {winner}", f"baseline: {base}"]
    assert len(answers) == 1 + len(report["candidates"])  # every candidate, the baseline too


def _no_ray_tune_console(output: str) -> None:
    """Ray Tune's status tables and its Tuner.restore hint stay out of the user's terminal."""
    assert "Tuner.restore" not in output and "Trial status" not in output, output[-2000:]
