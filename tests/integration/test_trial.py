"""run_training end to end on a tiny synthetic set: reports, answers, loss, resume, weights, LoRA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from hpo.config.schema import ExperimentConfig
from hpo.rundir.answers import AnswerStore
from hpo.trial import run_training
from hpo.types import TrainingSpec
from tests.helpers.staging import stage_run_dir

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SPEC = TrainingSpec("adamw", 1e-3, "cosine", 2)
REPORT_KEYS = {"epoch", "candidate_id", "training_id", "train_loss", "exact_match", "generation_seconds",
               "train_seconds", "tokens_per_s", "steps"}


def _cfg(model: dict[str, Any] | None = None, **train: Any) -> ExperimentConfig:
    return ExperimentConfig.model_validate({
        "data": {"synthetic": {"n_train": 200, "n_validation": 20}}, "model": model or {},
        "train": {"batch_size": 16, "max_new_tokens": 10, **train}})


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/ and base/ as the stage-inputs stage writes them; each test copies this folder."""
    run_dir = tmp_path_factory.mktemp("staged")
    return stage_run_dir(_cfg(), run_dir)


@pytest.fixture()
def run_dir(staged: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(staged, tmp_path / "run")
    return tmp_path / "run"


def _events(run_dir: Path, spec: TrainingSpec) -> list[int]:
    lines = (run_dir / "trials" / spec.training_id / "events.jsonl").read_text().splitlines()
    return [json.loads(ln)["epoch"] for ln in lines if json.loads(ln)["event"] == "epoch_start"]


def test_two_epochs_report_store_answers_and_loss_decreases(run_dir: Path) -> None:
    rows: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], run_dir, _cfg(), rows.append)
    assert [r["epoch"] for r in rows] == [1, 2] and set(rows[0]) >= REPORT_KEYS
    assert rows[1]["candidate_id"] == "adamw-lr1e-03-cosine-ep2" and not rows[1]["replayed"]
    assert rows[1]["train_loss"] < rows[0]["train_loss"]
    store = AnswerStore(run_dir)
    assert store.available() == ["adamw-lr1e-03-cosine-ep1", "adamw-lr1e-03-cosine-ep2"]
    ans = store.read("adamw-lr1e-03-cosine-ep2")
    assert len(ans.answers) == 20 and ans.metrics["exact_match"] == rows[1]["exact_match"]
    losses = [json.loads(ln) for ln in (run_dir / "trials" / SPEC.training_id / "loss.jsonl").read_text().splitlines()]
    assert len(losses) == 2 * 13 and {ln["epoch"] for ln in losses} == {1, 2}
    trial_dir = run_dir / "trials" / SPEC.training_id
    assert (trial_dir / "done.json").is_file() and not (trial_dir / "state").exists()
    assert not (run_dir / "weights").exists()  # keep_weights: none


def test_resume_after_injected_crash_skips_finished_epoch(run_dir: Path) -> None:
    cfg = _cfg(fault_injection=f"{SPEC.training_id}:2:once")
    first: list[dict[str, Any]] = []
    with pytest.raises(RuntimeError, match="injected fault"):
        run_training(SPEC, [1, 2], run_dir, cfg, first.append)
    assert [r["epoch"] for r in first] == [1]
    assert (run_dir / "trials" / SPEC.training_id / "state" / "meta.json").is_file()
    second: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], run_dir, cfg, second.append)
    assert [(r["epoch"], r["replayed"]) for r in second] == [(1, True), (2, False)]
    assert second[0]["exact_match"] == first[0]["exact_match"]
    assert _events(run_dir, SPEC) == [1, 2, 2]  # epoch 1 trained once; the crashed epoch 2 redone
    losses = (run_dir / "trials" / SPEC.training_id / "loss.jsonl").read_text().splitlines()
    assert len(losses) == 2 * 13  # the crashed epoch's partial log was not kept
    third: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], run_dir, cfg, third.append)  # finished: replay only
    assert [r["replayed"] for r in third] == [True, True] and _events(run_dir, SPEC) == [1, 2, 2]


def test_resumed_training_matches_uninterrupted(run_dir: Path, tmp_path: Path, staged: Path) -> None:
    import shutil

    clean = tmp_path / "clean"
    shutil.copytree(staged, clean)
    straight: list[dict[str, Any]] = []
    run_training(SPEC, [1, 2], clean, _cfg(), straight.append)
    resumed: list[dict[str, Any]] = []
    cfg = _cfg(fault_injection=f"{SPEC.training_id}:2:once")
    with pytest.raises(RuntimeError):
        run_training(SPEC, [1, 2], run_dir, cfg, resumed.append)
    run_training(SPEC, [1, 2], run_dir, cfg, resumed.append)
    assert resumed[-1]["train_loss"] == pytest.approx(straight[-1]["train_loss"], rel=1e-5)
    assert AnswerStore(run_dir).read(SPEC.candidate_id(2)).answers == AnswerStore(clean).read(SPEC.candidate_id(2)).answers


def test_keep_weights_all_and_checkpoint_subset(run_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    rows: list[dict[str, Any]] = []
    run_training(SPEC, [2], run_dir, _cfg(keep_weights="all"), rows.append)
    assert [r["epoch"] for r in rows] == [2]
    assert sorted(p.name for p in (run_dir / "weights").iterdir()) == ["adamw-lr1e-03-cosine-ep2"]
    model = AutoModelForCausalLM.from_pretrained(run_dir / "weights" / "adamw-lr1e-03-cosine-ep2")
    assert model.config.hidden_size == 128


def test_lora_runs_one_epoch_and_saves_only_adapters(run_dir: Path) -> None:
    spec = TrainingSpec("adamw", 1e-2, "constant", 1, lora_rank=4)
    rows: list[dict[str, Any]] = []
    run_training(spec, [1], run_dir, _cfg({"lora": {"rank": 8}}, keep_weights="all"), rows.append)
    assert rows[0]["candidate_id"] == "adamw-lr1e-02-constant-lora4-ep1" and rows[0]["steps"] == 13
    saved = run_dir / "weights" / "adamw-lr1e-02-constant-lora4-ep1"
    assert json.loads((saved / "adapter_config.json").read_text())["r"] == 4  # spec overrides 8
    assert (saved / "adapter_model.safetensors").is_file() and not (saved / "model.safetensors").exists()


def test_deepspeed_zero2_one_epoch(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("deepspeed")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    rows: list[dict[str, Any]] = []
    spec = TrainingSpec("adamw", 1e-3, "cosine", 1)
    run_training(spec, [1], run_dir, _cfg(deepspeed=str(ROOT / "configs/deepspeed/zero2.json")), rows.append)
    assert rows[0]["steps"] == 13 and rows[0]["train_loss"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_training(run_dir: Path) -> None:
    rows: list[dict[str, Any]] = []
    run_training(SPEC, [2], run_dir, _cfg(), rows.append)
    assert rows[0]["train_loss"] > 0 and 0 <= rows[0]["exact_match"] <= 1
