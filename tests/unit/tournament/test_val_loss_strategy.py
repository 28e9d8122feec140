"""`tournament.strategy: val_loss` picks the lowest validation loss and never calls the judge."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from hpo.config.schema import ExperimentConfig, TournamentConfig
from hpo.errors import ConfigError
from hpo.run.judge import make_strategy, validation_losses
from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.tournament.base import Hooks, ItemOutcome
from hpo.tournament.registry import max_calls
from hpo.types import Example, TrainingSpec

LOSSES = {"c0": 2.5, "c1": 0.75, "c2": None, "c3": 1.25, "c4": 0.75}


class NoCallJudge:
    """Fails the test on any judgment."""

    n_items, calls = 10, 0

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        raise AssertionError(f"val_loss asked the judge about {a} vs {b}")


def test_val_loss_picks_the_lowest_loss_without_a_judge_call() -> None:
    cfg = ExperimentConfig(tournament=TournamentConfig(strategy="val_loss"))
    strategy = make_strategy(cfg, Hooks(losses=LOSSES.get))
    result = strategy.run(list(LOSSES), NoCallJudge(), seed=0)
    assert result.winner == "c1"  # equal losses: the lower id
    assert result.ranking == ["c1", "c4", "c3", "c0", "c2"]  # no loss ranks last
    assert (result.calls, result.matches, result.strategy) == (0, [], "val_loss")
    assert max_calls("val_loss", 80, 170) == 0
    with pytest.raises(ConfigError, match="needs the candidates' validation losses"):
        make_strategy(cfg).run(["c0"], NoCallJudge(), seed=0)


def test_losses_come_from_the_answers_and_wait_for_the_feed(tmp_path: Path) -> None:
    store, feed = AnswerStore(tmp_path), CandidateFeed(["adamw-lr1e-04-cosine-ep1", "gone"])
    spec = TrainingSpec(lr=1e-4, optimizer="adamw", scheduler="cosine", epochs=1)
    store.write(spec, 1, [Example("i", "x", "y")], ["y"], {"validation_loss": 1.5})
    feed.ready(spec.candidate_id(1))
    feed.missing("gone", "training failed")
    loss = validation_losses(store, feed)
    assert loss(spec.candidate_id(1)) == 1.5 and loss("gone") is None
