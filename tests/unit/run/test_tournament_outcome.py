"""The judge stage hands the decide stage a frozen `TournamentOutcome`, not a dict."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import get_type_hints

import pytest

from hpo.config.schema import ExperimentConfig, TournamentConfig
from hpo.errors import TrialsFailedError
from hpo.run.decide import build_report
from hpo.run.inputs import Workspace
from hpo.run.judge import Background, judge_in_background, run_tournament
from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.rundir.layout import RunDir
from hpo.search.method import Trained
from hpo.search.plan import Plan
from hpo.search.space import SearchSpace
from hpo.tracking.null import NullTracker
from hpo.types import Example, TrainingSpec
from judge.types import JudgeBackend, JudgeRequest, Judgment, Verdict

VAL = [Example(f"what is {i} + {i}?", "", str(2 * i), id=str(i)) for i in range(4)]
RIGHT = {"adamw": 4, "sgd": 1, "lion": 0}  # how many of VAL each training answers right
GONE = "lion-lr1e-04-cosine-ep1"  # its training fails in the forfeit test


class ExactBackend:
    """A judge in-process and instant: the response equal to the reference wins, else a tie."""

    identity = "exact-test"

    def __init__(self) -> None:
        self.refs = {(ex.instruction, ex.input): ex.output for ex in VAL}

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        def one(r: JudgeRequest) -> Verdict:
            hit1, hit2 = (self.refs[(r.instruction, r.input)] == x for x in (r.response1, r.response2))
            return Verdict.TIE if hit1 == hit2 else Verdict.RESPONSE1 if hit1 else Verdict.RESPONSE2

        return [Judgment(one(r)) for r in requests]

    def close(self) -> None: ...


def staged(tmp_path: Path, gone: str | None = None) -> tuple[Workspace, Trained]:
    """Answers on disk for one epoch of each training and the baseline, all ready but `gone`."""
    specs = [TrainingSpec(optimizer=o, lr=1e-4, scheduler="cosine", epochs=1) for o in RIGHT]
    base = TrainingSpec(optimizer="adamw", lr=2e-5, scheduler="cosine", epochs=1, tag="baseline")
    plan = Plan(SearchSpace(specs, [1]), base.candidates()[0])
    store = AnswerStore(tmp_path)
    feed = CandidateFeed([c.candidate_id for c in plan.candidates] + [base.candidate_id(1)])
    for spec in [*specs, base]:
        right = 2 if spec.tag else RIGHT[spec.optimizer]
        outputs = [str(ex.output) if i < right else "no idea" for i, ex in enumerate(VAL)]
        if spec.candidate_id(1) == gone:
            feed.missing(gone, "training failed")
            continue
        store.write(spec, 1, VAL, outputs, {"validation_loss": 1.0})
        feed.ready(spec.candidate_id(1))
    backend = ExactBackend()
    assert isinstance(backend, JudgeBackend)
    ws = Workspace(RunDir(tmp_path), store, NullTracker(), backend)
    return ws, Trained(plan, feed)


def test_the_judge_stage_returns_a_frozen_outcome(tmp_path: Path) -> None:
    from hpo.run.outcome import TournamentOutcome

    assert get_type_hints(run_tournament)["return"] is TournamentOutcome
    assert get_type_hints(judge_in_background)["return"] == Background[TournamentOutcome]
    cfg = ExperimentConfig(tournament=TournamentConfig(strategy="round_robin"))
    ws, trained = staged(tmp_path)
    outcome = judge_in_background(cfg, ws, VAL, trained, say=lambda line: None).result()
    assert isinstance(outcome, TournamentOutcome)
    assert outcome.winner == "adamw-lr1e-04-cosine-ep1" == outcome.ranking[0]
    assert outcome.baseline is not None and outcome.baseline.b == "baseline-adamw-lr2e-05-cosine-ep1"
    assert outcome.baseline.wins == 2 and outcome.forfeits == frozenset()
    assert outcome.played() == outcome.matches and outcome.judge_calls > 0
    assert outcome.judge_stats["calls"] >= outcome.judge_calls
    assert outcome.confidence is not None and outcome.confidence.winner == outcome.winner
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.baseline = None  # type: ignore[misc]


def test_a_forfeit_is_kept_apart_from_the_played_matches_and_shown_in_the_report(tmp_path: Path) -> None:
    cfg = ExperimentConfig(tournament=TournamentConfig(strategy="round_robin"))
    ws, trained = staged(tmp_path, gone=GONE)
    outcome = run_tournament(cfg, ws, VAL, trained, say=lambda line: None)
    forfeited = [m for m in outcome.matches if GONE in (m.a, m.b)]
    assert len(forfeited) == 2 and outcome.forfeits == {(m.a, m.b) for m in forfeited}
    assert outcome.played() == [m for m in outcome.matches if m not in forfeited]
    report = build_report(cfg, trained, ws.store, outcome)
    assert [m["forfeit"] for m in report["matches"]] == [m in forfeited for m in outcome.matches]
    assert report["missing"] == {GONE: "training failed"} and GONE not in report["ranking"]
    assert report["judge_stats"] == dict(outcome.judge_stats) and report["winner"]["candidate_id"] == outcome.winner
    assert report["winner_confidence_set"] == outcome.confidence.to_dict()  # type: ignore[union-attr]
    assert report["judge_audit"] == outcome.audit.to_dict()


def test_background_returns_the_value_or_raises_the_error_in_the_caller() -> None:
    def fail() -> int:
        raise TrialsFailedError("no candidate produced answers")

    assert Background(lambda: 7, "ok").result() == 7
    failing = Background(fail, "fails")
    with pytest.raises(TrialsFailedError, match="no candidate"):
        failing.result()
    assert isinstance(failing.error(), TrialsFailedError)
