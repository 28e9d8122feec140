"""Adds the judge win rate against a fixed anchor to every epoch report of a trial.

Used as `TrialOptions.wrap_report` for `hpo.search.tuner.run_trials`; it lives in the trial process.

Judging runs beside training, off its critical path: when epoch e is reported, judging
"epoch e vs anchor" starts on a background thread and training goes on at once. Epoch e's
report (with `judge_winrate`) is passed to Ray Tune, from the trainable's own thread, when
epoch e+1 is reported or at `close()`. The price is a lag of one epoch for schedulers: ASHA
decides on epoch e while epoch e+1 is already trained (a stopped trial spends one extra
epoch, whose answers still become a candidate). The gain is that a judge slower than an
epoch never stalls training, and on a GPU box judge and trainer overlap fully.

Judgments go through the run's verdict store (`<run_dir>/verdicts.sqlite`), so a resumed
trial never asks the judge for a stored judgment again. Only processes on the driver's node open
that store (SQLite's WAL locking is unreliable on a shared filesystem): with trials on the run
folder's own disk (`run.transport: disk`) the trial opens it, as every process there may; with
trials on other nodes (`run.transport: ray`) a trial sends its answers to an `AnchorJudge` actor
pinned to the driver's node (`start_anchor_judge`), which judges them against the anchor's
answers in the run folder and returns the outcomes. The trial opens no store at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.rundir.answers import AnswerStore
from hpo.search.adaptive.winrate import winrate
from hpo.types import Example, TrainingSpec
from judge.types import ComparisonItem

Report = Callable[[dict[str, Any]], None]
PairwiseFactory = Callable[[ExperimentConfig, Path, list[Example]], Any]


def default_pairwise(cfg: ExperimentConfig, run_dir: Path, val: list[Example]) -> Any:
    """The run's configured judge, backed by the run's verdict store."""
    from hpo.tournament.comparator import build_backend, build_pairwise

    return build_pairwise(cfg.judge, build_backend(cfg.judge, val), run_dir / "verdicts.sqlite")


def judged_metrics(outcomes: list[int | None], calls: int, seconds: float) -> dict[str, Any]:
    """Report keys for one epoch's comparison against the anchor."""
    w = winrate(outcomes)
    return {"judge_winrate": w["judge_winrate"], "judge_wins": w["wins"],
            "judge_losses": w["losses"], "judge_ties": w["ties"], "judge_invalid": w["invalid"],
            "judge_n": w["n"], "judge_calls": calls, "judge_seconds": round(seconds, 3)}


class AnchorJudge:
    """A candidate's answers vs the anchor's, judged through the run's verdict store; it reads
    the validation set and the anchor's answers from the run folder `run_dir`, so it lives where
    that folder is: in the trial (one node) or in an actor on the driver's node (a cluster)."""

    def __init__(self, cfg: ExperimentConfig, run_dir: Path, anchor_id: str,
                 make_pairwise: PairwiseFactory = default_pairwise) -> None:
        from hpo.data import read_jsonl

        self.val = read_jsonl(Path(run_dir) / "data" / "validation.jsonl")
        self.anchor = AnswerStore(Path(run_dir)).read(anchor_id).answers
        self.pairwise = make_pairwise(cfg, Path(run_dir), self.val)

    def compare(self, answers: list[str]) -> tuple[list[int | None], int]:
        """Outcomes (candidate as A) per validation item, and the judge calls they cost."""
        items = [ComparisonItem(ex.instruction, ex.input, a, b)
                 for ex, a, b in zip(self.val, answers, self.anchor, strict=True)]
        calls = self.pairwise.calls
        outcomes = self.pairwise.compare(items)
        return outcomes, self.pairwise.calls - calls

    def close(self) -> None:
        """Close the verdict store and the backend."""
        for part in (getattr(self.pairwise, "store", None), getattr(self.pairwise, "backend", None)):
            if part is not None:
                part.close()


@dataclass(frozen=True)
class ActorJudge:
    """The trial's side of an `AnchorJudge` actor on the driver's node: same `compare`, over Ray."""

    actor: Any

    def compare(self, answers: list[str]) -> tuple[list[int | None], int]:
        import ray

        outcomes, calls = ray.get(self.actor.compare.remote(answers))
        return list(outcomes), int(calls)

    def close(self) -> None:
        """The actor belongs to the driver, which ends it after the search."""


