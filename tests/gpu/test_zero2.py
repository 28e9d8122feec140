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

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from hpo.config import ExperimentConfig
from hpo.data import load_examples, write_jsonl
from hpo.models import prepare_base
from hpo.trial import run_training
from hpo.trial.dist import Dist
from hpo.trial.train import _load_model, _stepper
from hpo.types import TrainingSpec
from tests.gpu.conftest import preset_cfg
from tests.gpu.test_trial_steps import _snapshot, _steps

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
    cfg = preset_cfg()
    train = load_examples("synthetic", cfg.data, "train")
    write_jsonl(train, tmp_path / "data" / "train.jsonl")
    write_jsonl(load_examples("synthetic", cfg.data, "validation"), tmp_path / "data" / "validation.jsonl")
    prepare_base(cfg.model, train, tmp_path / "base", cfg.train.seed)
    return tmp_path


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
