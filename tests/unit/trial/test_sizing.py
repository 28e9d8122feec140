"""The memory model term by term, the dry run's verdict and peak disk, and validation loss
batched by tokens (same value as the old fixed 100-row batches)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from hpo.config.schema import ExperimentConfig
from hpo.run.experiment import load_experiment
from hpo.trial.generate import IGNORE, collate, encode
from hpo.trial.memory import GB, Layout, Shape, memory_terms
from hpo.trial.sizing import KNOWN, describe, disk_plan, estimate, size
from hpo.trial.val_loss import token_batches, validation_loss
from hpo.types import Example
from tests.helpers.tiny_llama import build_tokenizer

BLOOM = Shape(*KNOWN["bloom-7b"])


def _layout(**over: Any) -> Layout:
    base: dict[str, Any] = dict(ranks=2, zero=True, bf16=True, lora=False, fused_adam=True, fp32_grad_accum=True,
                                offload_optimizer=False, reduce_bucket=2e8, allgather_bucket=2e8, overlap_comm=True,
                                micro_batch=4, max_length=512, checkpointing=True, frozen_bytes=2)
    return Layout(**{**base, **over})


def test_zero2_model_states_follow_deepspeed() -> None:
    p = BLOOM.params
    m = memory_terms(BLOOM, _layout())
    # 2P bf16 + 4P/N masters + 8P/N AdamW moments + 4P/N fp32 gradient partition; fused: no temporary
    assert m.parameters + m.master_weights + m.optimizer_states + m.gradients == pytest.approx(2 * p + 16 * p / 2)
    assert m.optimizer_temporary == 0 and m.step_gradient_copy == 0
    foreach = memory_terms(BLOOM, _layout(fused_adam=False))
    assert foreach.optimizer_temporary == pytest.approx(4 * p / 2)
    bf16_accum = memory_terms(BLOOM, _layout(fp32_grad_accum=False))  # bf16 partition + fp32 copy at step
    assert (bf16_accum.gradients, bf16_accum.step_gradient_copy) == (pytest.approx(2 * p / 2), pytest.approx(4 * p / 2))
    assert m.buckets == pytest.approx(2 * (2e8 * 2 + 2e8))
    assert m.logits == pytest.approx(10 * 4 * 512 * 250880)  # BLOOM's vocabulary: 5.1 GB
    assert m.largest_gradient == pytest.approx(2 * 250880 * 4096)
    offload = memory_terms(BLOOM, _layout(offload_optimizer=True))
    assert offload.master_weights == offload.optimizer_states == 0 and offload.host_bytes == pytest.approx(16 * p / 2)
    assert m.total == pytest.approx(sum(v for _, v in m.terms()))


def test_old_split_does_not_fit_and_says_so() -> None:
    old = load_experiment(None, {"model.name": "bloom-7b", "resources.workers_per_trial": 2,
                                 "search.max_concurrent": 3, "train.gradient_accumulation_steps": 16})
    assert estimate(old).gpu_memory_gb > 80  # 2P + 16P/2 alone is 70.7 GB for BLOOM
    assert "DOES NOT FIT" in describe(old, 170)


@pytest.mark.parametrize("model", list(KNOWN))
def test_preset_fits_an_80_gb_card_with_headroom_on_every_paper_model(model: str) -> None:
    cfg = load_experiment(None, {"model.name": model})
    assert estimate(cfg).gpu_memory_gb <= 0.9 * cfg.resources.gpu_memory_gb
    text = describe(cfg, 170)
    assert "fits:" in text and "DOES NOT FIT" not in text
    for term in ("parameters", "master weights", "optimizer states", "gradients", "logits", "context allowance"):
        assert f"  {term} " in text
    assert "peak disk" in text and f"~{size(disk_plan(cfg, None).peak_gb)} =" in describe(cfg, 170)


def test_peak_disk_formula() -> None:
    cfg = load_experiment(None, {"model.name": "bloom-7b"})
    d = disk_plan(cfg, None)  # 80 candidates, 5 per training, 1 trial at once, 4 blocks
    assert d.kept_checkpoints == 4 + 1 + 0
    tokenizer, run_files = 0.02, 0.016 + 80 * 170 * 2048 / 1e9  # allowances: no local files here
    assert d.peak_gb == pytest.approx(5 * (2 * 7.07 + tokenizer) + 2 * 14 * 7.07 * 1 + run_files)
    shuffled = load_experiment(None, {"model.name": "bloom-7b", "tournament.order": "shuffled"})
    assert disk_plan(shuffled, None).kept_checkpoints == 80


def rows_loss(model: Any, tokenizer: Any, examples: list[Example], max_length: int) -> float:
    """The previous implementation: fixed batches of 100 rows."""
    encoded = [encode(tokenizer, e, max_length) for e in examples if e.output is not None]
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for s in range(0, len(encoded), 100):
            batch = collate(encoded[s:s + 100], tokenizer.pad_token_id)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            total += float(torch.nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                ignore_index=IGNORE, reduction="sum"))
            tokens += int((labels != IGNORE).sum())
    return total / tokens


def test_validation_loss_batches_by_tokens_with_the_same_value() -> None:
    torch.manual_seed(0)
    tok = build_tokenizer()
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, pad_token_id=tok.pad_token_id))
    words = ["Reverse the string", "Add the numbers 12 and 30", "Sort", "Count the letters in abcabc"]
    examples = [Example(instruction=words[i % 4] * (1 + i % 3), input="", output="abc" * (1 + i % 5))
                for i in range(130)]
    widths: list[int] = []
    model.register_forward_hook(lambda m, a, k, out: widths.append(k["input_ids"].numel()), with_kwargs=True)
    value = validation_loss(model, tok, examples, 64, token_budget=256)
    assert max(widths) <= 256 and len(widths) > 2  # bounded padded tokens per forward pass
    assert value == pytest.approx(rows_loss(model, tok, examples, 64), abs=1e-6)


def test_token_batches_cover_every_row_once() -> None:
    lengths = [5, 300, 7, 7, 64, 1, 64]
    batches = token_batches(lengths, 128)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert all(len(b) * max(lengths[i] for i in b) <= 128 or len(b) == 1 for b in batches)
    assert [300] in [[lengths[i] for i in b] for b in batches]  # longer than the budget: alone
    assert GB == 1e9 and ExperimentConfig.model_validate({}).train.val_loss_tokens is None


@pytest.mark.parametrize("arch", ["bloom", "gpt2"])
def test_a_model_whose_config_is_local_is_sized_from_it(arch: str, tmp_path: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan sizes the model the run will load: a config in the local HF cache (or a local
    folder) wins over the published table, so a different checkpoint under an alias, or a local
    model, is not sized as something else."""
    import huggingface_hub.constants

    from hpo.trial.sizing import model_shape
    from tests.helpers.fake_hub import ARCHES, install_tiny

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    alias, snapshot = install_tiny(arch, tmp_path / "hf")
    from transformers import AutoModelForCausalLM

    real = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(snapshot).parameters())
    for name in (alias, str(snapshot)):
        shape = model_shape(ExperimentConfig.model_validate({"model": {"name": name}}))
        assert shape.params == real and shape.hidden == 64 and shape.layers == 2, (name, shape)
    assert ARCHES[arch][0] in KNOWN


def test_sizes_below_a_gigabyte_print_in_megabytes() -> None:
    """A tiny model's plan prints a bound a test can compare with, not ~0.0 GB."""
    assert size(282.8) == "282.8 GB" and size(1.0) == "1.0 GB" and size(0.0041) == "4.1 MB"
