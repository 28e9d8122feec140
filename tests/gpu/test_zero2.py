"""On the GPU: DeepSpeed ZeRO-2 with one rank, through the trial's own DeepSpeed path (the
preset's packaged ZeRO-2 config, bf16-mixed): bf16 module, fp32 master partition, fused AdamW
moments beside it, real steps that move masters and parameters together, and a whole
`run_training` that learns.

The GPU machine has no DeepSpeed; tests/gpu/run_device.sh carries its wheel (pure Python,
ops compiled just in time, none needed by a torch optimizer). Without it these tests skip.
Under HPO_GPU_TIER_DEVICE=cpu they run on DeepSpeed's CPU accelerator (gloo), which checks
this code, not the GPU.
"""

from __future__ import annotations

import gc
import shutil
import socket
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch

from hpo.config.schema import ExperimentConfig
from hpo.trial import run_training
from hpo.trial.deepspeed import DeepSpeedStepper
from hpo.trial.dist import Dist
from hpo.trial.loop import _load_model, _stepper
from hpo.trial.memory import Shape, memory_terms
from hpo.trial.optim import make_lr_schedule, make_optimizer
from hpo.trial.sizing import layout
from hpo.types import TrainingSpec
from tests.gpu.conftest import preset_cfg
from tests.gpu.test_memory import (
    BATCH,
    LENGTH,
    ONE_B,
    TINY,
    TOLERANCE,
    _batch,
    _random_llama,
    _write_report,
)
from tests.gpu.test_trial_steps import _snapshot, _steps
from tests.helpers.staging import stage_run_dir

pytestmark = pytest.mark.gpu
SPEC = TrainingSpec("adamw", 1e-3, "constant", 2, warmup_ratio=0.0)


def _cfg() -> ExperimentConfig:
    return preset_cfg(zero2=True)


@pytest.fixture(scope="module")
def deepspeed() -> Any:
    return pytest.importorskip("deepspeed", reason="no deepspeed wheel carried (tests/gpu/run_device.sh wheels)")


