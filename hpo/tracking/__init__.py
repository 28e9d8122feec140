"""Trackers record params, metrics and artifacts. One Protocol, one module per implementation."""

from judge.plugins import Registry

TRACKERS = Registry("tracker", {"mlflow": "hpo.tracking.mlflow_tracker:MlflowTracker",
                                "none": "hpo.tracking.null:NullTracker"})
