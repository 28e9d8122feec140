"""Errors with a one-line message and a fixed exit code, shared by the `judge` and `hpo` commands.

`judge` owns them so that it stands alone; `hpo.errors` builds on them (hpo depends on judge).

Exit codes (documented in the README):
    0  success: a winner was chosen from all candidates
    1  unexpected internal error (a bug: please report the traceback)
    2  bad input: config, data, CLI flags; nothing was written
    3  partial result: some trials failed, the winner was chosen from the rest
    4  the winner did not beat the baseline (only with --fail-if-worse-than-baseline)
    5  the judge stayed unreachable past its deadline; the run is resumable
    6  the run folder or tracking store cannot be written (disk full, read-only)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3
EXIT_WORSE_THAN_BASELINE = 4
EXIT_JUDGE_UNAVAILABLE = 5
EXIT_STORAGE = 6


class UserError(Exception):
    """An error with a one-line message meant for the user and a fixed exit code."""

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\n", " ").strip())


class ConfigError(UserError):
    """Bad user input: config, data, flags. Raised before anything is written."""

    exit_code = EXIT_BAD_INPUT


class MissingDependencyError(ConfigError):
    """An optional package is needed for the chosen plug-in."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        fix = f"pip install 'hpo[{extra}]'" if extra else f"pip install {package}"
        why = f" for {purpose}" if purpose else ""
        super().__init__(f"missing optional dependency '{package}'{why}; fix: {fix}")


class JudgeUnavailableError(UserError):
    """The judge server did not answer within the configured deadline."""

    exit_code = EXIT_JUDGE_UNAVAILABLE


class StorageError(UserError):
    """The run folder or a store cannot be written."""

    exit_code = EXIT_STORAGE
