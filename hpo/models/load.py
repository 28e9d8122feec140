"""Prepare the base model once per run (`prepare_base`) and load it in every trial (`load_base`).

`<out_dir>/base.json` says what was prepared. For `tiny` the weights and tokenizer live in
`out_dir` itself (every trial starts from this same initialisation, for a fair comparison);
for the other kinds `base.json` points at the folder holding them (HF cache, GGUF cache, local).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from hpo.config.schema import LoraConfig, ModelConfig
from hpo.errors import ConfigError
from hpo.models import smollm2, tiny
from hpo.models.aliases import ResolvedModel, resolve_model
from hpo.types import Example
from judge.atomic import atomic_write_json

# Weights above this size are not trained on a CPU (a 7B model in bf16 is ~14 GB)
CPU_WEIGHTS_LIMIT_BYTES = 4 * 10**9


def _fingerprint(model_cfg: ModelConfig, examples: list[Example], seed: int) -> dict[str, Any]:
    data = [(e.instruction, e.input, e.output) for e in examples]
    return {"model": model_cfg.name, "tiny": model_cfg.tiny.model_dump(), "seed": seed,
            "data_hash": hash_text(json.dumps(data))}


def hash_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare_base(model_cfg: ModelConfig, train_examples: list[Example], out_dir: Path,
                 seed: int) -> Path:
    """Make the base model ready under `out_dir`; fail fast with a ConfigError if it cannot be.

    Idempotent: if `out_dir/base.json` already describes the same inputs, nothing is redone.
    A hub model and smollm2 are recorded by name only, never by this machine's cache path:
    every node that loads them finds them in its own cache (`base_source`), so the driver
    needs neither the weights nor a GPU."""
    out_dir = Path(out_dir)
    resolved = resolve_model(model_cfg.name)
    fingerprint = _fingerprint(model_cfg, train_examples, seed)
    info_path = out_dir / "base.json"
    if info_path.is_file() and json.loads(info_path.read_text()).get("fingerprint") == fingerprint:
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"format": "hpo.base/v1", "kind": resolved.kind, "name": resolved.name,
                            "fingerprint": fingerprint}
    if resolved.kind == "tiny":
        tokenizer = tiny.train_tokenizer(train_examples, model_cfg.tiny.vocab_size)
        model = tiny.build_model(model_cfg.tiny, tokenizer, seed)
        tokenizer.save_pretrained(out_dir)
        model.save_pretrained(out_dir)
        info |= {"path": ".", "parameters": sum(p.numel() for p in model.parameters()),
                 "vocab_size": len(tokenizer)}
    elif resolved.kind == "smollm2":
        info["path"] = None
    elif resolved.kind == "hub":
        info |= {"path": None, "repo_id": resolved.source}
    else:
        info["path"] = resolved.source
    atomic_write_json(info_path, info)
    return out_dir


def _weight_bytes(snapshot: Path) -> int:
    """Bytes of the weight files (safetensors or .bin) in a snapshot folder."""
    return sum(f.stat().st_size for pattern in ("*.safetensors", "*.bin") for f in snapshot.glob(pattern))


def hub_snapshot(resolved: ResolvedModel) -> Path:
    """The local HF-cache snapshot of a hub model; never touches the network. Weights too large
    to train on a CPU (a 7B model) also need a GPU: without one, or without the weights, this
    raises a one-line ConfigError. The size decides, not the alias: a small model cached under a
    hub id (a test's tiny stand-in) runs on the CPU."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    snapshot: Path | None = None
    try:
        snapshot = Path(snapshot_download(resolved.source, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        snapshot = None
    weights = _weight_bytes(snapshot) if snapshot is not None else 0
    on_cpu = weights <= CPU_WEIGHTS_LIMIT_BYTES or torch.cuda.is_available()
    problems = ([] if weights else ["is not in the local Hugging Face cache"]) + (
        [] if on_cpu else ["needs a GPU and none is visible"])
    if problems:
        raise ConfigError(
            f"model {resolved.name} ({resolved.source}) {' and '.join(problems)}; download it on a "
            f"machine with internet (huggingface-cli download {resolved.source}) and run on a GPU "
            "node, or use --model tiny")
    assert snapshot is not None
    return snapshot


def base_source(base_dir: Path) -> tuple[dict[str, Any], Path]:
    """`base.json` and the folder holding the weights it describes."""
    info_path = Path(base_dir) / "base.json"
    if not info_path.is_file():
        raise ConfigError(f"no prepared base model at {base_dir} (base.json missing)")
    info = json.loads(info_path.read_text())
    if info["kind"] == "hub":
        return info, node_snapshot(info["repo_id"])
    if info["kind"] == "smollm2":
        return info, smollm2.cached_dir()
    return info, (Path(base_dir) / info["path"]).resolve()


def node_snapshot(repo_id: str) -> Path:
    """A hub model's snapshot in the cache of the machine that loads it (never the network);
    a one-line ConfigError naming the node when it is not there."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        import socket

        raise ConfigError(f"model {repo_id} is not in the Hugging Face cache of node "
                          f"{socket.gethostname()}; download it there (huggingface-cli download "
                          f"{repo_id}) or set HF_HOME to a cache every node shares") from None


def load_base(base_dir: Path, model_cfg: ModelConfig, dtype_name: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a prepared base; the tokenizer always has a pad token.
    `dtype_name` overrides `model.dtype` (training keeps fp32 masters: hpo.trial.precision)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _, source = base_source(base_dir)
    remote = model_cfg.trust_remote_code
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=remote)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    name = dtype_name or model_cfg.dtype
    dtype = name if name == "auto" else getattr(torch, name)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, trust_remote_code=remote)
    return model, tokenizer


def apply_lora(model: Any, lora: LoraConfig, rank: int | None = None) -> Any:
    """Wrap `model` with peft LoRA adapters (`rank` overrides `lora.rank`); the base is frozen."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    from hpo.models.lora import lora_targets

    config = PeftLoraConfig(r=rank or lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=lora_targets(model, lora.target_modules),
                            task_type="CAUSAL_LM")
    # peft keeps the adapters in fp32 even on a bf16 base: fp32 masters for what trains.
    return get_peft_model(model, config, autocast_adapter_dtype=True)
