"""The tracker Protocol: explicit run ids, no hidden "active run" state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Tracker(Protocol):
    """Where a run's params, metrics, tags and artifacts go; every call names its run."""

    @property
    def uri(self) -> str | None:
        """The tracking URI the runs live at (None: they are not kept anywhere); registering
        the winner's model logs to it."""

    def start_run(self, name: str, params: Mapping[str, Any], tags: Mapping[str, str],
                  parent_id: str | None = None) -> str: ...

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_series(self, run_id: str, key: str, points: Sequence[tuple[int, float]]) -> None: ...

    def log_steps(self, run_id: str, rows: Sequence[tuple[int, Mapping[str, float]]]) -> None: ...

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None: ...

    def end_run(self, run_id: str, status: str = "FINISHED") -> None: ...

    def reopen_run(self, run_id: str) -> None: ...

    def run_status(self, run_id: str) -> str: ...

    def log_table(self, run_id: str, rows: Sequence[Mapping[str, Any]], artifact_file: str) -> None: ...

    def log_dataset(self, run_id: str, name: str, path: Path, source: str, context: str) -> None: ...

    def run_url(self, run_id: str) -> str: ...
