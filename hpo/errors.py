"""Errors and exit codes of every `hpo` command (the table is in `judge.errors` and the README).

The base classes live in `judge.errors`, the layer below, so that `judge` stands alone and a
judge error reaching `hpo`'s CLI keeps its exit code. `hpo` adds only its own failures.
"""

from __future__ import annotations

from judge.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_JUDGE_UNAVAILABLE,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_STORAGE,
    EXIT_WORSE_THAN_BASELINE,
    ConfigError,
    JudgeUnavailableError,
    MissingDependencyError,
    StorageError,
)
from judge.errors import UserError as HpoError

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_JUDGE_UNAVAILABLE", "EXIT_OK", "EXIT_PARTIAL",
           "EXIT_STORAGE", "EXIT_WORSE_THAN_BASELINE", "ConfigError", "HpoError",
           "JudgeUnavailableError", "MissingDependencyError", "RunInterrupted", "StorageError",
           "TrialsFailedError"]


class TrialsFailedError(HpoError):
    """Every training failed: there is nothing to decide between."""

    exit_code = EXIT_PARTIAL


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a run whose folder exists: not a failure, it resumes. The
    message is the command that continues it; the CLI exits 130 (128 + SIGINT)."""

    def __init__(self, run_dir: object) -> None:
        super().__init__(f"interrupted; resume with: hpo run --resume {run_dir}")