def start_anchor_judge(cfg: ExperimentConfig, run_dir: Path, anchor_id: str) -> ActorJudge:
    """An `AnchorJudge` actor on this (the driver's) node, holding no CPU: remote trials judge
    through it, so the verdict store is only ever opened on the driver's local disk."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    # one call at a time: its `calls` count is per call; trials wait on their judge thread only
    actor = ray.remote(AnchorJudge).options(num_cpus=0, scheduling_strategy=here)
    return ActorJudge(actor.remote(cfg, Path(run_dir).resolve(), anchor_id))


def stop_anchor_judge(judge: ActorJudge) -> None:
    """Close the actor's store and end it (after the search, before the tournament)."""
    import ray

    try:
        ray.get(judge.actor.close.remote())
    finally:
        ray.kill(judge.actor)


class AnchorReporter:
    """Wraps a trial's `report`: each epoch gains its win rate against the anchor's answers."""

    def __init__(self, report: Report, spec: TrainingSpec, run_dir: Path, cfg: ExperimentConfig,
                 anchor_id: str, make_pairwise: PairwiseFactory = default_pairwise,
                 remote: ActorJudge | None = None) -> None:
        self._report, self.spec, self.anchor_id = report, spec, anchor_id
        self._run_dir, self._cfg, self._make_pairwise = Path(run_dir), cfg, make_pairwise
        self._remote = remote  # set: judge through the driver's actor, open no store here
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"judge-{spec.training_id}")
        self._pending: tuple[dict[str, Any], Future[dict[str, Any]]] | None = None
        self._pairwise: AnchorJudge | ActorJudge | None = None

    def __call__(self, result: dict[str, Any]) -> None:
        """Emit the previous epoch's (judged) report, then start judging this one."""
        previous, self._pending = self._pending, None
        try:
            if previous is not None:
                self._emit(*previous)
        except BaseException:  # includes Ray's SystemExit when a scheduler stops the trial
            self._shutdown()
            raise
        cid = result.get("candidate_id")
        if not cid:
            self._report(result)
            return
        self._pending = (dict(result), self._pool.submit(self._judge_epoch, str(cid)))

    def close(self) -> None:
        """Emit the last held report (waiting for its judgment) and release the judge."""
        try:
            if self._pending is not None:
                previous, self._pending = self._pending, None
                self._emit(*previous)
        finally:
            self._shutdown()

    def _emit(self, result: dict[str, Any], judged: Future[dict[str, Any]]) -> None:
        self._report({**result, **judged.result()})

    def _judge_epoch(self, candidate_id: str) -> dict[str, Any]:
        """Runs on the judge thread: candidate (A) vs anchor (B) on every validation item."""
        answers = AnswerStore(self._run_dir).read(candidate_id).answers
        t0 = time.monotonic()
        outcomes, calls = self._judge().compare(answers)
        return judged_metrics(outcomes, calls, time.monotonic() - t0)

    def _judge(self) -> AnchorJudge | ActorJudge:
        """Built on first use, on the judge thread, so setup never delays training."""
        if self._pairwise is None:
            self._pairwise = self._remote or AnchorJudge(self._cfg, self._run_dir, self.anchor_id,
                                                         self._make_pairwise)
        return self._pairwise

    def _shutdown(self) -> None:
        self._pool.shutdown(wait=True)
        if self._pairwise is not None:
            self._pairwise.close()
            self._pairwise = None


@dataclass(frozen=True)
class AnchorReporterFactory:
    """Picklable `wrap_report` for run_trials: an AnchorReporter against `anchor_id`; with
    `remote`, its trials judge through that actor on the driver's node."""

    anchor_id: str
    make_pairwise: PairwiseFactory = default_pairwise
    remote: ActorJudge | None = None

    def __call__(self, report: Report, spec: TrainingSpec, run_dir: Path,
                 cfg: ExperimentConfig) -> AnchorReporter:
        return AnchorReporter(report, spec, run_dir, cfg, self.anchor_id, self.make_pairwise,
                              self.remote)
