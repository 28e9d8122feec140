"""A tracker that records nothing (`tracking.backend: none`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class NullTracker:
    uri: str | None = None  # records nowhere, whatever URI it was opened with

    def __init__(self, uri: str | None = None, experiment: str = "hpo", artifact_root: Path | None = None):
        self._ids = itertools.count()

    def start_run(self, name: str, params: Mapping[str, Any], tags: Mapping[str, str],
                  parent_id: str | None = None) -> str:
        return f"null-{next(self._ids)}"

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_series(self, run_id: str, key: str, points: Sequence[tuple[int, float]]) -> None: ...

    def log_steps(self, run_id: str, rows: Sequence[tuple[int, Mapping[str, float]]]) -> None: ...

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None: ...

    def end_run(self, run_id: str, status: str = "FINISHED") -> None: ...

    def reopen_run(self, run_id: str) -> None: ...

    def run_status(self, run_id: str) -> str:
        return ""

    def log_table(self, run_id: str, rows: Sequence[Mapping[str, Any]], artifact_file: str) -> None: ...

    def log_dataset(self, run_id: str, name: str, path: Path, source: str, context: str) -> None: ...

    def run_url(self, run_id: str) -> str:
        return ""
