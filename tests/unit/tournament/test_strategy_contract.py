"""Every registered tournament strategy passes `hpo.testing.contracts.StrategyContract`: one
subclass each; a strategy registered without one fails `test_every_registered_strategy_is_covered`."""

from __future__ import annotations

from hpo.testing.contracts import StrategyContract
from hpo.testing.simulate import SimulatedJudge
from hpo.tournament.base import Hooks
from hpo.tournament.registry import STRATEGIES


class TestBlocked(StrategyContract):
    name = "blocked"


class TestBlockedTrainingOrder(StrategyContract):
    name = "blocked"

    def options(self) -> dict[str, object]:
        return {"blocks": 3, "order": "training", "early_decision": False}


class TestRoundRobin(StrategyContract):
    name = "round_robin"


class TestKnockout(StrategyContract):
    name = "knockout"


class TestPlayoff(StrategyContract):
    name = "playoff"


class TestHalving(StrategyContract):
    name = "halving"


class TestRacing(StrategyContract):
    name = "racing"


class TestValLoss(StrategyContract):
    name = "val_loss"

    def hooks(self, judge: SimulatedJudge) -> Hooks:
        """Lower loss for higher quality; one candidate without a loss (ranked last)."""
        losses = {c: None if k == 4 else 2.0 - judge.quality[c] for k, c in enumerate(judge.ids)}
        return Hooks(losses=losses.get)


class TestRUCB(StrategyContract):
    name = "rucb"


class TestDTS(StrategyContract):
    name = "dts"


class TestBeatTheMean(StrategyContract):
    name = "beat_the_mean"


def test_every_registered_strategy_is_covered() -> None:
    covered = {cls.name for cls in StrategyContract.__subclasses__()}
    missing = sorted(set(STRATEGIES.names()) - covered)
    assert not missing, f"registered strategies without a StrategyContract subclass here: {missing}"
