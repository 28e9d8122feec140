"""The judge stage hands the decide stage a frozen `TournamentOutcome`, not a dict."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_type_hints

import pytest

from hpo.answers import AnswerStore
from hpo.config import ExperimentConfig, TournamentConfig
from hpo.feed import CandidateFeed
from hpo.judging import build_backend
from hpo.plan import Plan
from hpo.run.inputs import Workspace
from hpo.run.judge import run_tournament
from hpo.rundir import RunDir
from hpo.search_space import SearchSpace
from hpo.tracking.null import NullTracker
from hpo.train_plugin import Trained
from hpo.types import Example, TrainingSpec

VAL = [Example(f"what is {i} + {i}?", "", str(2 * i), id=str(i)) for i in range(4)]
RIGHT = {"adamw": 4, "sgd": 1}  # how many of VAL each training answers right


def staged(tmp_path: Path, with_baseline: bool) -> tuple[Workspace, Trained]:
    """Answers on disk for one epoch of each training (and the baseline), all ready."""
    specs = [TrainingSpec(optimizer=o, lr=1e-4, scheduler="cosine", epochs=1) for o in RIGHT]
    base = TrainingSpec(optimizer="adamw", lr=2e-5, scheduler="cosine", epochs=1, tag="baseline")
    plan = Plan(SearchSpace(specs, [1]), base.candidates()[0] if with_baseline else None)
    store = AnswerStore(tmp_path)
    for spec in specs + ([base] if with_baseline else []):
        right = RIGHT.get(spec.optimizer, 0) if not spec.tag else 2
        outputs = [ex.output if i < right else "no idea" for i, ex in enumerate(VAL)]
        store.write(spec, 1, VAL, [str(o) for o in outputs], {"validation_loss": 1.0})
    feed = CandidateFeed([c.candidate_id for c in plan.candidates])
    for cid in [c.candidate_id for c in plan.candidates] + [base.candidate_id(1)]:
        feed.ready(cid)
    cfg = ExperimentConfig()
    ws = Workspace(RunDir(tmp_path), store, NullTracker(), build_backend(cfg.judge, VAL))
    return ws, Trained(plan, feed)


def test_the_judge_stage_returns_a_frozen_outcome(tmp_path: Path) -> None:
    from hpo.run.outcome import TournamentOutcome

    assert get_type_hints(run_tournament)["return"] is TournamentOutcome
    cfg = ExperimentConfig(tournament=TournamentConfig(strategy="round_robin"))
    ws, trained = staged(tmp_path, with_baseline=True)
    outcome = run_tournament(cfg, ws, VAL, trained, say=lambda line: None)
    assert isinstance(outcome, TournamentOutcome)
    assert outcome.winner == "adamw-lr1e-04-cosine-ep1" == outcome.ranking[0]
    assert outcome.baseline is not None and outcome.baseline.b == "baseline-adamw-lr2e-05-cosine-ep1"
    assert outcome.baseline.wins == 2 and outcome.forfeits == frozenset()
    assert outcome.played() == outcome.matches and outcome.judge_calls > 0
    assert outcome.judge_stats["calls"] >= outcome.judge_calls
    assert outcome.confidence is not None and outcome.confidence.winner == outcome.winner
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.baseline = None  # type: ignore[misc]
