"""Each tournament strategy owns its options: a tournament option the chosen strategy does not
take, set by the user, fails config loading with one line; defaults it ignores are fine."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.config import load_config
from hpo.errors import ConfigError
from hpo.experiment import load_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "hpo" / "assets" / "experiments"


def test_an_option_the_strategy_does_not_take_fails_naming_it() -> None:
    with pytest.raises(ConfigError) as err:
        load_experiment(None, {"tournament.strategy": "knockout", "tournament.blocks": 3})
    line = str(err.value)
    assert "\n" not in line
    assert "tournament.blocks" in line and "'knockout'" in line and "early_decision" in line


@pytest.mark.parametrize(("strategy", "option", "value"), [
    ("val_loss", "early_decision", False), ("round_robin", "pipeline", True),
    ("halving", "order", "training"), ("rucb", "blocks", 2)])
def test_inapplicable_options_fail_for_each_strategy(strategy: str, option: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"tournament.{option}.*'{strategy}'"):
        load_experiment(None, {"tournament.strategy": strategy, f"tournament.{option}": value})


def test_defaults_a_strategy_does_not_use_are_not_errors() -> None:
    assert load_experiment(None, {"tournament.strategy": "knockout"}).tournament.blocks == 4
    cfg = load_experiment(None, {"tournament.strategy": "blocked", "tournament.blocks": 2,
                                 "tournament.pipeline": True, "tournament.order": "training"})
    assert cfg.tournament.blocks == 2
    # a stored run's config.yaml is complete (every field set): it is not re-checked
    assert load_config(None, {"tournament.strategy": "val_loss", "tournament.blocks": 4})


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiments_still_load(path: Path) -> None:
    assert load_experiment(path).tournament.strategy
