"""`resolve_config` and `DeepSpeedStepper.step` without starting DeepSpeed.

The resolved config must let ZeRO take a client torch.optim.SGD and accumulate gradients in
fp32, for a user's own JSON too (user values win); the stepper must make each loop step exactly
one optimizer step, whatever the length of its accumulation group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from hpo.config.schema import ExperimentConfig
from hpo.trial.deepspeed import DeepSpeedStepper, resolve_config
from hpo.trial.dist import Dist

BF16 = {"train": {"batch_size": 4, "precision": "bf16-mixed", "gradient_accumulation_steps": 4},
        "model": {"dtype": "bfloat16"}}


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(data))
    return path


def test_zero_config_allows_client_sgd_and_accumulates_in_fp32(tmp_path: Path) -> None:
    cfg = ExperimentConfig.model_validate(BF16)
    ds = resolve_config(_write(tmp_path, {"zero_optimization": {"stage": 2}}), cfg)
    assert ds["zero_allow_untested_optimizer"] is True
    assert ds["data_types"] == {"grad_accum_dtype": "fp32"}
    assert ds["gradient_accumulation_steps"] == 4 and ds["bf16"]["enabled"] is True


def test_user_values_win_and_no_zero_needs_no_permission(tmp_path: Path) -> None:
    cfg = ExperimentConfig.model_validate(BF16)
    own = {"zero_optimization": {"stage": 2}, "zero_allow_untested_optimizer": False,
           "data_types": {"grad_accum_dtype": "bf16"}}
    ds = resolve_config(_write(tmp_path, own), cfg)
    assert ds["zero_allow_untested_optimizer"] is False
    assert ds["data_types"] == {"grad_accum_dtype": "bf16"}
    plain = resolve_config(_write(tmp_path, {"zero_optimization": {"stage": 0}}), cfg)
    assert "zero_allow_untested_optimizer" not in plain
    assert plain["data_types"] == {"grad_accum_dtype": "fp32"}


class _Out:
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits


class FakeEngine:
    """Records what the stepper asks of a DeepSpeed engine, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.device = torch.device("cpu")
        self.weight = torch.nn.Parameter(torch.ones(3))

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> _Out:
        return _Out(self.weight.expand(*input_ids.shape, 3))

    def set_gradient_accumulation_boundary(self, is_boundary: bool) -> None:
        self.calls.append(("boundary", is_boundary))

    def backward(self, loss: torch.Tensor, scale_wrt_gas: bool = True) -> None:
        # what reaches the gradient: DeepSpeed divides by gas unless told not to
        self.calls.append(("backward", round(float(loss.detach()) / (4 if scale_wrt_gas else 1), 6)))

    def step(self) -> None:
        self.calls.append(("step",))


def _stepper(world: int) -> tuple[DeepSpeedStepper, FakeEngine]:
    stepper = DeepSpeedStepper.__new__(DeepSpeedStepper)
    engine = FakeEngine()
    stepper.engine, stepper.dist = engine, Dist(0, world)
    return stepper, engine


def _micro(n: int) -> list[dict[str, torch.Tensor]]:
    ids = torch.zeros(1, 3, dtype=torch.long)
    return [{"input_ids": ids, "attention_mask": torch.ones_like(ids),
             "labels": torch.tensor([[-100, 0, 1]])} for _ in range(n)]


@pytest.mark.parametrize("n_micro", [4, 1, 3])
def test_each_loop_step_is_one_optimizer_step(n_micro: int) -> None:
    """A full group of 4 and the short last groups of an epoch (1, 3) alike: the boundary is the
    last micro-batch, `step` runs once, and each backward carries loss x world (not / gas)."""
    stepper, engine = _stepper(world=2)
    n_tokens = 2 * n_micro
    total = stepper.step(_micro(n_micro), n_tokens)
    per_micro = float(torch.log(torch.tensor(3.0))) * 2 / n_tokens  # 2 targets per micro-batch
    expected: list[tuple[Any, ...]] = []
    for k in range(n_micro):
        expected += [("boundary", k == n_micro - 1), ("backward", round(per_micro * 2, 6))]
    assert engine.calls == [*expected, ("step",)]
    assert total == pytest.approx(per_micro * n_micro)
