"""GPU tier: runs on a CUDA machine with torch, transformers, peft and accelerate only.

No Ray, MLflow or vLLM exists there (DeepSpeed only when its wheel is carried:
tests/gpu/run_device.sh), so nothing here may import them: the tier's tests run with them made absent.

Where the tier runs, by `HPO_GPU_TIER_DEVICE`:
  * unset or `cuda`: on the GPU; every test is skipped where CUDA is not available;
  * `cpu`: the same tests on the CPU (bf16 where the CPU supports it), to prove the tests'
    own logic on a machine without a GPU. That is a check of the test code, never a GPU
    result; tests that only mean something on a GPU (peak memory) skip there.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from hpo.config.schema import ExperimentConfig, resolve_resource
from hpo.models.presets import preset_for

ENV = "HPO_GPU_TIER_DEVICE"
NEVER_IMPORTED = ("ray", "mlflow", "vllm")


def tier_device() -> torch.device:
    """The device the tier runs on: cuda, or cpu when HPO_GPU_TIER_DEVICE=cpu."""
    name = os.environ.get(ENV, "cuda").strip().lower() or "cuda"
    if name not in ("cuda", "cpu"):
        raise pytest.UsageError(f"{ENV} must be cuda or cpu, got {name!r}")
    return torch.device(name)


def on_gpu() -> bool:
    return tier_device().type == "cuda"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_gpu() or torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (HPO_GPU_TIER_DEVICE=cpu checks the test code on CPU)")
    for item in items:
        if "tests/gpu/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device() -> torch.device:
    return tier_device()


class _Absent(importlib.abc.MetaPathFinder):
    """Makes `NEVER_IMPORTED` look uninstalled, as on the GPU machine: a hard import fails
    the test that made it, an optional one (`try: import mlflow`) takes its fallback."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in NEVER_IMPORTED:
            raise ModuleNotFoundError(f"No module named {name!r} (absent on the GPU machine)", name=name)


@pytest.fixture(scope="session", autouse=True)
def _as_on_the_gpu_machine() -> Iterator[None]:
    """For the tier's tests only (a directory fixture): Ray, MLflow and vLLM are absent."""
    loaded = [m for m in NEVER_IMPORTED if m in sys.modules]
    assert not loaded, f"run the GPU tier on its own: {loaded} already imported"
    finder = _Absent()
    sys.meta_path.insert(0, finder)
    yield
    sys.meta_path.remove(finder)


def preset_cfg(*, lora: bool = False, zero2: bool = False, use_gpu: bool = False, **train: Any) -> ExperimentConfig:
    """The 7B preset's model and train settings (bf16 dtype, bf16-mixed, gradient checkpointing,
    the packaged ZeRO-2 config) on the tiny model, with the sizes scaled down to seconds."""
    preset = preset_for("bloom-7b")
    assert preset is not None
    model = {**preset["model"], "name": "tiny"} | ({"lora": {"rank": 8}} if lora else {})
    train_cfg = {**preset["train"], "batch_size": 8, "gradient_accumulation_steps": 2, "max_length": 64,
                 "max_new_tokens": 10, "generation_batch_size": 16, "keep_weights": "none", **train}
    if zero2:  # the packaged config, found as the run finds it
        train_cfg["deepspeed"] = str(resolve_resource(train_cfg["deepspeed"]))
    else:
        train_cfg.pop("deepspeed")
    return ExperimentConfig.model_validate({
        "model": model, "train": train_cfg,
        "data": {"synthetic": {"n_train": 256, "n_validation": 16}},
        "resources": {"workers_per_trial": 1, "use_gpu": use_gpu}})
