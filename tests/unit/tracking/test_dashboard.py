"""The MLflow parent's status follows the run: KILLED, FAILED, RUNNING again on resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.config.schema import ExperimentConfig, JudgeConfig
from hpo.data.loaders import write_jsonl
from hpo.errors import StorageError
from hpo.rundir.answers import AnswerStore
from hpo.rundir.layout import RunDir
from hpo.tracking.answers_table import log_answer_table
from hpo.tracking.dashboard import git_commit, parent_status
from hpo.tracking.mlflow_tracker import MlflowTracker
from hpo.types import Example, TrainingSpec


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MlflowTracker:
    """One sqlite MLflow store for the module (opening one costs seconds); each test its own runs."""
    path = tmp_path_factory.mktemp("mlflow")
    return MlflowTracker(f"sqlite:///{path}/m.db", "hpo", path / "art")


def test_parent_status_through_interrupts_and_resumes(tmp_path: Path, store: MlflowTracker) -> None:
    cfg = ExperimentConfig(run_root=str(tmp_path / "runs"), judge=JudgeConfig(backend="vllm", model="m"))
    rd = RunDir.create(cfg, "r")
    t = store
    parent = t.start_run("r", {}, {})
    child = t.start_run("c", {}, {}, parent_id=parent)
    done = t.start_run("d", {}, {}, parent_id=parent)
    t.end_run(done)
    rd.update_state(parent_run_id=parent, child_runs={"c": child, "d": done}, status="running")

    with pytest.raises(KeyboardInterrupt), parent_status(t, rd, cfg):
        raise KeyboardInterrupt
    assert (t.run_status(parent), t.run_status(child), t.run_status(done)) == ("KILLED", "KILLED", "FINISHED")
    assert rd.state()["status"] == "interrupted"
    tags = t.client.get_run(parent).data.tags
    assert tags["hpo.status"] == "interrupted" and tags["mlflow.source.git.commit"] == (git_commit()[0] or tags["mlflow.source.git.commit"])

    cfg.judge = cfg.judge.with_options(concurrency=4)  # an operational flag given on resume
    with pytest.raises(RuntimeError), parent_status(t, rd, cfg):
        assert t.run_status(parent) == "RUNNING"  # resumed: RUNNING again
        raise RuntimeError("boom")
    assert t.run_status(parent) == "FAILED"
    tags = t.client.get_run(parent).data.tags
    assert tags["hpo.resumes"] == "2" and '"judge.concurrency"' in tags["hpo.history"]
    assert rd.config().judge.option("concurrency") == 4


def test_answers_side_by_side_winner_and_baseline_first(tmp_path: Path, store: MlflowTracker) -> None:
    import json

    items = [Example("add 1+1", "", "2", id="v0"), Example("say hi", "", "hi", id="v1")]
    write_jsonl(items, tmp_path / "data" / "validation.jsonl")
    answers = AnswerStore(tmp_path)
    specs = {"a": TrainingSpec("adamw", 1e-3, "cosine", 2), "b": TrainingSpec("sgd", 1e-2, "linear", 2),
             "base": TrainingSpec("adamw", 2e-5, "cosine", 2, tag="baseline")}
    for name, spec in specs.items():
        answers.write(spec, 2, items, [f"{name} says 2", f"{name} says hi"], {})
    answers.path(specs["b"].candidate_id(1)).parent.mkdir(exist_ok=True)
    answers.path(specs["b"].candidate_id(1)).write_text("{trunc")  # damaged: left out
    a, b, base = (specs[k].candidate_id(2) for k in ("a", "b", "base"))
    report = {"winner": {"candidate_id": b}, "baseline": {"candidate_id": base}, "ranking": [b, a],
              "candidates": [{"candidate_id": c} for c in (a, b, specs["b"].candidate_id(1))]}
    parent = store.start_run("answers", {}, {})
    log_answer_table(store, parent, tmp_path, report)
    art = Path(store.client.get_run(parent).info.artifact_uri.removeprefix("file://"))
    table = json.loads((art / "tables" / "answers.json").read_text())
    assert table["columns"] == ["item", "instruction", "reference", f"winner: {b}", f"baseline: {base}", a]
    assert table["data"][1] == ["v1", "say hi", "hi", "b says hi", "base says hi", "a says hi"]


@pytest.mark.integration  # loading and logging a model through mlflow.transformers: about 7 s
def test_register_winner_logs_the_transformers_flavour_and_registers_a_version(
        tmp_path: Path, store: MlflowTracker) -> None:
    from hpo.tracking.register import register_winner
    from tests.helpers.tiny_llama import build_tiny_llama

    weights = build_tiny_llama(tmp_path / "weights" / "w-ep2", hidden=32, layers=1)
    parent = store.start_run("registered", {}, {})
    store.end_run(parent)
    assert register_winner(store, parent, weights, "tiny-winner") == "1"
    version = store.client.get_model_version("tiny-winner", "1")
    assert version.run_id == parent and store.run_status(parent) == "FINISHED"
    (mlmodel,) = [p for p in Path(store.client.get_run(parent).info.artifact_uri.removeprefix("file://"))
                  .parent.parent.rglob("MLmodel")]
    assert "transformers:" in mlmodel.read_text() and "text-generation" in mlmodel.read_text()
    with pytest.raises(StorageError, match="no weights"):
        register_winner(store, parent, tmp_path / "weights" / "pruned", "tiny-winner")


def test_register_winner_flag_needs_kept_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hpo.cli import main

    assert main(["run", "--register-winner", "w", "--run-root", str(tmp_path), "--dry-run"]) == 2
    assert "train.keep_weights: best" in capsys.readouterr().err and not any(tmp_path.iterdir())
    cfg = ExperimentConfig(tracking={"register_winner": "w"}, train={"keep_weights": "best"})
    assert cfg.tracking.register_winner == "w"
