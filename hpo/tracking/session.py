"""Opens the configured tracker with the run root's defaults."""

from __future__ import annotations

from pathlib import Path

from hpo.config.schema import ExperimentConfig
from hpo.tracking.base import Tracker
from judge.atomic import storage_error


def default_uri(cfg: ExperimentConfig) -> str:
    return cfg.tracking.uri or f"sqlite:///{Path(cfg.run_root).resolve()}/mlflow.db"


def open_tracker(cfg: ExperimentConfig) -> Tracker:
    from hpo.tracking import TRACKERS

    root = Path(cfg.run_root)
    if cfg.tracking.backend == "mlflow" and not cfg.tracking.uri:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(root, exc) from None
    return TRACKERS.create(cfg.tracking.backend, uri=default_uri(cfg),
                           experiment=cfg.tracking.experiment,
                           artifact_root=root.resolve() / "mlartifacts")
