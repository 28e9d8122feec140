"""Adds the judge win rate against a fixed anchor to every epoch report of a trial.

Used as `TrialOptions.wrap_report` for `hpo.tuner.run_trials`; it lives in the trial process.

Judging runs beside training, off its critical path: when epoch e is reported, judging
"epoch e vs anchor" starts on a background thread and training goes on at once. Epoch e's
report (with `judge_winrate`) is passed to Ray Tune, from the trainable's own thread, when
epoch e+1 is reported or at `close()`. The price is a lag of one epoch for schedulers: ASHA
decides on epoch e while epoch e+1 is already trained (a stopped trial spends one extra
epoch, whose answers still become a candidate). The gain is that a judge slower than an
epoch never stalls training, and on a GPU box judge and trainer overlap fully.

Judgments go through the run's verdict store (`<run_dir>/verdicts.sqlite`, opened in this
process), so a resumed trial never asks the judge for a stored judgment again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.adaptive.winrate import winrate
from hpo.answers import AnswerStore
from hpo.config import ExperimentConfig
from hpo.types import Example, TrainingSpec
from judge.types import ComparisonItem

Report = Callable[[dict[str, Any]], None]
PairwiseFactory = Callable[[ExperimentConfig, Path, list[Example]], Any]


def default_pairwise(cfg: ExperimentConfig, run_dir: Path, val: list[Example]) -> Any:
    """The run's configured judge, backed by the run's verdict store."""
    from hpo.judging import build_backend, build_pairwise

    return build_pairwise(cfg.judge, build_backend(cfg.judge, val), run_dir / "verdicts.sqlite")


def judged_metrics(outcomes: list[int | None], calls: int, seconds: float) -> dict[str, Any]:
    """Report keys for one epoch's comparison against the anchor."""
    w = winrate(outcomes)
    return {"judge_winrate": w["judge_winrate"], "judge_wins": w["wins"],
            "judge_losses": w["losses"], "judge_ties": w["ties"], "judge_invalid": w["invalid"],
            "judge_n": w["n"], "judge_calls": calls, "judge_seconds": round(seconds, 3)}


class AnchorReporter:
    """Wraps a trial's `report`: each epoch gains its win rate against the anchor's answers."""

    def __init__(self, report: Report, spec: TrainingSpec, run_dir: Path, cfg: ExperimentConfig,
                 anchor_id: str, make_pairwise: PairwiseFactory = default_pairwise) -> None:
        self._report, self.spec, self.anchor_id = report, spec, anchor_id
        self._run_dir, self._cfg, self._make_pairwise = Path(run_dir), cfg, make_pairwise
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"judge-{spec.training_id}")
        self._pending: tuple[dict[str, Any], Future[dict[str, Any]]] | None = None
        self._pairwise: Any = None
        self._items: tuple[list[Example], list[str]] | None = None

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
        pairwise = self._judge()
        assert self._items is not None
        val, anchor = self._items
        answers = AnswerStore(self._run_dir).read(candidate_id).answers
        items = [ComparisonItem(ex.instruction, ex.input, a, b)
                 for ex, a, b in zip(val, answers, anchor, strict=True)]
        calls, t0 = pairwise.calls, time.monotonic()
        outcomes = pairwise.compare(items)
        return judged_metrics(outcomes, pairwise.calls - calls, time.monotonic() - t0)

    def _judge(self) -> Any:
        """Built on first use, on the judge thread, so setup never delays training."""
        if self._pairwise is None:
            from hpo.data import read_jsonl

            val = read_jsonl(self._run_dir / "data" / "validation.jsonl")
            anchor = AnswerStore(self._run_dir).read(self.anchor_id).answers
            self._items = (val, anchor)
            self._pairwise = self._make_pairwise(self._cfg, self._run_dir, val)
        return self._pairwise

    def _shutdown(self) -> None:
        self._pool.shutdown(wait=True)
        if self._pairwise is not None:
            store = getattr(self._pairwise, "store", None)
            if store is not None:
                store.close()
            backend = getattr(self._pairwise, "backend", None)
            if backend is not None:
                backend.close()
            self._pairwise = None


@dataclass(frozen=True)
class AnchorReporterFactory:
    """Picklable `wrap_report` for run_trials: an AnchorReporter against `anchor_id`."""

    anchor_id: str
    make_pairwise: PairwiseFactory = default_pairwise

    def __call__(self, report: Report, spec: TrainingSpec, run_dir: Path,
                 cfg: ExperimentConfig) -> AnchorReporter:
        return AnchorReporter(report, spec, run_dir, cfg, self.anchor_id, self.make_pairwise)
