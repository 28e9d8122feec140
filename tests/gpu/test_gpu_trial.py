"""On a GPU: a trial epoch in bf16 with fp32 masters, resume on the GPU, LoRA, the `hf` judge.

Run with `pytest -m gpu tests/gpu` on a CUDA machine. Uses the embedded tiny model and the
synthetic suite (no downloads); imports no Ray, MLflow, DeepSpeed or vLLM.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from hpo.answers import AnswerStore
from hpo.config import ExperimentConfig
from hpo.data import load_examples, write_jsonl
from hpo.models import load_base, prepare_base
from hpo.trial import run_training, state
from hpo.trial.optim import make_optimizer, make_scheduler
from hpo.types import TrainingSpec

pytestmark = pytest.mark.gpu
SPEC = TrainingSpec("adamw", 1e-3, "cosine", 2)
FORBIDDEN = ("ray", "mlflow", "deepspeed", "vllm")


def _cfg(model: dict[str, Any] | None = None, **train: Any) -> ExperimentConfig:
    return ExperimentConfig.model_validate({
        "data": {"synthetic": {"n_train": 400, "n_validation": 20}}, "model": model or {},
        "train": {"batch_size": 16, "max_new_tokens": 10, **train}})


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("staged")
    cfg = _cfg()
    train = load_examples("synthetic", cfg.data, "train")
    write_jsonl(train, run_dir / "data" / "train.jsonl")
    write_jsonl(load_examples("synthetic", cfg.data, "validation"), run_dir / "data" / "validation.jsonl")
    prepare_base(cfg.model, train, run_dir / "base", cfg.train.seed)
    return run_dir


@pytest.fixture()
def run_dir(staged: Path, tmp_path: Path) -> Path:
    shutil.copytree(staged, tmp_path / "run")
    return tmp_path / "run"


def _no_forbidden_imports() -> None:
    loaded = [m for m in FORBIDDEN if m in sys.modules]
    assert not loaded, f"the GPU tier must not import {loaded}"


def test_bf16_mixed_epoch_keeps_fp32_masters_and_learns(run_dir: Path) -> None:
    rows: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], run_dir, _cfg(precision="bf16-mixed"), rows.append)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["train_loss"] < rows[0]["train_loss"]
    assert AnswerStore(run_dir).exists(SPEC.candidate_id(2))
    workers = (run_dir / "trials" / SPEC.training_id / "workers.json").read_text()
    assert '"device": "cuda' in workers
    _no_forbidden_imports()


def test_optimizer_state_lands_on_the_gpu_when_resuming(run_dir: Path) -> None:
    cfg = _cfg(fault_injection=f"{SPEC.training_id}:2:once")
    with pytest.raises(RuntimeError, match="injected fault"):
        run_training(SPEC, [1, 2], run_dir, cfg, lambda r: None)
    trial_dir = run_dir / "trials" / SPEC.training_id
    model, _ = load_base(run_dir / "base", cfg.model)
    model.to("cuda")  # as run_training does: device first, then optimizer and state
    opt = make_optimizer(SPEC, model.parameters(), cfg.train)
    assert state.load_state(trial_dir, model, opt, make_scheduler(SPEC, opt, 100)) == 1
    devices = {t.device.type for st in opt.state.values() for t in st.values() if torch.is_tensor(t) and t.dim()}
    assert devices == {"cuda"}
    opt.step()  # would raise on mixed devices
    rows: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], run_dir, cfg, rows.append)
    assert [(r["epoch"], r["replayed"]) for r in rows] == [(1, True), (2, False)]
    _no_forbidden_imports()


def test_lora_on_a_bf16_base_trains_fp32_adapters(run_dir: Path) -> None:
    rows: list[dict[str, Any]] = []
    cfg = _cfg({"dtype": "bfloat16", "lora": {"rank": 8}}, precision="bf16-mixed", keep_weights="all")
    run_training(TrainingSpec("adamw", 1e-3, "cosine", 1), [1], run_dir, cfg, rows.append)
    assert rows and rows[0]["train_loss"] > 0
    assert list((run_dir / "weights").glob("*/adapter_model.safetensors"))
    _no_forbidden_imports()


def test_hf_judge_on_cuda(tmp_path: Path) -> None:
    from judge.backends.hf import HFJudge
    from judge.types import JudgeRequest
    from tests.helpers.tiny_llama import build_tiny_llama

    judge = HFJudge(str(build_tiny_llama(tmp_path / "tiny")), device="cuda")
    assert judge.model.device.type == "cuda"
    out = judge.judge([JudgeRequest("What is 2+2?", "", "4", "5")])
    assert len(out) == 1 and isinstance(out[0].raw, str)
    _no_forbidden_imports()
