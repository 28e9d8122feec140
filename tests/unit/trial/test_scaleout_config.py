"""Config for trials on N workers: presets, the DeepSpeed path, precision, dry-run estimates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.run.experiment import load_experiment as load_config
from hpo.trial.dist import Dist
from hpo.trial.loop import effective_batch, shard
from hpo.trial.sizing import describe, estimate
from hpo.trial.workers import trial_resources, worker_resources

ROOT = Path(__file__).resolve().parents[3]


def test_preset_fills_only_what_the_user_left_unset() -> None:
    cfg = load_config(None, {"model.name": "bloom-7b", "train.batch_size": 2})
    assert cfg.train.batch_size == 2  # CLI wins over the preset
    assert (cfg.train.max_length, cfg.train.max_new_tokens, cfg.train.precision) == (512, 512, "bf16-mixed")
    # 1 trial x 4 GPUs + the judge's 2 (a Ray actor) fit one 8-GPU node; 4 ranks so ZeRO-2 fits 80 GB
    assert (cfg.resources.workers_per_trial, cfg.search.max_concurrent) == (4, 1) and cfg.resources.use_gpu
    assert cfg.judge.serve is not None and cfg.judge.serve.gpus == 2
    assert cfg.judge.backend == "vllm" and Path(cfg.train.deepspeed or "").is_absolute()
    tiny = load_config(None, {})
    assert (tiny.train.max_length, tiny.judge.backend, tiny.resources.workers_per_trial) == (64, "reference", 1)


def test_deepspeed_path_resolves_against_the_experiment_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "ds.json").write_text(json.dumps({"zero_optimization": {"stage": 2}}))
    (tmp_path / "exp" / "e.yaml").write_text("train: {deepspeed: ds.json}\n")
    monkeypatch.chdir(tmp_path)  # not the experiment's folder
    cfg = load_config(tmp_path / "exp" / "e.yaml")
    assert cfg.train.deepspeed == str((tmp_path / "exp" / "ds.json").resolve())
    (tmp_path / "exp" / "bad.yaml").write_text("train: {deepspeed: nope.json}\n")
    with pytest.raises(ConfigError, match="train.deepspeed: config not found: nope.json"):
        load_config(tmp_path / "exp" / "bad.yaml")


def test_pure_bf16_full_fine_tuning_is_refused_and_workers_need_the_grid() -> None:
    with pytest.raises(ValueError, match="bf16-mixed"):
        ExperimentConfig.model_validate({"model": {"dtype": "bfloat16"}})
    ExperimentConfig.model_validate({"model": {"dtype": "bfloat16", "lora": {}}})  # LoRA: fp32 adapters
    with pytest.raises(ValueError, match="grid search only"):
        ExperimentConfig.model_validate({"resources": {"workers_per_trial": 2}, "search": {"search": "optuna"}})


def test_resources_effective_batch_and_shards() -> None:
    cfg = ExperimentConfig.model_validate({"resources": {"workers_per_trial": 4, "cpus_per_trial": 2},
                                           "train": {"batch_size": 4, "gradient_accumulation_steps": 8}})
    assert trial_resources(cfg) == {"cpu": 0, "memory": 1e6} and worker_resources(cfg) == {"CPU": 0.5}
    assert effective_batch(cfg) == 128
    one = ExperimentConfig.model_validate({"resources": {"use_gpu": True}})
    assert trial_resources(one)["gpu"] == 1  # so Ray sets CUDA_VISIBLE_DEVICES per trial
    batch = list(range(7))
    parts = [shard(batch, r, 3) for r in range(3)]
    assert parts == [[0, 1, 2], [3, 4], [5, 6]] and Dist().sum([1.0, 2.0]) == [1.0, 2.0]


def test_dry_run_estimates_for_a_7b_preset_without_weights() -> None:
    cfg = load_config(None, {"model.name": "llama-7b"})
    need = estimate(cfg)
    # ZeRO-2 over 4 GPUs, bf16 + fp32 masters, fused AdamW: 2P + 16P/4 = 6P of model states
    # (P = 6.74e9: 40.4 GB) + buckets, activations, logits and the context allowance
    assert need.gpus == 4 and 40.4 < need.gpu_memory_gb < 50
    text = describe(cfg, None)
    assert "effective batch  128" in text and "huggingface-cli download" in text
    assert "4 GPUs with ~46 GB each for trials + 2 for the judge" in text  # one 8-GPU node


def test_bf16_mixed_keeps_fp32_parameters_and_computes_in_bf16() -> None:
    from hpo.trial.optim import PlainStepper, token_loss_sum
    from hpo.trial.precision import autocast

    cfg = ExperimentConfig.model_validate({"train": {"precision": "bf16-mixed"}})
    model = torch.nn.Sequential(torch.nn.Embedding(16, 8), torch.nn.Linear(8, 16))
    seen: list[torch.dtype] = []
    model[1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> object:
            return type("Out", (), {"logits": self.inner(input_ids)})()

    wrapped = Wrapped()
    opt = torch.optim.AdamW(wrapped.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    ids = torch.randint(0, 16, (2, 6))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    PlainStepper(wrapped, opt, sched, cfg, Dist()).step([batch], 10)
    assert seen == [torch.bfloat16]
    assert all(p.dtype == torch.float32 for p in wrapped.parameters())
    with autocast(cfg, torch.device("cpu")):
        assert token_loss_sum(wrapped, batch, torch.device("cpu")).dtype == torch.float32


def test_cli_dry_run_of_a_7b_preset_needs_no_weights_and_the_real_run_fails_fast(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: no weights here
    root = tmp_path / "runs"
    assert main(["run", "--model", "llama-7b", "--dry-run", "--run-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "llama-7b (preset" in out and "effective batch  128" in out and "max_length 512" in out
    assert "MISSING: huggingface-cli download huggyllama/llama-7b" in out
    assert main(["run", "--model", "llama-7b", "--run-root", str(root)]) == 2
    assert "not in the local Hugging Face cache" in capsys.readouterr().err
    assert not root.exists()
