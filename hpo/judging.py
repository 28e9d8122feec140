"""Builds the judge side of a run: backend (by name), verdict store, pairwise judge, match judge."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hpo.config import JudgeConfig
from hpo.errors import ConfigError, JudgeUnavailableError
from hpo.types import Example
from judge.backends import BackendInputs
from judge.types import JudgeBackend

if TYPE_CHECKING:
    from judge.pairwise import PairwiseJudge


def backend_inputs(cfg: JudgeConfig, validation: Sequence[Example]) -> BackendInputs:
    """What the run hands its backend besides the settings: the validation data's reference
    answers (the `reference` oracle), the run's tie band, and how `hpo` names models."""
    refs = {(ex.instruction, ex.input): ex.output for ex in validation if ex.output is not None}
    return BackendInputs(references=refs, tie_band=cfg.tie_band, resolve_model=judge_model_source)


def judge_model_source(name: str) -> str:
    """What the hf judge loads for `judge.model`: the trials' aliases resolve the same way
    (`smollm2-135m` from its package, offline; `bloom-7b` to its hub id); anything else (a hub
    id, a folder, a .gguf file) is passed on as given."""
    from hpo.models.aliases import resolve_model

    try:
        resolved = resolve_model(name)
    except ConfigError:
        return name
    if resolved.kind == "smollm2":
        from hpo.models import smollm2

        return str(smollm2.cached_dir())
    return resolved.source or name


def validate_judge(cfg: JudgeConfig) -> None:
    from judge.registry import BACKENDS

    BACKENDS.validate(cfg.backend)


def build_backend(cfg: JudgeConfig, validation: Sequence[Example]) -> JudgeBackend:
    from judge.registry import BACKENDS

    backend = BACKENDS.build(cfg.backend, cfg.settings, backend_inputs(cfg, validation))
    check = getattr(backend, "check_reachable", None)
    if callable(check):
        try:
            check()
        except JudgeUnavailableError as exc:  # at start nothing is resumable: it is bad input
            raise ConfigError(f"judge not reachable at start: {exc}") from None
    return backend


def build_pairwise(cfg: JudgeConfig, backend: JudgeBackend, store_path: Path) -> PairwiseJudge:
    from judge.pairwise import PairwiseJudge
    from judge.store import VerdictStore

    return PairwiseJudge(backend, VerdictStore(store_path), policy=cfg.policy,
                         invalid_retries=cfg.invalid_retries, tie_band=cfg.tie_band)
