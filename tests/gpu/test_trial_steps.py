"""On the GPU, through hpo's own trial code: real optimizer steps with gradients, and the dtypes
the 7B preset promises (fp32 master weights with bf16 autocast compute; on LoRA a bf16 frozen
base with fp32 adapters), the optimizer state beside the parameters, a resume on the GPU.

The pieces are the ones `run_training` uses (`_load_model`, `_stepper`, `epoch_steps`, the
stepper's `step`), driven one step at a time so each dtype and device can be looked at; one
test runs `run_training` whole. Uses the embedded tiny model and the synthetic suite (nothing
downloaded). `HPO_GPU_TIER_DEVICE=cpu` runs the same on the CPU to check this code (tests/gpu/
conftest.py); that is not a GPU result.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from hpo.config.schema import ExperimentConfig
from hpo.data import read_jsonl
from hpo.rundir.answers import AnswerStore
from hpo.trial import run_training
from hpo.trial.dist import Dist
from hpo.trial.generate import collate, encode
from hpo.trial.loop import _load_model, _stepper, epoch_steps
from hpo.trial.optim import Stepper
from hpo.trial.precision import load_dtype
from hpo.types import TrainingSpec
from tests.gpu.conftest import preset_cfg
from tests.helpers.staging import stage_run_dir

pytestmark = pytest.mark.gpu
# no warmup: the first step already moves the weights; constant lr keeps steps comparable
SPEC = TrainingSpec("adamw", 1e-3, "constant", 2, warmup_ratio=0.0)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data and the tiny base, prepared once (as the driver does before any trial)."""
    run_dir = tmp_path_factory.mktemp("staged")
    return stage_run_dir(preset_cfg(), run_dir)


@pytest.fixture()
def run_dir(staged: Path, tmp_path: Path) -> Path:
    shutil.copytree(staged, tmp_path / "run")
    return tmp_path / "run"


def _steps(tokenizer: Any, run_dir: Path, cfg: ExperimentConfig, n: int) -> list[tuple[list[dict[str, torch.Tensor]], int]]:
    """The first `n` optimizer steps of epoch 1, as `_train_epoch` builds them (micro-batches
    of one step, and the step's target-token count)."""
    encoded = [encode(tokenizer, e, cfg.train.max_length) for e in read_jsonl(run_dir / "data" / "train.jsonl")]
    out = []
    for step in epoch_steps(encoded, cfg, 1, 1)[:n]:
        n_tokens = sum(len(encoded[j].ids) - encoded[j].n_prompt for b in step for j in b)
        out.append(([collate([encoded[j] for j in b], tokenizer.pad_token_id) for b in step], n_tokens))
    return out


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.fixture()
def compute_dtypes() -> Iterator[tuple[list[torch.dtype], Any]]:
    """Records the output dtype of hooked modules: what the matmuls really computed in."""
    seen: list[torch.dtype] = []
    handles: list[Any] = []

    def hook(module: torch.nn.Module) -> None:
        handles.append(module.register_forward_hook(lambda m, i, out: seen.append(out.dtype)))

    yield seen, hook
    for h in handles:
        h.remove()


def _optimizer_state(stepper: Stepper) -> list[torch.Tensor]:
    opt = stepper.optimizer  # type: ignore[attr-defined]
    return [t for st in opt.state.values() for t in st.values() if torch.is_tensor(t) and t.dim()]


def _train(stepper: Stepper, steps: list[tuple[list[dict[str, torch.Tensor]], int]]) -> list[float]:
    return [stepper.step(micro, n_tokens) for micro, n_tokens in steps]