@pytest.fixture(scope="module")
def one_rank(deepspeed: Any) -> Iterator[None]:
    """A world of 1 on a free port, as `_single_process_env` makes it, for this module (DeepSpeed
    keeps its process groups across engines, so the group lives until the module ends)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                           "MASTER_PORT": str(port)}.items():
            mp.setenv(key, value)
        yield
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return stage_run_dir(preset_cfg(), tmp_path)


def test_zero2_one_rank_bf16_module_fp32_masters_and_real_steps(run_dir: Path, device: torch.device,
                                                                one_rank: None) -> None:
    cfg = _cfg()
    model, tokenizer = _load_model(SPEC, run_dir, cfg)
    stepper, start = _stepper(model, SPEC, 100, run_dir / "trials" / SPEC.training_id, cfg, Dist(0, 1, device))
    engine = stepper.engine  # type: ignore[attr-defined]
    zero = engine.optimizer
    assert start == 0 and engine.zero_optimization_stage() == 2 and engine.bfloat16_enabled()
    assert {(p.device.type, p.dtype) for p in stepper.model.parameters()} == {(device.type, torch.bfloat16)}
    masters = list(zero.single_partition_of_fp32_groups)
    assert {(t.device.type, t.dtype) for t in masters} == {(device.type, torch.float32)}
    before, masters_before = _snapshot(stepper.model), [t.detach().clone() for t in masters]
    losses = [stepper.step(micro, n) for micro, n in _steps(tokenizer, run_dir, cfg, 3)]
    assert all(loss > 0 for loss in losses)
    assert all(not torch.equal(a, b) for a, b in zip(masters_before, masters, strict=True))
    unchanged = [n for n, p in stepper.model.named_parameters() if torch.equal(before[n], p.detach())]
    assert not unchanged, f"parameters without an update: {unchanged[:5]}"
    for flat, master in zip(zero.bit16_groups_flat, masters, strict=True):  # N = 1: the whole group
        assert torch.equal(flat, master.to(torch.bfloat16))  # parameters come from the masters
    moments = [t for st in zero.optimizer.state.values() for t in st.values() if torch.is_tensor(t) and t.dim()]
    assert moments and {(t.device.type, t.dtype) for t in moments} == {(device.type, torch.float32)}
    assert sum(t.numel() for t in moments) == 2 * sum(t.numel() for t in masters)
    if device.type == "cuda":
        assert zero.optimizer.defaults["fused"] is True


def test_zero2_one_rank_run_training_learns(run_dir: Path, device: torch.device, one_rank: None) -> None:
    rows: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], run_dir, _cfg(), rows.append, Dist(0, 1, device))
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["train_loss"] < rows[0]["train_loss"]
    workers = (run_dir / "trials" / SPEC.training_id / "workers.json").read_text()
    assert '"backend": "deepspeed-zero2"' in workers and f'"device": "{device.type}' in workers
    shutil.rmtree(run_dir / "trials", ignore_errors=True)


def _peak_of(step: Any, device: torch.device) -> float | None:
    """Bytes `max_memory_allocated` saw over `step()` on CUDA; None elsewhere (after running it)."""
    if device.type != "cuda":
        step()
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return float(torch.cuda.max_memory_allocated())


def test_zero2_one_rank_peak_memory_of_a_1b_step_matches_the_memory_model(device: torch.device,
                                                                         one_rank: None) -> None:
    """The real engine's peak over one step on the random 1.06e9-parameter LLaMA of
    test_memory.py, next to the dry run's own model (`sizing.layout` of this config: the
    packaged ZeRO-2 JSON's buckets, fused AdamW, fp32 accumulation), context allowance out.
    Off CUDA the same runs on the tiny shape and skips before comparing (no peak to read)."""
    cfg = preset_cfg(zero2=True, use_gpu=True, batch_size=BATCH, max_length=LENGTH, gradient_accumulation_steps=1)
    gc.collect()
    baseline = torch.cuda.memory_allocated() if device.type == "cuda" else 0
    model = _random_llama(ONE_B if device.type == "cuda" else TINY, device).float()  # the trial loads fp32
    optimizer = make_optimizer(SPEC, model.parameters(), cfg.train, device)
    stepper = DeepSpeedStepper(model, optimizer, make_lr_schedule(SPEC, optimizer, 10), cfg, Dist(0, 1, device))
    batch = _batch(model.config.vocab_size)
    n_tokens = int((batch["labels"][:, 1:] != -100).sum())
    stepper.step([batch], n_tokens)  # the first step creates AdamW's moments
    peak = _peak_of(partial(stepper.step, [batch], n_tokens), device)
    c = stepper.model.config
    params = float(sum(p.numel() for p in stepper.model.parameters()))
    terms = memory_terms(Shape(params, c.hidden_size, c.num_hidden_layers, c.vocab_size, c.num_attention_heads),
                         layout(cfg))
    predicted = terms.total - terms.context_allowance
    del stepper, model, optimizer
    if peak is None:
        pytest.skip("step and prediction ran; peak memory is measured on CUDA only (max_memory_allocated)")
    torch.cuda.empty_cache()
    measured = peak - baseline
    _write_report("memory-deepspeed", {"parameters": params, "measured_bytes": measured, "predicted_bytes": predicted,
                                       "ratio": measured / predicted, "terms": dict(terms.terms())})
    print(f"\nDeepSpeed ZeRO-2, 1 rank, P={params:,.0f}: measured peak {measured / 1e9:.2f} GB, predicted "
          f"{predicted / 1e9:.2f} GB (context allowance excluded), ratio {measured / predicted:.3f}\n"
          + "\n".join(f"  {k:<20} {v / 1e9:7.3f} GB" for k, v in terms.terms()))
    assert abs(measured / predicted - 1) <= TOLERANCE
