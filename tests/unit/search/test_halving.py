"""Synchronous successive halving's pure parts: the rounds, the epoch budget `--dry-run` prints,
who survives a rung, how a rung is ranked, and the config it is driven by."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from hpo.cli import main
from hpo.config.schema import ExperimentConfig, SearchConfig
from hpo.errors import ConfigError
from hpo.search.adaptive.rung_match import rung_scores
from hpo.search.adaptive.rungs import (
    check_rungs,
    epoch_budget,
    schedule,
    survivors,
    training_epochs,
)
from hpo.tournament.base import MatchRecord


def cfg(**search: Any) -> ExperimentConfig:
    return ExperimentConfig.model_validate({"search": search})


def test_paper_grid_schedule_halves_at_each_rung_then_trains_survivors_to_the_end() -> None:
    rounds = schedule(16, [1, 2, 3], 5, 2)
    assert [(r.epoch, r.live, r.keep) for r in rounds] == [(1, 16, 8), (2, 8, 4), (3, 4, 2), (5, 2, 2)]
    assert [r.decides for r in rounds] == [True, True, True, False]
    assert training_epochs(rounds) == 16 + 8 + 4 + 2 * 2  # 32 of the grid's 80


def test_schedule_keeps_at_least_one_and_rounds_up() -> None:
    assert [r.keep for r in schedule(5, [1, 2, 3], 4, 3)] == [2, 1, 1, 1]
    assert [r.keep for r in schedule(3, [1], 2, 2)] == [2, 2]
    assert training_epochs(schedule(4, [2], 3, 4)) == 4 * 2 + 1


def test_survivors_are_the_head_of_the_ranking() -> None:
    assert survivors(["b", "a", "c"], 2) == ["b", "a"]
    with pytest.raises(ValueError):
        survivors(["a"], 0)


def test_rungs_must_be_checkpoints_before_the_last_epoch() -> None:
    check_rungs([1, 2, 3], [1, 2, 3, 4, 5], 5)
    with pytest.raises(ConfigError, match="must be < the trainings' 5 epochs"):
        check_rungs([1, 5], [1, 2, 3, 4, 5], 5)
    with pytest.raises(ConfigError, match=r"\[2\] are not checkpoint epochs"):
        check_rungs([2], [1, 3, 5], 5)


def test_epoch_budget_per_mode_next_to_the_grid() -> None:
    grid, halving = epoch_budget(cfg(), 16, 5), epoch_budget(cfg(scheduler="halving"), 16, 5)
    assert (grid.grid, grid.worst, grid.expected) == (80, 80, 80)
    assert (halving.worst, halving.expected) == (32, 32)
    assert "at most 32, expected 32 (40% of the grid's 80" in halving.line()
    asha = epoch_budget(cfg(scheduler="asha"), 16, 5)
    assert asha.worst == 80 and halving.expected < asha.expected <= 80


def test_halving_config_is_checked() -> None:
    with pytest.raises(ValidationError, match="strictly increasing"):
        SearchConfig.model_validate({"scheduler": "halving", "halving": {"rungs": [2, 2]}})
    with pytest.raises(ValidationError, match="use search 'grid'"):
        SearchConfig.model_validate({"scheduler": "halving", "search": "optuna"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        SearchConfig.model_validate({"halving": {"eta": 2, "rung": [1]}})
    assert not SearchConfig(scheduler="halving").needs_anchor and SearchConfig(scheduler="asha").needs_anchor


def match(a: str, b: str, wins: int, losses: int) -> MatchRecord:
    return MatchRecord(a, b, wins, losses, 0, 0, b if losses > wins else a, wins + losses,
                       wins + losses, 0)


def test_rung_scores_rank_the_strongest_first() -> None:
    ms = [match("a", "b", 1, 9), match("a", "c", 2, 8), match("b", "c", 8, 2)]
    scores = rung_scores(ms, ["a", "b", "c"])
    assert sorted(scores, key=lambda c: -scores[c]) == ["b", "c", "a"]


def test_rung_stop_ends_a_trial_at_its_round_epoch() -> None:
    from ray.tune.schedulers import TrialScheduler

    from hpo.search.adaptive.halving import RungStop

    stop = RungStop({"t1": 2})
    trial = SimpleNamespace(config={"spec_id": "t1"})
    assert stop.on_trial_result(None, trial, {"epoch": 1}) == TrialScheduler.CONTINUE
    assert stop.on_trial_result(None, trial, {"epoch": 2}) == TrialScheduler.STOP
    other = SimpleNamespace(config={"spec_id": "baseline"})
    assert stop.on_trial_result(None, other, {"epoch": 3}) == TrialScheduler.CONTINUE


def test_a_training_ends_only_when_failed_finished_or_stopped_by_a_rung() -> None:
    from hpo.search.adaptive.halving import RoundEvents

    ended: list[tuple[str, str | None]] = []
    events = SimpleNamespace(on_result=lambda t, r: None, on_end=lambda t, e: ended.append((t, e)))
    plan = SimpleNamespace(training=lambda t: SimpleNamespace(epochs=3))
    rounds = RoundEvents(SimpleNamespace(events=events), plan)  # type: ignore[arg-type]
    for t in ("a", "b", "c"):
        rounds.on_result(t, {"epoch": 1})
    rounds.on_result("c", {"epoch": 3})
    rounds.on_end("a", None)  # stopped at the rung epoch: not over yet
    rounds.on_end("b", "boom")
    rounds.on_end("c", None)
    assert ended == [("b", "boom"), ("c", None)]
    rounds.stopped(["a", "b"])
    assert ended[-1] == ("a", None) and len(ended) == 3


def test_dry_run_prints_the_halving_epoch_bound(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", "--dry-run", "--run-root", str(tmp_path), "--set", "search.scheduler=halving",
               "--set", "search.halving.rungs=[1,2]", "--set", "search.halving.eta=4"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "halving on judge: at most 23, expected 23 (29% of the grid's 80" in out  # 16 + 4 + 1 x 3
    assert not list(tmp_path.iterdir())


def test_dry_run_refuses_a_rung_that_is_not_before_the_last_epoch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", "--dry-run", "--run-root", str(tmp_path), "--set", "search.scheduler=halving",
               "--set", "search.halving.rungs=[5]"])
    assert rc == 2 and "search.halving.rungs [5]: each must be < the trainings' 5 epochs" in capsys.readouterr().err


@pytest.mark.parametrize("experiment", ["experiments/tiny-cpu-sh.yaml", "experiments/bloom-7b-sh.yaml"])
def test_halving_experiments_dry_run_at_two_fifths_of_the_grid(
        experiment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped halving experiments plan (no weights, GPU or judge needed for a dry run)."""
    rc = main(["run", "--dry-run", "-e", experiment, "--run-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "halving on judge: at most 32, expected 32 (40% of the grid's 80" in out
    assert "rung judging     at most" in out
