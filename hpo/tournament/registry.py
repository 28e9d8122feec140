"""The tournament strategy registry: name -> strategy class, imported lazily."""

from __future__ import annotations

from typing import Any

from hpo.errors import ConfigError
from hpo.registry import Registry
from hpo.tournament.base import Strategy

STRATEGIES = Registry(
    "tournament strategy",
    {
        "blocked": "hpo.tournament.blocked:BlockedStrategy",
        "round_robin": "hpo.tournament.round_robin:RoundRobinStrategy",
        "knockout": "hpo.tournament.knockout:KnockoutStrategy",
        "playoff": "hpo.tournament.playoff:PlayoffStrategy",
        "halving": "hpo.tournament.halving:HalvingStrategy",
        "racing": "hpo.tournament.racing:RacingStrategy",
        # no judge: the lowest validation loss (the cheap baseline, run on purpose)
        "val_loss": "hpo.tournament.val_loss:ValLossStrategy",
        # outside baselines: dueling-bandit algorithms on the same judge budget
        "rucb": "hpo.tournament.rucb:RUCBStrategy",
        "dts": "hpo.tournament.dts:DTSStrategy",
        "beat_the_mean": "hpo.tournament.beat_the_mean:BeatTheMeanStrategy",
    },
)


def make_strategy(name: str, **options: Any) -> Strategy:
    """Build strategy `name` with `options`; an unknown name or option is a ConfigError."""
    factory = STRATEGIES.load(name)
    try:
        strategy: Strategy = factory(**options)
    except TypeError as exc:
        raise ConfigError(f"bad options for tournament strategy '{name}': {exc}") from exc
    return strategy


def max_calls(name: str, n_candidates: int, n_items: int, **options: Any) -> int:
    """Strategy `name`'s own worst case in judge calls (what `--dry-run` prints)."""
    return make_strategy(name, **options).max_calls(n_candidates, n_items)
