"""Each tournament strategy owns its options: a tournament option the chosen strategy does not
take, set by the user, fails config loading with one line; defaults it ignores are fine."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.config.schema import load_config
from hpo.errors import ConfigError
from hpo.run.experiment import load_experiment

EXPERIMENTS = Path(__file__).resolve().parents[3] / "hpo" / "assets" / "experiments"


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


@pytest.mark.parametrize("strategy", ["racing", "knockout", "val_loss"])
def test_a_flag_naming_another_strategy_drops_the_files_options_it_does_not_take(strategy: str) -> None:
    """`hpo run -e experiments/tiny-cpu.yaml --strategy racing`: the file's `blocks: 4` belongs
    to its `blocked` strategy, so a flag that names another strategy drops it (as `--judge` does
    with the file's judge options); an option given beside the flag is still checked."""
    cfg = load_experiment(EXPERIMENTS / "tiny-cpu.yaml", {"tournament.strategy": strategy})
    assert cfg.tournament.strategy == strategy and "blocks" not in cfg.tournament.model_fields_set
    with pytest.raises(ConfigError, match=f"tournament.blocks.*'{strategy}'"):
        load_experiment(EXPERIMENTS / "tiny-cpu.yaml", {"tournament.strategy": strategy,
                                                        "tournament.blocks": 2})


def test_a_file_that_names_its_strategy_and_an_option_it_does_not_take_still_fails(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("tournament:\n  strategy: knockout\n  blocks: 3\n")
    for overrides in (None, {"tournament.strategy": "knockout"}):
        with pytest.raises(ConfigError, match="tournament.blocks.*'knockout'"):
            load_experiment(path, overrides)
