"""Optional DeepSpeed ZeRO-2 wrapping for multi-GPU trials (`train.deepspeed: <config.json>`).

The JSON may say "auto" for the micro-batch size, gradient clipping and bf16, like the HF
integration; `resolve_config` fills them from the experiment config, because a bare
`deepspeed.initialize` does not understand "auto". The returned engine replaces the model,
optimizer and scheduler: `engine(**batch)`, `engine.backward(loss)`, `engine.step()`.
deepspeed is imported lazily: it is a GPU-side extra (`pip install 'hpo[deepspeed]'`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from hpo.config import ExperimentConfig
from hpo.errors import ConfigError, MissingDependencyError
from hpo.trial.limits import MAX_GRAD_NORM


def resolve_config(path: str | Path, cfg: ExperimentConfig) -> dict[str, Any]:
    """Read a DeepSpeed JSON config and replace its "auto" values from `cfg`."""
    p = Path(path)
    try:
        ds = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"deepspeed config not found: {p}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    fill = {"train_micro_batch_size_per_gpu": cfg.train.batch_size, "gradient_clipping": MAX_GRAD_NORM}
    for key, value in fill.items():
        if ds.get(key, "auto") == "auto":
            ds[key] = value
    bf16 = ds.get("bf16", {})
    if bf16.get("enabled") == "auto":
        bf16["enabled"] = cfg.model.dtype == "bfloat16"
    return ds


def _init_distributed_env() -> None:
    """Single-process defaults so ZeRO-2 also runs outside a `deepspeed` launcher (e.g. in a test)."""
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29511"}.items():
        os.environ.setdefault(key, value)


def wrap(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
         cfg: ExperimentConfig) -> Any:
    """`deepspeed.initialize` with the resolved ZeRO-2 config; returns the engine."""
    try:
        import deepspeed
    except ImportError:
        raise MissingDependencyError("deepspeed", "deepspeed", "train.deepspeed") from None
    assert cfg.train.deepspeed is not None
    config = resolve_config(cfg.train.deepspeed, cfg)
    _init_distributed_env()
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                           config=config)
    return engine


class DeepSpeedStepper:
    """The training step through a DeepSpeed engine (it clips, steps and schedules itself)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                 cfg: ExperimentConfig) -> None:
        self.engine = wrap(model, optimizer, scheduler, cfg)
        self.model = self.engine.module
        self.scheduler = scheduler

    def step(self, batch: dict[str, torch.Tensor]) -> float:
        loss = self.engine(**{k: v.to(self.engine.device) for k, v in batch.items()}).loss
        self.engine.backward(loss)
        self.engine.step()
        return float(loss.detach())

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])
