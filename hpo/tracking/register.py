"""`--register-winner NAME`: the winner's weights in the MLflow model registry.

The winner's checkpoint (`weights/<candidate_id>/`, kept by `train.keep_weights: best|all`) is
loaded and logged on the parent run with MLflow's transformers flavour (task text-generation),
then registered as a new version of model NAME. A LoRA winner is its adapter: MLflow stores the
adapter and names the base model, which must be at hand wherever the version is loaded.

What it costs: MLflow 3.17's transformers flavour cannot log a checkpoint folder as it is (its
path mode fails on transformers 5), so the model is loaded into memory and written again into
the artifact store: for a 7B model in bf16 about 14 GB of memory and 14 GB more disk, minutes
of writing; an adapter is megabytes. Off by default.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpo.config.secrets import split_credentials
from hpo.errors import StorageError
from hpo.tracking.base import Tracker

TASK = "text-generation"


def register_winner(tracker: Tracker, parent_id: str, weights: Path, name: str) -> str:
    """Log `weights` on the parent run with the transformers flavour and register them as
    `name`; returns the new model version. The parent keeps its status (FINISHED)."""
    import mlflow

    if tracker.uri is None:
        raise StorageError(f"cannot register {name}: the tracker keeps no runs (tracking.backend: none)")
    if not (weights / "config.json").is_file() and not (weights / "adapter_config.json").is_file():
        raise StorageError(f"cannot register {name}: no weights at {weights}")
    components = load_components(weights)
    with _tracking(tracker.uri), mlflow.start_run(run_id=parent_id):
        info = mlflow.transformers.log_model(
            components, name="winner", task=TASK, registered_model_name=name,
            pip_requirements=["torch", "transformers", "peft"])  # inferring them wants torchvision
    return str(info.registered_model_version)


def load_components(weights: Path) -> dict[str, Any]:
    """The checkpoint's model (a PEFT model for an adapter) and tokenizer, in their saved dtype."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (weights / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(weights, dtype="auto")
    else:
        model = AutoModelForCausalLM.from_pretrained(weights, dtype="auto")
    return {"model": model, "tokenizer": AutoTokenizer.from_pretrained(weights)}


@contextlib.contextmanager
def _tracking(uri: str) -> Iterator[None]:
    """MLflow's global tracking URI set to `uri` for the block, its password (if any) in
    MLflow's credential variables rather than in the URI MLflow prints, the flavour's warnings
    quiet; all restored after."""
    import mlflow

    plain, user, password = split_credentials(uri) if uri.startswith(("http://", "https://")) else (uri, None, None)
    saved_uri = mlflow.get_tracking_uri()
    log = logging.getLogger("mlflow.transformers")  # its model-card and licence warnings look up
    saved_level = log.level                         # the Hub for a local folder: noise here
    log.setLevel(logging.ERROR)
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    if password is not None:
        os.environ.update(MLFLOW_TRACKING_USERNAME=user or "", MLFLOW_TRACKING_PASSWORD=password)
    mlflow.set_tracking_uri(plain)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uri)
        log.setLevel(saved_level)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
