"""MLflow tracker over `MlflowClient`: thread-safe, explicit run ids, nested runs via parent tag."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpo.config.secrets import redact, redact_text, redact_url, split_credentials
from hpo.errors import ConfigError, StorageError

_MAX_PARAM = 6000


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = str(value)[:_MAX_PARAM]
    return out


def _cell(value: Any) -> Any:
    """One table cell: numbers and strings as they are, anything else as text (None -> "")."""
    if value is None:
        return ""
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def _client(client_type: Any, uri: str) -> Any:
    """An MlflowClient for `uri`. A tracking server's password rides in MLflow's host
    credentials, not in the URI it keeps, so what MLflow prints (`View run at: <uri>/#/...`)
    or raises never carries it."""
    plain, user, password = split_credentials(uri) if uri.startswith(("http://", "https://")) else (uri, None, None)
    client = client_type(tracking_uri=plain)
    if password is None:
        return client
    store = client._tracking_client.store
    base = store.get_host_creds

    def host_creds() -> Any:
        creds = base()
        creds.username, creds.password = user, password
        return creds
    store.get_host_creds = host_creds
    return client


class MlflowTracker:
    """Logs to any MLflow tracking URI (default: a local sqlite store in the run root)."""

    uri: str

    def __init__(self, uri: str, experiment: str = "hpo", artifact_root: Path | None = None):
        import mlflow
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self._mlflow = mlflow
        try:
            self.client = _client(MlflowClient, uri)
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None:
                location = artifact_root.resolve().as_uri() if artifact_root else None
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            else:
                self.experiment_id = exp.experiment_id
            # MLflow 3 opens an experiment in its GenAI (traces) view unless told it is training.
            self.client.set_experiment_tag(self.experiment_id, "mlflow.experimentKind",
                                           "custom_model_development")
        except Exception as exc:  # mlflow raises many types for a bad URI
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot open tracking URI {redact_url(uri)}: {redact_text(first)}") from None

    def start_run(self, name: str, params: Mapping[str, Any], tags: Mapping[str, str],
                  parent_id: str | None = None) -> str:
        all_tags = {k: redact_text(str(v)) for k, v in tags.items()}
        if parent_id:
            all_tags["mlflow.parentRunId"] = parent_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        self.log_params(run.info.run_id, params)
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(run_id).data.params
        fresh = [Param(k, v) for k, v in _flat(redact(params)).items() if k not in existing]
        for i in range(0, len(fresh), 100):
            self.client.log_batch(run_id, params=fresh[i:i + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        rows = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()
                if isinstance(v, (int, float)) and math.isfinite(float(v))]
        if rows:
            self.client.log_batch(run_id, metrics=rows)

    def log_series(self, run_id: str, key: str, points: Sequence[tuple[int, float]]) -> None:
        """A whole metric curve in a few batched calls (MLflow takes 1000 metrics per batch)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        rows = [Metric(key, float(v), now, int(step)) for step, v in points if math.isfinite(float(v))]
        for i in range(0, len(rows), 1000):
            self.client.log_batch(run_id, metrics=rows[i:i + 1000])

    def log_steps(self, run_id: str, rows: Sequence[tuple[int, Mapping[str, float]]]) -> None:
        """Several steps' metrics in one batched call (step progress: one call per look)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, int(step)) for step, values in rows
                   for k, v in values.items() if math.isfinite(float(v))]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i:i + 1000])

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        for key, value in redact({k: str(v) for k, v in tags.items()}).items():
            self.client.set_tag(run_id, key, value)

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        try:
            if path.is_dir():
                self.client.log_artifacts(run_id, str(path), artifact_path)
            else:
                self.client.log_artifact(run_id, str(path), artifact_path)
        except OSError as exc:
            raise StorageError(f"cannot store artifact {path.name}: {exc.strerror or exc}") from None

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def reopen_run(self, run_id: str) -> None:
        """A resumed run is RUNNING again (until end_run)."""
        self.client.update_run(run_id, status="RUNNING")

    def run_status(self, run_id: str) -> str:
        return str(self.client.get_run(run_id).info.status)

    def log_table(self, run_id: str, rows: Sequence[Mapping[str, Any]], artifact_file: str) -> None:
        """Rows as an MLflow table (browsable in the UI's artifact view and the evaluation tab)."""
        columns = list(dict.fromkeys(k for row in rows for k in row))
        data = {c: [_cell(row.get(c)) for row in rows] for c in columns}
        try:
            self.client.log_table(run_id, data, artifact_file)
        except OSError as exc:
            raise StorageError(f"cannot store table {artifact_file}: {exc.strerror or exc}") from None

    def log_dataset(self, run_id: str, name: str, path: Path, source: str, context: str) -> None:
        """A data file as an MLflow dataset input (name, source, digest: the run's Dataset column)."""
        import hashlib

        from mlflow.entities import Dataset, DatasetInput, InputTag

        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        dataset = Dataset(name=name, digest=digest, source_type="local" if "://" not in source else "url",
                          source=redact_text(source))
        self.client.log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", context)])])

    def run_url(self, run_id: str) -> str:
        return f"#/experiments/{self.experiment_id}/runs/{run_id}"
