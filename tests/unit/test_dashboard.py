"""The MLflow parent's status follows the run: KILLED, FAILED, RUNNING again on resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.config import ExperimentConfig
from hpo.rundir import RunDir
from hpo.tracking.dashboard import git_commit, parent_status
from hpo.tracking.mlflow_tracker import MlflowTracker


def test_parent_status_through_interrupts_and_resumes(tmp_path: Path) -> None:
    cfg = ExperimentConfig(run_root=str(tmp_path / "runs"))
    rd = RunDir.create(cfg, "r")
    t = MlflowTracker(f"sqlite:///{tmp_path}/m.db", "hpo", tmp_path / "art")
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

    cfg.judge.concurrency = 4  # an operational flag given on resume
    with pytest.raises(RuntimeError), parent_status(t, rd, cfg):
        assert t.run_status(parent) == "RUNNING"  # resumed: RUNNING again
        raise RuntimeError("boom")
    assert t.run_status(parent) == "FAILED"
    tags = t.client.get_run(parent).data.tags
    assert tags["hpo.resumes"] == "2" and '"judge.concurrency"' in tags["hpo.history"]
    assert rd.config().judge.concurrency == 4
