"""The halving driver's rounds, in process: Ray's trials replaced by a fake that "trains" by
writing answer files up to the round's stop epoch, the rungs ranked by validation loss.

What must hold: each round trains only the live trainings, and only the epochs they have not
reached; the worse half stop; every checkpoint a stopped training reached is a candidate; the
epochs trained equal the schedule's bound; an interrupted round resumes without training any
stored epoch again and without changing a stored decision.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.reporting.progress import Progress
from hpo.rundir.answers import AnswerStore
from hpo.rundir.layout import RunDir
from hpo.search.adaptive import halving
from hpo.search.adaptive.rungs import schedule, training_epochs
from hpo.search.method import TrainContext, feed_from_disk, planned_ids
from hpo.search.plan import Plan
from hpo.search.space import SearchSpace
from hpo.types import Example, TrainingSpec

LRS = [1e-3, 2e-3, 3e-3, 4e-3]  # validation loss grows with lr: the smallest lr is best
VAL = [Example("say a", "", "a", id="v0"), Example("say b", "", "b", id="v1")]


class Events:
    """The run's listener, counting ends."""

    def __init__(self) -> None:
        self.ended: Counter[str] = Counter()

    def on_result(self, training_id: str, result: dict[str, Any]) -> None: ...

    def on_end(self, training_id: str, error: str | None) -> None:
        self.ended[training_id] += 1


class FakeTrials:
    """`run_trials` that trains each spec from its last answered epoch up to the scheduler's
    stop epoch; `fail_after` trainings-epochs in all, it raises (a kill mid-round)."""

    def __init__(self, store: AnswerStore, fail_after: int | None = None) -> None:
        self.store, self.fail_after = store, fail_after
        self.trained: list[tuple[str, int]] = []

    def __call__(self, cfg: Any, run_dir: Path, specs: list[TrainingSpec],
                 checkpoints: dict[str, list[int]], events: Any, opts: Any) -> None:
        for s in specs:
            start = max((e for e in range(1, s.epochs + 1) if self.store.exists(s.candidate_id(e))), default=0)
            for epoch in range(start + 1, opts.scheduler.until.get(s.training_id, s.epochs) + 1):
                if self.fail_after is not None and len(self.trained) >= self.fail_after:
                    raise KeyboardInterrupt
                self.trained.append((s.training_id, epoch))
                loss = s.lr * 1000 + 1.0 / epoch
                self.store.write(s, epoch, VAL, ["a", "b"], {"validation_loss": loss})
                events.on_result(s.training_id, {"epoch": epoch, "candidate_id": s.candidate_id(epoch)})
            events.on_end(s.training_id, None)


def setup(tmp_path: Path) -> tuple[TrainContext, Plan, Events]:
    cfg = ExperimentConfig.model_validate({
        "run_root": str(tmp_path), "search": {"scheduler": "halving", "halving": {
            "rungs": [1, 2], "eta": 2, "rank_by": "val_loss"}}})
    specs = [TrainingSpec("adamw", lr, "cosine", 3) for lr in LRS]
    plan = Plan(SearchSpace(specs, [1, 2, 3]), None)
    rd = RunDir(tmp_path / "r")
    rd.path.mkdir(exist_ok=True)
    events = Events()
    ctx = TrainContext(cfg, rd, AnswerStore(rd.path), events, Progress(0, stream=io.StringIO()))
    return ctx, plan, events


def run(ctx: TrainContext, plan: Plan, fake: FakeTrials, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(halving, "run_trials", fake)
    return halving.HalvingTraining().train(ctx, plan, feed_from_disk(ctx.store, planned_ids(plan)))


def test_rounds_stop_the_worse_half_and_keep_what_they_reached(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, plan, events = setup(tmp_path)
    fake = FakeTrials(ctx.store)
    trained = run(ctx, plan, fake, monkeypatch)
    ids = [s.training_id for s in plan.space.trainings]
    assert len(fake.trained) == training_epochs(schedule(4, [1, 2], 3, 2)) == 4 + 2 + 1
    assert sorted(e for t, e in fake.trained if t == ids[0]) == [1, 2, 3]
    candidates = {c.candidate_id for c in trained.plan.candidates}
    assert candidates == {f"{t}-ep1" for t in ids} | {f"{t}-ep2" for t in ids[:2]} | {f"{ids[0]}-ep3"}
    decisions = ctx.rd.state()["halving"]["decisions"]
    assert [d["kept"] for d in decisions] == [ids[:2], ids[:1]]
    assert events.ended == Counter(ids)  # every training's run ends once, stopped or finished


def test_an_interrupted_round_resumes_without_retraining_or_redeciding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, plan, _ = setup(tmp_path)
    first = FakeTrials(ctx.store, fail_after=5)  # round 1 done and decided, round 2 half trained
    with pytest.raises(KeyboardInterrupt):
        run(ctx, plan, first, monkeypatch)
    decided = ctx.rd.state()["halving"]["decisions"]
    assert len(decided) == 1
    second = FakeTrials(ctx.store)
    run(ctx, plan, second, monkeypatch)
    assert not set(first.trained) & set(second.trained)
    assert len(first.trained) + len(second.trained) == 7
    assert ctx.rd.state()["halving"]["decisions"][0] == decided[0]
