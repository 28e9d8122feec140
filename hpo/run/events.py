"""Records training as it happens: MLflow parent and child runs, the candidate feed, progress.

The recorder is the train stage's `TrialEvents` listener. It owns the run's tracking ids in
`state.json` (`parent_run_id`, `child_runs`), so a resumed run logs into the same MLflow runs.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.reporting.progress import Progress
from hpo.run.steps import EventTail, step_metrics
from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.rundir.layout import RunDir
from hpo.search.plan import Plan
from hpo.tracking.base import Tracker

METRIC_KEYS = ("train_loss", "exact_match", "validation_loss", "val_loss", "generation_seconds",
               "train_seconds", "tokens_per_s", "train_tokens", "generated_tokens")


class RunRecorder:
    """Tracker runs for one run folder: a parent run, one child run per training."""

    def __init__(self, cfg: ExperimentConfig, rd: RunDir, tracker: Tracker, plan: Plan,
                 feed: CandidateFeed, progress: Progress) -> None:
        self.cfg, self.rd, self.tracker, self.plan = cfg, rd, tracker, plan
        self.feed, self.progress = feed, progress
        self.store = AnswerStore(rd.path)
        self.state = rd.state()
        self.children: dict[str, str] = dict(self.state.get("child_runs", {}))
        self._lock = threading.Lock()  # child runs are started from Tune's loop and its callbacks
        self.tail = EventTail(rd / "trials", self.on_progress)

    def parent(self) -> str:
        """The parent run's id; started (and stored in state.json) on first use."""
        if not self.state.get("parent_run_id"):
            params = self.cfg.model_dump(mode="json")
            run_id = self.tracker.start_run(self.rd.path.name, params,
                                            {"hpo.run_dir": str(self.rd.path.resolve())})
            self.state = self.rd.update_state(parent_run_id=run_id, status="running")
            self._log_datasets(run_id)
        return str(self.state["parent_run_id"])

    def _log_datasets(self, run_id: str) -> None:
        """The staged training and validation sets as MLflow datasets (name, source, digest)."""
        for split, context in (("train", "training"), ("validation", "evaluation")):
            path = self.rd / "data" / f"{split}.jsonl"
            if path.is_file():
                self.tracker.log_dataset(run_id, f"{self.cfg.name}-{split}", path,
                                         str(getattr(self.cfg.data, split)), context)

    def _child(self, training_id: str) -> str:
        with self._lock:
            return self._child_locked(training_id)

    def _child_locked(self, training_id: str) -> str:
        if training_id not in self.children:
            spec = self.plan.training(training_id)
            self.children[training_id] = self.tracker.start_run(
                training_id, spec.to_dict(), {"hpo.training_id": training_id}, parent_id=self.parent())
            self.state = self.rd.update_state(child_runs=self.children)
        return self.children[training_id]

    def on_result(self, training_id: str, result: dict[str, Any]) -> None:
        cid = result.get("candidate_id")
        if not cid:
            return
        self.feed.ready(cid)
        run_id = self._child(training_id)
        metrics = {k: v for k, v in result.items()
                   if k in METRIC_KEYS or k.startswith(("exact_match_", "judge_"))}
        self.tracker.log_metrics(run_id, metrics, step=int(result.get("epoch", 0)))
        if self.store.exists(cid):
            self.tracker.log_artifact(run_id, self.store.path(cid), "answers")
        self.progress.epoch(training_id, result)

    def on_tick(self) -> None:
        """Ray Tune's loop ticks: pass on the trials' new step and generation events."""
        self.tail.tick()

    def on_progress(self, training_id: str, events: list[dict[str, Any]]) -> None:
        """A training's new events: its steps' metrics on the child run in one batch; the latest
        event is its line in the view."""
        steps = [(int(e["global_step"]), step_metrics(e)) for e in events if e["event"] == "step"]
        if steps and self._known(training_id):
            self.tracker.log_steps(self._child(training_id), steps)
        self.progress.trial(training_id, events[-1])

    def _known(self, training_id: str) -> bool:
        """Is it a training of the plan? A search's new sample may write before it is recorded."""
        try:
            self.plan.training(training_id)
        except KeyError:
            return False
        return True

    def on_end(self, training_id: str, error: str | None) -> None:
        self.tail.flush(training_id)
        self.progress.trial_ended(training_id)
        run_id = self._child(training_id)
        if error:
            spec = self.plan.training(training_id)
            for epoch in self.plan.checkpoints()[training_id]:
                self.feed.missing(spec.candidate_id(epoch), f"training failed: {error}")
            self.tracker.set_tags(run_id, {"hpo.error": error})
            self.progress.say(f"training {training_id} FAILED: {error}")
        self._log_step_losses(run_id, training_id)
        self.tracker.end_run(run_id, "FAILED" if error else "FINISHED")

    def _log_step_losses(self, run_id: str, training_id: str) -> None:
        """Per-step train loss (the trial writes it to loss.jsonl) as an MLflow metric curve."""
        path = self.rd / "trials" / training_id / "loss.jsonl"
        if not path.is_file():
            return
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        per_epoch = max((r["step"] for r in rows), default=0)
        points = [((r["epoch"] - 1) * per_epoch + r["step"], r["loss"]) for r in rows]
        self.tracker.log_series(run_id, "train_loss_step", points)
