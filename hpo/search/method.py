"""The train stage's plug-in interface: how the plan's trainings become candidates' answers.

`hpo.search.grid.GridTraining` runs the plan's grid as it stands; `hpo.search.adaptive.runner.
AdaptiveTraining` trains an anchor, lets a searcher/scheduler with the judge in the loop choose
what to train, and returns the candidates the search produced. Both report each checkpoint
epoch and each training's end to `TrainContext.events` (the run's recorder), which marks the
candidate feed, logs to the tracker and prints progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hpo.config.schema import ExperimentConfig
from hpo.reporting.progress import Progress
from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.rundir.layout import RunDir
from hpo.search.plan import Plan
from hpo.search.tuner import TrialEvents


@dataclass(frozen=True)
class TrainContext:
    """What training needs from the run; shared read-only by the stages that follow."""

    cfg: ExperimentConfig
    rd: RunDir
    store: AnswerStore
    events: TrialEvents
    progress: Progress
    # True once trainings should end after their current checkpoint (the judge is gone)
    stop: Callable[[], bool] | None = None


@dataclass(frozen=True)
class Trained:
    """The train stage's value: the candidates to decide between and their availability."""

    plan: Plan
    feed: CandidateFeed


class TrainMethod(Protocol):
    """One way to train a plan. `known_upfront`: candidates are known before training starts,
    so the tournament may judge them while others still train."""

    known_upfront: bool

    def train(self, ctx: TrainContext, plan: Plan, feed: CandidateFeed) -> Trained: ...


def planned_ids(plan: Plan) -> list[str]:
    """Every candidate the plan asks for, baseline last."""
    base = [plan.baseline.candidate_id] if plan.baseline else []
    return [c.candidate_id for c in plan.candidates] + base


def feed_from_disk(store: AnswerStore, planned: list[str]) -> CandidateFeed:
    """A feed where every candidate whose answers are stored is already ready (resume)."""
    feed = CandidateFeed(planned)
    for cid in planned:
        if store.exists(cid):
            feed.ready(cid)
    return feed
