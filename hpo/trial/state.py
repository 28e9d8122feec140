"""Crash-safe trial files: the resumable state, kept weights, and fault-injection markers.

The state is everything needed to continue a training after its last finished epoch. Its folder is written whole to a temporary folder and renamed into place, so
`<trial_dir>/state` is either the previous complete state or the new complete state.
Only trainable parameters are saved (all of them for full fine-tuning, the adapters for LoRA):
the frozen rest is the shared base, which is identical on reload.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from hpo.errors import ConfigError
from judge.atomic import storage_error


def save_state(trial_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
               scheduler: Any, epoch: int) -> None:
    """Atomically replace `<trial_dir>/state` with the state after `epoch`. `optimizer=None`
    (DeepSpeed, whose ZeRO optimizer owns flattened partitions) resumes with fresh moments."""
    target = Path(trial_dir) / "state"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".state-"))
        trainable = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
        torch.save({"model": trainable, "optimizer": optimizer.state_dict() if optimizer else None,
                    "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                    "python_rng": random.getstate()}, tmp / "state.pt")
        (tmp / "meta.json").write_text(json.dumps({"epoch": epoch}))
        old = target.with_name(".state-old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise storage_error(target, exc) from exc


def _state_dir(trial_dir: Path) -> Path | None:
    for name in ("state", ".state-old"):  # .state-old: a crash between the two renames
        if (Path(trial_dir) / name / "meta.json").is_file():
            return Path(trial_dir) / name
    return None


def stored_epoch(trial_dir: Path) -> int:
    """The last finished epoch with a saved state, or 0."""
    d = _state_dir(trial_dir)
    return int(json.loads((d / "meta.json").read_text())["epoch"]) if d else 0


def load_state(trial_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any) -> int:
    """Restore a saved state in place; return its epoch (0 when there is none). Call it after
    the model is on its device: the optimizer's moments are cast to their parameters' device."""
    d = _state_dir(trial_dir)
    if d is None:
        return 0
    # weights_only: tensors, numbers and plain containers only; no code runs on load
    blob = torch.load(d / "state.pt", weights_only=True, map_location="cpu")
    missing = set(blob["model"]) - {n for n, _ in model.named_parameters()}
    if missing:
        raise RuntimeError(f"{d}: state does not match the model ({len(missing)} unknown tensors)")
    model.load_state_dict(blob["model"], strict=False)
    if blob["optimizer"] is not None:
        optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    random.setstate(blob["python_rng"])
    return stored_epoch(trial_dir)


def clear_state(trial_dir: Path) -> None:
    for name in ("state", ".state-old"):
        shutil.rmtree(Path(trial_dir) / name, ignore_errors=True)


def save_weights(model: Any, tokenizer: Any, target: Path) -> None:
    """`save_pretrained` model (LoRA: the adapter) and tokenizer to `target`, atomically."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        model.save_pretrained(tmp, max_shard_size="5GB")  # sharded safetensors
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError as exc:
        raise storage_error(target, exc) from exc


def fault_due(spec: str | None, run_dir: Path, training_id: str, epoch: int) -> bool:
    """Tests only: does `train.fault_injection` ("<training_id>:<epoch>:once|always") fire now?
    "once" fires the first time only, remembered by a marker in `<run_dir>/faults/`."""
    if not spec:
        return False
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in ("once", "always"):
        raise ConfigError(f"train.fault_injection must be '<training_id>:<epoch>:once|always', got {spec!r}")
    tid, ep, mode = parts
    if tid != training_id or int(ep) != epoch:
        return False
    if mode == "always":
        return True
    marker = Path(run_dir) / "faults" / f"{training_id}-ep{epoch}"
    if marker.exists():
        return False
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{time.time()}\n")
    return True
