"""Trackers record params, metrics and artifacts. One Protocol, one module per implementation."""

from hpo.registry import Registry

TRACKERS = Registry("tracker", {"mlflow": "hpo.tracking.mlflow_tracker:MlflowTracker",
                                "none": "hpo.tracking.null:NullTracker"})
