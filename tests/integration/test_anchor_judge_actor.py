"""Adaptive search on several nodes: a remote trial judges through an actor on the driver's node.

With `run.transport: ray` a trial's folder is node-local scratch that holds its own answers only.
Its AnchorReporter sends them to the `AnchorJudge` actor that `start_anchor_judge` pins to the
driver's node; the actor judges them against the anchor's answers in the run folder, through the
run's verdict store. Real Ray: the trial is a task in another worker process, given the actor's
handle the way Ray Tune gives trials their report wrapper (pickled).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.data import write_jsonl
from hpo.rundir.answers import AnswerStore
from hpo.search.adaptive.reporter import (
    AnchorReporterFactory,
    start_anchor_judge,
    stop_anchor_judge,
)
from hpo.types import Example, TrainingSpec
from judge.store import VerdictStore

pytestmark = pytest.mark.integration

VAL = [Example(f"reverse w{i}", "", f"{i}w", id=f"v{i}") for i in range(4)]
SPEC = TrainingSpec("adamw", 1e-3, "cosine", epochs=1)
ANCHOR = TrainingSpec("adamw", 2e-5, "cosine", epochs=1, tag="baseline")


def remote_trial(factory: AnchorReporterFactory, scratch: str) -> tuple[list[dict[str, Any]], list[str]]:
    """What a trial on another node does: answers in its scratch folder, one epoch reported."""
    folder = Path(scratch)
    write_jsonl(VAL, folder / "data" / "validation.jsonl")
    AnswerStore(folder).write(SPEC, 1, VAL, ["0w", "1w", "x", "y"], {})
    got: list[dict[str, Any]] = []
    rep = factory(got.append, SPEC, folder, ExperimentConfig())
    rep({"epoch": 1, "candidate_id": SPEC.candidate_id(1), "training_id": SPEC.training_id})
    rep.close()
    return got, [str(p) for p in folder.rglob("verdicts.sqlite*")]


def test_remote_trial_judges_through_the_drivers_actor(tmp_path: Path) -> None:
    import ray

    run = tmp_path / "run"
    write_jsonl(VAL, run / "data" / "validation.jsonl")
    AnswerStore(run).write(ANCHOR, 1, VAL, ["a", "b", "2w", "3w"], {})
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        judge = start_anchor_judge(ExperimentConfig(), run, ANCHOR.candidate_id(1))
        factory = AnchorReporterFactory(ANCHOR.candidate_id(1), remote=judge)
        task = ray.remote(num_cpus=0)(remote_trial)
        got, stores = ray.get(task.remote(factory, str(tmp_path / "scratch")), timeout=120)
        stop_anchor_judge(judge)
    finally:
        ray.shutdown()
    assert stores == [], f"the trial opened a verdict store: {stores}"
    assert got[0]["judge_n"] == 4 and got[0]["judge_calls"] == 8
    assert (got[0]["judge_wins"], got[0]["judge_losses"]) == (2, 2)  # the reference judge
    with VerdictStore(run / "verdicts.sqlite") as store:
        assert store.count() == 8  # both orders of 4 items, on the driver's disk
