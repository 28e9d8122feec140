"""The train stage: the plan's trainings as Ray Tune trials, by a pluggable `TrainMethod`.

The grid (`hpo.search.grid.GridTraining`) runs every planned training; adaptive search (a
searcher/scheduler with a per-epoch judge reporter) is `hpo.search.adaptive.runner.
AdaptiveTraining`, chosen when `search.adaptive` is set; synchronous successive halving
(`search.scheduler: halving`) is `hpo.search.adaptive.halving.HalvingTraining`.
"""

from __future__ import annotations

from hpo.config.schema import ExperimentConfig
from hpo.search.method import TrainMethod


def train_method(cfg: ExperimentConfig) -> TrainMethod:
    """The grid as planned, or the adaptive plug-in."""
    if cfg.search.scheduler == "halving":
        from hpo.search.adaptive.halving import HalvingTraining

        return HalvingTraining()
    if cfg.search.adaptive:
        from hpo.search.adaptive.runner import AdaptiveTraining

        return AdaptiveTraining()
    from hpo.search.grid import GridTraining

    return GridTraining()
