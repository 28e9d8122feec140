"""One execution of a run folder: trials and tournament side by side, then the decision."""

from __future__ import annotations

import inspect
from typing import Any

from hpo.answers import AnswerStore
from hpo.config import ExperimentConfig
from hpo.controller import run_trials
from hpo.errors import EXIT_OK, EXIT_PARTIAL, EXIT_WORSE_THAN_BASELINE, JudgeUnavailableError
from hpo.pipeline import RunOptions, answers_complete, feed_from_disk, start_thread
from hpo.plan import Plan
from hpo.progress import Progress
from hpo.rundir import RunDir
from hpo.types import Example

# [i15 touch point] validation_loss: logged per epoch when the trial reports it
METRIC_KEYS = ("train_loss", "exact_match", "validation_loss", "val_loss", "generation_seconds",
               "train_seconds", "tokens_per_s")


class RunSession:
    def __init__(self, cfg: ExperimentConfig, rd: RunDir, plan: Plan, val: list[Example],
                 tracker: Any, backend: Any, opts: RunOptions) -> None:
        self.cfg, self.rd, self.plan, self.val = cfg, rd, plan, val
        self.tracker, self.backend, self.opts = tracker, backend, opts
        self.store = AnswerStore(rd.path)
        self.baseline_id = plan.baseline.candidate_id if plan.baseline else None
        planned = [c.candidate_id for c in plan.candidates] + ([self.baseline_id] if self.baseline_id else [])
        self.feed = feed_from_disk(self.store, planned)
        self.state = rd.state()
        self.children: dict[str, str] = dict(self.state.get("child_runs", {}))

    # -- tracking ---------------------------------------------------------------------------
    def _parent(self) -> str:
        if not self.state.get("parent_run_id"):
            params = self.cfg.model_dump(mode="json")
            run_id = self.tracker.start_run(self.rd.path.name, params,
                                            {"hpo.run_dir": str(self.rd.path.resolve())})
            self.state = self.rd.update_state(parent_run_id=run_id, status="running")
        return str(self.state["parent_run_id"])

    def _child(self, training_id: str) -> str:
        if training_id not in self.children:
            spec = next(t for t in self.plan.trainings if t.training_id == training_id)
            self.children[training_id] = self.tracker.start_run(
                training_id, spec.to_dict(), {"hpo.training_id": training_id}, parent_id=self._parent())
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

    def on_end(self, training_id: str, error: str | None) -> None:
        run_id = self._child(training_id)
        if error:
            spec = next(t for t in self.plan.trainings if t.training_id == training_id)
            for epoch in self.plan.checkpoints()[training_id]:
                self.feed.missing(spec.candidate_id(epoch), f"training failed: {error}")
            self.tracker.set_tags(run_id, {"hpo.error": error})
            self.progress.say(f"training {training_id} FAILED: {error}")
        self._log_step_losses(run_id, training_id)
        self.tracker.end_run(run_id, "FAILED" if error else "FINISHED")

    def _log_step_losses(self, run_id: str, training_id: str) -> None:
        """Per-step train loss (the trial writes it to loss.jsonl) as an MLflow metric curve."""
        import json

        path = self.rd / "trials" / training_id / "loss.jsonl"
        if not path.is_file():
            return
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        per_epoch = max((r["step"] for r in rows), default=0)
        points = [((r["epoch"] - 1) * per_epoch + r["step"], r["loss"]) for r in rows]
        self.tracker.log_series(run_id, "train_loss_step", points)

    # -- phases -----------------------------------------------------------------------------
    def _adaptive(self) -> bool:
        return self.cfg.search.search != "grid" or self.cfg.search.scheduler != "none"

    def _train(self) -> None:
        if self._adaptive():
            from hpo.adaptive.runner import run_adaptive

            run_adaptive(self)  # replaces self.plan and self.feed with what the search produced
            return
        done = answers_complete(self.store, self.plan)
        todo = [t for t in self.plan.trainings if t.training_id not in done]
        self.progress.total = sum(len(self.plan.checkpoints()[t.training_id]) for t in todo)  # [i15]
        if done:
            self.progress.say(f"resuming: {len(done)} trainings already complete, {len(todo)} to run")
        if todo:
            run_trials(self.cfg, self.rd.path, todo, self.plan.checkpoints(),
                       self.on_result, self.on_end, stop=self._judge_gone)  # [i15 touch point]
        self.feed.close("no answers were produced for this checkpoint")

    def _tournament(self) -> dict[str, Any]:
        from hpo.tournament_run import run_tournament

        return run_tournament(self.cfg, self.rd, self.store, self.feed, self.val, self.backend,
                              [c.candidate_id for c in self.plan.candidates], self.baseline_id,
                              self.progress.say if hasattr(self, "progress") else print)

    def execute(self) -> int:
        self._parent()
        # [i15 touch point] one Progress per execution (a live view on a terminal), closed at the end
        self.progress = Progress(0, verdicts=self.rd / "verdicts.sqlite")
        try:
            return self._execute()
        finally:
            self.progress.close()

    def _judge_gone(self) -> bool:
        """[i15 touch point] The overlapped tournament died (judge past its deadline): trainings
        stop after the checkpoints they are on, so the run ends (exit 5, resumable) soon."""
        box = getattr(self, "_tournament_box", {})
        gone = isinstance(box.get("error"), JudgeUnavailableError)
        if gone and not getattr(self, "_said_gone", False):
            self._said_gone = True
            self.progress.say("judge gone past judge.deadline_s: trainings stop after their current"
                              " checkpoint; resume with: hpo run --resume " + str(self.rd.path))
        return gone

    def _execute(self) -> int:
        if self.cfg.tournament.overlap and not self._adaptive():  # adaptive: candidates unknown
            thread, box = start_thread(self._tournament, "tournament")
            self._tournament_box = box
            self._train()
            thread.join()
        else:
            self._train()
            thread, box = start_thread(self._tournament, "tournament")
            thread.join()
        if "error" in box:
            self.rd.update_state(status="interrupted")
            raise box["error"]
        from hpo.decision import finish

        report = finish(self.cfg, self.rd, self.plan, self.store, self.feed, box["result"],
                        self.tracker, self._parent())
        return self._exit_code(report)

    def _exit_code(self, report: dict[str, Any]) -> int:
        base = report.get("baseline") or {}
        if self.opts.fail_if_worse_than_baseline and base and not base.get("winner_beats_baseline"):
            return EXIT_WORSE_THAN_BASELINE
        return EXIT_PARTIAL if report["missing"] else EXIT_OK


def accepted_kwargs(factory: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The subset of `kwargs` a plug-in's constructor accepts."""
    params = inspect.signature(factory).parameters
    return {k: v for k, v in kwargs.items() if k in params}
