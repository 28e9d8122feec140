"""The tournament strategy registry: name -> strategy class, imported lazily."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from hpo.errors import ConfigError
from hpo.tournament.base import Hooks, Strategy
from judge.plugins import Registry

STRATEGIES = Registry(
    "tournament strategy",
    {
        "blocked": "hpo.tournament.strategies.blocked:BlockedStrategy",
        "round_robin": "hpo.tournament.strategies.round_robin:RoundRobinStrategy",
        "knockout": "hpo.tournament.strategies.knockout:KnockoutStrategy",
        "playoff": "hpo.tournament.strategies.playoff:PlayoffStrategy",
        "halving": "hpo.tournament.strategies.halving:HalvingStrategy",
        "racing": "hpo.tournament.strategies.racing:RacingStrategy",
        # no judge: the lowest validation loss (the cheap baseline, run on purpose)
        "val_loss": "hpo.tournament.strategies.val_loss:ValLossStrategy",
        # outside baselines: dueling-bandit algorithms on the same judge budget
        "rucb": "hpo.tournament.strategies.rucb:RUCBStrategy",
        "dts": "hpo.tournament.strategies.dts:DTSStrategy",
        "beat_the_mean": "hpo.tournament.strategies.beat_the_mean:BeatTheMeanStrategy",
    },
)


def option_names(name: str) -> tuple[str, ...]:
    """The options strategy `name` declares (the fields of its `options_type`), in order."""
    return tuple(f.name for f in fields(STRATEGIES.load(name).options_type))


def strategy_options(name: str, options: Mapping[str, Any]) -> Any:
    """Strategy `name`'s options object; an option it does not declare, or a bad value, is a
    one-line ConfigError naming the options it does take."""
    takes = option_names(name)
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise ConfigError(f"tournament strategy '{name}' takes no option '{unknown[0]}';"
                          f" its options: {', '.join(takes) or 'none'}")
    try:
        return STRATEGIES.load(name).options_type(**options)
    except TypeError as exc:
        raise ConfigError(f"bad options for tournament strategy '{name}': {exc}") from exc


def make_strategy(name: str, hooks: Hooks | None = None, **options: Any) -> Strategy:
    """Build strategy `name` from its own options. Of the run's `hooks`, it gets exactly those
    it declares in its `hooks` class attribute (e.g. `val_loss` gets `losses`)."""
    factory = STRATEGIES.load(name)
    given = hooks or Hooks()
    strategy: Strategy = factory(strategy_options(name, options),
                                 **{hook: getattr(given, hook) for hook in sorted(factory.hooks)})
    return strategy


def max_calls(name: str, n_candidates: int, n_items: int, **options: Any) -> int:
    """Strategy `name`'s own worst case in judge calls (what `--dry-run` prints)."""
    return make_strategy(name, **options).max_calls(n_candidates, n_items)
