"""The GPU split between the judge's Ray actor and concurrent trials, and the judge's vLLM flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.run.experiment import load_experiment as load_config
from hpo.search.cluster import gpu_split, judge_gpus, trial_gpus, trial_resources
from judge.ray_serve import vllm_args

REPO = Path(__file__).resolve().parents[3]


def _cfg(**sections: object) -> ExperimentConfig:
    return ExperimentConfig.model_validate(sections)


def test_no_gpus_no_split() -> None:
    assert gpu_split(_cfg()) is None


def test_bloom_experiment_fits_an_8_gpu_node_with_its_judge() -> None:
    cfg = load_config(REPO / "experiments" / "bloom-7b.yaml")
    line = gpu_split(cfg)
    assert line is not None and line.startswith("GPUs: judge 2 (Ray actor) + trials 1 x 4 = 4 of 8 per node")
    assert "--ray" in line and "--tensor-parallel-size 2" in line and "--gpus 2" in line
    # 4 Ray Train workers per trial, one GPU each (2 x 3 does not fit 80 GB for BLOOM); the Tune
    # trial itself is a driver holding none
    assert trial_gpus(cfg) == 4 and cfg.resources.workers_per_trial == 4 and cfg.resources.use_gpu
    assert trial_resources(cfg) == {"cpu": 0, "memory": 1e6}


def test_a_plan_that_oversubscribes_a_node_is_refused_with_the_fix() -> None:
    cfg = _cfg(search={"max_concurrent": 4}, resources={"gpus_per_trial": 2, "gpus_per_node": 8},
               judge={"serve": {"gpus": 1}})
    with pytest.raises(ConfigError, match="max_concurrent: 3"):
        gpu_split(cfg)


def test_tensor_parallel_size_sets_the_judges_minimum_gpus() -> None:
    assert judge_gpus(_cfg(judge={"serve": {"gpus": 1, "tensor_parallel_size": 4}})) == 4
    assert judge_gpus(_cfg()) == 0


def test_vllm_flags_never_carry_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K_TEST", raising=False)
    assert vllm_args(2, 0.85, "K_TEST") == ["--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.85"]
    monkeypatch.setenv("K_TEST", "s3cret")
    assert vllm_args(None, None, "K_TEST") == []  # the key goes in the server's environment
