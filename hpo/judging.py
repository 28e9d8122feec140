"""Builds the judge side of a run: backend (by name), verdict store, pairwise judge, match judge."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.config import JudgeConfig
from hpo.errors import ConfigError, JudgeUnavailableError
from hpo.types import Example
from judge.types import JudgeBackend

if TYPE_CHECKING:
    from judge.pairwise import PairwiseJudge


def backend_kwargs(cfg: JudgeConfig, validation: Sequence[Example]) -> dict[str, Any]:
    """Constructor arguments for the configured backend; only what that backend takes."""
    if cfg.backend == "reference":
        refs = {(ex.instruction, ex.input): ex.output for ex in validation if ex.output is not None}
        if not refs:
            raise ConfigError("judge 'reference' needs validation data with reference outputs;"
                              " use --judge vllm or hf for instruction-only validation sets")
        return {"references": refs, "tie_margin": cfg.tie_margin}
    if cfg.backend in ("vllm", "hf") and not cfg.model:
        raise ConfigError(f"judge '{cfg.backend}' needs judge.model (e.g. WeOpenML/PandaLM-7B-v1)")
    if cfg.backend == "vllm":
        return {"model": cfg.model, "url": cfg.url, "mode": cfg.mode, "concurrency": cfg.concurrency,
                "timeout_s": cfg.timeout_s, "max_retries": cfg.max_retries,
                "deadline_s": cfg.deadline_s, "api_key_env": cfg.api_key_env, "tie_band": cfg.tie_band}
    if cfg.backend == "hf":
        device, dtype = hf_placement(cfg)
        return {"model": judge_model_source(str(cfg.model)), "mode": cfg.mode, "batch_size": cfg.batch_size,
                "tie_band": cfg.tie_band, "device": device, "dtype": dtype}
    return {}


def hf_placement(cfg: JudgeConfig) -> tuple[str, str]:
    """(device, dtype) for the hf judge from `judge.device`/`judge.dtype` (auto: CUDA and
    bfloat16 when CUDA is available, else CPU and float32)."""
    from judge.backends.hf import resolve_placement

    try:
        return resolve_placement(cfg.device, cfg.dtype)
    except ConfigError as exc:
        raise ConfigError(f"judge.device={cfg.device} judge.dtype={cfg.dtype}: {exc}") from None


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

    backend = BACKENDS.create(cfg.backend, **backend_kwargs(cfg, validation))
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
