"""Win rate against the anchor, and the AnchorReporter that adds it to epoch reports."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.data import write_jsonl
from hpo.rundir.answers import AnswerStore
from hpo.search.adaptive.reporter import AnchorJudge, AnchorReporter, AnchorReporterFactory
from hpo.search.adaptive.winrate import winrate
from hpo.types import Example, TrainingSpec
from judge.pairwise import PairwiseJudge
from judge.store import VerdictStore
from judge.types import JudgeRequest, Judgment, Verdict


def test_winrate_counts_ties_half_and_skips_invalid() -> None:
    w = winrate([1, 1, -1, 0, None, 0])
    assert (w["wins"], w["losses"], w["ties"], w["invalid"], w["n"]) == (2, 1, 2, 1, 5)
    assert w["judge_winrate"] == pytest.approx((2 + 0.5 * 2) / 5)


def test_winrate_extremes_and_no_evidence() -> None:
    assert winrate([1, 1, 1])["judge_winrate"] == 1.0
    assert winrate([-1, -1])["judge_winrate"] == 0.0
    assert winrate([0])["judge_winrate"] == 0.5
    empty = winrate([None, None])
    assert empty["judge_winrate"] == 0.5 and empty["n"] == 0 and empty["invalid"] == 2


class LongerWins:
    """Counts single-order judgments; the longer response wins, equal lengths tie."""

    identity = "longer"

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.judged = 0
        self.gate = gate

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        if self.gate is not None:
            assert self.gate.wait(5)
        self.judged += len(requests)
        out = []
        for r in requests:
            d = len(r.response1) - len(r.response2)
            out.append(Judgment(Verdict.TIE if d == 0 else Verdict.RESPONSE1 if d > 0 else Verdict.RESPONSE2))
        return out

    def close(self) -> None:
        pass


VAL = [Example(f"q{i}", "", "ref", id=f"v{i}") for i in range(4)]
SPEC = TrainingSpec("adamw", 1e-3, "cosine", epochs=2)
ANCHOR = TrainingSpec("adamw", 2e-5, "cosine", epochs=1, tag="baseline")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    write_jsonl(VAL, tmp_path / "data" / "validation.jsonl")
    store = AnswerStore(tmp_path)
    store.write(ANCHOR, 1, VAL, ["aa"] * 4, {})
    store.write(SPEC, 1, VAL, ["aaa", "aaa", "a", "bb"], {})  # 2 wins, 1 loss, 1 tie
    store.write(SPEC, 2, VAL, ["aaa"] * 4, {})  # 4 wins
    return tmp_path


def pairwise_with(backend: LongerWins) -> Any:
    def make(cfg: ExperimentConfig, run_dir: Path, val: list[Example]) -> PairwiseJudge:
        return PairwiseJudge(backend, VerdictStore(run_dir / "verdicts.sqlite"))
    return make


def epoch(e: int) -> dict[str, Any]:
    return {"epoch": e, "candidate_id": SPEC.candidate_id(e), "training_id": SPEC.training_id}


def test_reporter_holds_each_epoch_until_the_next_and_adds_win_rate(run_dir: Path) -> None:
    got: list[dict[str, Any]] = []
    backend = LongerWins()
    rep = AnchorReporter(got.append, SPEC, run_dir, ExperimentConfig(), ANCHOR.candidate_id(1),
                         pairwise_with(backend))
    rep(epoch(1))
    assert got == []  # judged beside training, emitted with the next report
    rep(epoch(2))
    assert [r["epoch"] for r in got] == [1]
    rep.close()
    assert [r["epoch"] for r in got] == [1, 2]
    assert got[0]["judge_winrate"] == pytest.approx(2.5 / 4)
    assert (got[0]["judge_wins"], got[0]["judge_losses"], got[0]["judge_ties"]) == (2, 1, 1)
    assert got[1]["judge_winrate"] == 1.0 and got[1]["candidate_id"] == SPEC.candidate_id(2)
    # both orders x 4 items x 2 epochs, less epoch 2's q0/q1: the same answers as epoch 1 (stored)
    assert backend.judged == 2 * 4 * 2 - 4


def test_training_is_not_blocked_by_a_slow_judge(run_dir: Path) -> None:
    gate = threading.Event()
    got: list[dict[str, Any]] = []
    rep = AnchorReporter(got.append, SPEC, run_dir, ExperimentConfig(), ANCHOR.candidate_id(1),
                         pairwise_with(LongerWins(gate)))
    rep(epoch(1))  # returns although the judge is still blocked
    gate.set()
    rep.close()
    assert got[0]["judge_winrate"] == pytest.approx(2.5 / 4)


def test_resumed_trial_does_not_rejudge_stored_judgments(run_dir: Path) -> None:
    first, second = LongerWins(), LongerWins()
    factory = AnchorReporterFactory(ANCHOR.candidate_id(1), pairwise_with(first))
    rep = factory(lambda r: None, SPEC, run_dir, ExperimentConfig())
    rep(epoch(1))
    rep.close()
    got: list[dict[str, Any]] = []
    again = AnchorReporter(got.append, SPEC, run_dir, ExperimentConfig(), ANCHOR.candidate_id(1),
                           pairwise_with(second))
    again(epoch(1))
    again.close()
    assert first.judged == 8 and second.judged == 0
    assert got[0]["judge_calls"] == 0 and got[0]["judge_winrate"] == pytest.approx(2.5 / 4)
    with VerdictStore(run_dir / "verdicts.sqlite") as store:
        assert store.count() == 8


def test_stop_signal_while_emitting_releases_the_judge(run_dir: Path) -> None:
    def stopping(result: dict[str, Any]) -> None:
        raise SystemExit(0)  # what Ray Tune's report does when a scheduler stops the trial

    rep = AnchorReporter(stopping, SPEC, run_dir, ExperimentConfig(), ANCHOR.candidate_id(1),
                         pairwise_with(LongerWins()))
    rep(epoch(1))
    with pytest.raises(SystemExit):
        rep(epoch(2))
    assert rep._pairwise is None and rep._pending is None


def test_reports_without_a_candidate_pass_through(run_dir: Path) -> None:
    got: list[dict[str, Any]] = []
    rep = AnchorReporter(got.append, SPEC, run_dir, ExperimentConfig(), ANCHOR.candidate_id(1),
                         pairwise_with(LongerWins()))
    rep({"epoch": 1, "train_loss": 1.0})
    rep.close()
    assert got == [{"epoch": 1, "train_loss": 1.0}]


def test_remote_trial_judges_through_the_driver_and_opens_no_store(run_dir: Path, tmp_path: Path) -> None:
    """A trial on another node (`run.transport: ray`) has a scratch folder with its own answers
    only; it sends them to the driver's AnchorJudge (an actor in a real run), which alone opens
    the run folder's verdict store. Nothing named verdicts.sqlite appears in the trial's folder."""
    scratch = tmp_path / "scratch"
    write_jsonl(VAL, scratch / "data" / "validation.jsonl")
    AnswerStore(scratch).write(SPEC, 1, VAL, ["aaa", "aaa", "a", "bb"], {})
    backend = LongerWins()
    driver = AnchorJudge(ExperimentConfig(), run_dir, ANCHOR.candidate_id(1), pairwise_with(backend))
    factory = AnchorReporterFactory(ANCHOR.candidate_id(1), remote=driver)  # type: ignore[arg-type]
    got: list[dict[str, Any]] = []
    rep = factory(got.append, SPEC, scratch, ExperimentConfig())
    rep(epoch(1))
    rep.close()
    assert got[0]["judge_winrate"] == pytest.approx(2.5 / 4) and backend.judged == 8
    assert not list(scratch.rglob("verdicts.sqlite*"))
    with VerdictStore(run_dir / "verdicts.sqlite") as store:
        assert store.count() == 8