def test_preset_full_finetune_steps_fp32_masters_with_bf16_compute(run_dir: Path, device: torch.device,
                                                                   compute_dtypes: Any) -> None:
    cfg = preset_cfg()
    assert (cfg.model.dtype, cfg.train.precision) == ("bfloat16", "bf16-mixed")  # what the preset says
    assert load_dtype(cfg, lora=False) == "float32"  # ...and what a full fine-tune loads: masters
    model, tokenizer = _load_model(SPEC, run_dir, cfg)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    stepper, start = _stepper(model, SPEC, 100, run_dir / "trials" / SPEC.training_id, cfg, Dist(0, 1, device))
    assert start == 0 and {p.device.type for p in model.parameters()} == {device.type}
    seen, hook = compute_dtypes
    hook(model.model.layers[0].self_attn.q_proj)
    hook(model.lm_head)
    before = _snapshot(model)
    losses = _train(stepper, _steps(tokenizer, run_dir, cfg, 3))
    assert all(loss > 0 for loss in losses)
    assert seen and set(seen) == {torch.bfloat16}, f"autocast should compute in bf16, saw {set(seen)}"
    unchanged = [n for n, p in model.named_parameters() if torch.equal(before[n], p.detach())]
    assert not unchanged, f"parameters without an update: {unchanged[:5]}"
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # masters stay fp32
    state = _optimizer_state(stepper)
    assert len(state) == 2 * len(before)  # exp_avg and exp_avg_sq of every parameter
    assert {(t.device.type, t.dtype) for t in state} == {(device.type, torch.float32)}
    if device.type == "cuda":
        assert stepper.optimizer.defaults["fused"] is True  # type: ignore[attr-defined]


def test_preset_lora_trains_fp32_adapters_on_a_frozen_bf16_base(run_dir: Path, device: torch.device,
                                                                compute_dtypes: Any) -> None:
    cfg = preset_cfg(lora=True)
    assert load_dtype(cfg, lora=True) == "bfloat16"  # LoRA loads the frozen base in model.dtype
    model, tokenizer = _load_model(SPEC, run_dir, cfg)
    stepper, _ = _stepper(model, SPEC, 100, run_dir / "trials" / SPEC.training_id, cfg, Dist(0, 1, device))
    adapters = {n: p for n, p in model.named_parameters() if p.requires_grad}
    base = {n: p for n, p in model.named_parameters() if not p.requires_grad}
    assert adapters and all("lora_" in n for n in adapters)
    assert {p.dtype for p in adapters.values()} == {torch.float32}
    assert {p.dtype for p in base.values()} == {torch.bfloat16}
    seen, hook = compute_dtypes
    hook(model.base_model.model.model.layers[0].self_attn.q_proj)
    before = _snapshot(model)
    _train(stepper, _steps(tokenizer, run_dir, cfg, 3))
    assert set(seen) == {torch.bfloat16}
    assert all(not torch.equal(before[n], p.detach()) for n, p in adapters.items())
    assert all(torch.equal(before[n], p.detach()) for n, p in base.items())  # frozen
    assert {(t.device.type, t.dtype) for t in _optimizer_state(stepper)} == {(device.type, torch.float32)}


def test_resume_restores_the_optimizer_state_on_the_device_and_steps(run_dir: Path, device: torch.device) -> None:
    cfg = preset_cfg(fault_injection=f"{SPEC.training_id}:2:once")
    with pytest.raises(RuntimeError, match="injected fault"):
        run_training(SPEC, [1, 2], run_dir, cfg, lambda r: None, Dist(0, 1, device))
    model, tokenizer = _load_model(SPEC, run_dir, cfg)
    stepper, start = _stepper(model, SPEC, 100, run_dir / "trials" / SPEC.training_id, cfg, Dist(0, 1, device))
    assert start == 1
    state = _optimizer_state(stepper)
    assert state and {t.device.type for t in state} == {device.type}
    exp_avg = [t.clone() for t in state]
    before = _snapshot(model)
    _train(stepper, _steps(tokenizer, run_dir, cfg, 1))  # real gradients: mixed devices would raise
    assert any(not torch.equal(a, b) for a, b in zip(exp_avg, _optimizer_state(stepper), strict=True))
    assert all(not torch.equal(before[n], p.detach()) for n, p in model.named_parameters() if "embed" not in n)
    rows: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], run_dir, cfg, rows.append, Dist(0, 1, device))
    assert [(r["epoch"], r["replayed"]) for r in rows] == [(1, True), (2, False)]


def test_run_training_bf16_mixed_learns_and_answers(run_dir: Path, device: torch.device) -> None:
    rows: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], run_dir, preset_cfg(), rows.append, Dist(0, 1, device))
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["train_loss"] < rows[0]["train_loss"]
    assert AnswerStore(run_dir).exists(SPEC.candidate_id(2))
    workers = (run_dir / "trials" / SPEC.training_id / "workers.json").read_text()
    assert f'"device": "{device.type}' in workers
