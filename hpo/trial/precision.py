"""Training precision: fp32, or bf16 compute with fp32 master weights. Never pure bf16.

Adam updates at the paper's learning rates (2e-6 ... 2e-5) are below bf16's resolution
(8 bits of mantissa: a weight of 1.0 moves in steps of 2^-7), so a full fine-tune with bf16
weights silently stops learning. Hence:
  * full fine-tuning always keeps fp32 parameters; `train.precision: bf16-mixed` adds bf16
    compute (DeepSpeed's bf16 mode, whose ZeRO optimizer holds fp32 master partitions, or
    `torch.autocast` around the forward pass with fp32 parameters);
  * LoRA may load the frozen base in `model.dtype` (bf16 halves its memory); peft keeps the
    trained adapters in fp32.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from hpo.config.schema import ExperimentConfig

LOW = ("bfloat16", "float16")


def load_dtype(cfg: ExperimentConfig, lora: bool) -> str:
    """The dtype to load the base model in for training."""
    if lora:
        return cfg.model.dtype
    return "float32"  # masters; bf16 compute comes from autocast or DeepSpeed


def autocast(cfg: ExperimentConfig, device: torch.device) -> Any:
    """bf16 autocast for the forward pass under `bf16-mixed` (not with DeepSpeed, which casts
    the module itself and keeps the fp32 masters in its optimizer)."""
    if cfg.train.precision == "bf16-mixed" and not cfg.train.deepspeed:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def pure_low_precision_error(cfg: ExperimentConfig) -> str | None:
    """Why this config would train pure bf16/fp16 weights, or None (checked at config load)."""
    if cfg.model.lora is None and cfg.model.dtype in LOW and cfg.train.precision == "fp32":
        return (f"model.dtype={cfg.model.dtype} with full fine-tuning would train pure "
                f"{cfg.model.dtype} weights (updates below its resolution); set "
                "train.precision: bf16-mixed (fp32 master weights), or use LoRA")
    return None
