"""Searchers and schedulers by name, built for the judge win rate (`judge_winrate`, max).

    search.search:    grid (Ray's grid over the space's trainings) | optuna (TPE, seeded)
    search.scheduler: none | asha (stop trials whose win rate lags, at rungs of epochs)

The objective a searcher sees each epoch is the win rate against the anchor; the final
decision is still the tournament over every candidate the search produced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.errors import MissingDependencyError
from hpo.search.adaptive.space import TRIAL_INDEX, AdaptiveSpace
from judge.plugins import Registry

METRIC = "judge_winrate"
MODE = "max"
TIME_ATTR = "epoch"  # the epoch, not Ray's report count: right even with sparse checkpoints

SEARCHERS = Registry("searcher", {"grid": "hpo.search.adaptive.searchers:grid_search",
                                  "optuna": "hpo.search.adaptive.searchers:optuna_tpe"},
                     extras={"optuna": "tune"})
SCHEDULERS = Registry("scheduler", {"none": "hpo.search.adaptive.searchers:no_scheduler",
                                    "asha": "hpo.search.adaptive.searchers:asha"})


def make_trial_scheduler(cfg: ExperimentConfig, max_t: int) -> Any:
    """The configured trial scheduler (None for `none`); `max_t` is the trainings' epochs."""
    return SCHEDULERS.create(cfg.search.scheduler, cfg, max_t)


def make_search_alg(cfg: ExperimentConfig, space: AdaptiveSpace | None, start_index: int = 0,
                    history: list[tuple[dict[str, Any], float]] | None = None,
                    log: Path | None = None) -> Any:
    """The configured searcher (None for `grid`), numbering its trials from `start_index`.

    `history` (config, win rate) pairs from an interrupted run warm-start the searcher;
    every suggestion is appended to `log` (JSONL) before its trial starts, for resume.
    """
    return SEARCHERS.create(cfg.search.search, cfg, space, start_index, history or [], log)


def no_scheduler(cfg: ExperimentConfig, max_t: int) -> None:
    return None


def asha(cfg: ExperimentConfig, max_t: int) -> Any:
    """Async successive halving on the win rate; rungs at grace_period * rf^k epochs."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr=TIME_ATTR, metric=METRIC, mode=MODE, max_t=max_t,
                         grace_period=min(cfg.search.grace_period, max_t),
                         reduction_factor=cfg.search.reduction_factor)


def grid_search(cfg: ExperimentConfig, space: AdaptiveSpace | None, start_index: int,
                history: list[tuple[dict[str, Any], float]], log: Path | None) -> None:
    return None


def optuna_tpe(cfg: ExperimentConfig, space: AdaptiveSpace | None, start_index: int,
               history: list[tuple[dict[str, Any], float]], log: Path | None) -> Any:
    """OptunaSearch with a seeded TPE sampler, limited to max_concurrent live trials.

    The seed is train.seed + start_index: a resumed search does not redraw the random
    start-up configs it already tried.
    """
    try:
        from optuna.samplers import TPESampler
        from ray.tune.search.optuna import OptunaSearch
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "optuna", "tune", "search 'optuna'") from None
    n_startup = min(10, max(2, cfg.search.num_samples // 3))
    sampler = TPESampler(seed=cfg.train.seed + start_index, n_startup_trials=n_startup)
    points = [{k: v for k, v in c.items() if k != TRIAL_INDEX} for c, _ in history]
    search = OptunaSearch(metric=METRIC, mode=MODE, sampler=sampler,
                          points_to_evaluate=points or None,
                          evaluated_rewards=[r for _, r in history] or None)
    return numbered_limiter(search, cfg.search.max_concurrent, start_index, log)


def append_suggestion(log: Path, config: dict[str, Any]) -> None:
    """One JSON line per suggestion, flushed to disk before the trial starts."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as f:
        f.write(json.dumps(config, default=float) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_suggestions(log: Path) -> list[dict[str, Any]]:
    """Suggestions logged so far (a torn last line from a crash is ignored)."""
    if not log.is_file():
        return []
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def numbered_limiter(searcher: Any, max_concurrent: int, start_index: int,
                     log: Path | None = None) -> Any:
    """A ConcurrencyLimiter that also numbers each suggestion (`trial_index`) for unique ids."""
    from ray.tune.search import ConcurrencyLimiter, Searcher

    class NumberedLimiter(ConcurrencyLimiter):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(searcher, max_concurrent=max_concurrent)
            self.next_index = start_index

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            config = super().suggest(trial_id)
            if config in (None, Searcher.FINISHED):
                return config  # type: ignore[no-any-return]
            config = {**config, TRIAL_INDEX: self.next_index}
            self.next_index += 1
            if log is not None:
                append_suggestion(log, config)
            return config

    return NumberedLimiter()
