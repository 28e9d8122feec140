"""Peak GPU memory of one training rank, term by term, from the config alone (no weights, no GPU).

Follows what DeepSpeed 0.19.8 (`runtime/zero/stage_1_and_2.py`) and torch allocate, per rank,
for P parameters over N ZeRO-2 ranks with bf16 compute and fp32 masters:

* parameters          2P      every rank holds the whole bf16 model;
* master weights      4P/N    `single_partition_of_fp32_groups`;
* optimizer states    8P/N    AdamW's exp_avg + exp_avg_sq in fp32 (SGD momentum: 4P/N; the
                              grid has both, the worse is counted);
* gradient partition  4P/N    with `data_types.grad_accum_dtype: fp32` the compact fp32
                              partition accumulates the reduced gradients and is handed to the
                              optimizer as is (`.to(fp32)` of an fp32 tensor is no copy); with
                              bf16 accumulation it is a bf16 partition 2P/N plus the fp32 copy
                              made at step time 4P/N;
* optimizer temporary 4P/N    torch AdamW's foreach `sqrt(exp_avg_sq)`; 0 when fused (on GPU);
* buckets             2 bytes x (reduce_bucket_size x (2 with overlap_comm) + allgather_bucket_size);
* largest gradient    2 x the largest tensor's elements: autograd materialises a parameter's
                      whole bf16 gradient before ZeRO's hook moves it (BLOOM's 1.03e9-element
                      embedding: 2 GB);
* activations         with gradient checkpointing: each layer's bf16 input (2 b s h per layer)
                      plus one layer recomputed in backward, s b h (34 + 5 a s / h) bytes
                      (Korthikanti et al., 2022); without: that per layer;
* logits              10 bytes x b x s x V: the bf16 logits, their fp32 copy for the loss and
                      the fp32 log-softmax kept for backward (its gradient reuses the copy's place);
* CUDA context + NCCL an allowance of 2 GB, not derived.

Without ZeRO (DDP / one process, autocast): 4P fp32 parameters + 4P gradients + 8P moments
(+ 4P foreach temporary off GPU). LoRA: the frozen base in `model.dtype`, the adapters
negligible. These are models to plan with; the GPU tier compares one with a measurement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

GB = 1e9
CONTEXT_BYTES = 2e9  # CUDA context + NCCL communicators: an allowance (1-2 GB seen), not a formula
HEADROOM = 0.10  # share of the card left free for allocator fragmentation and spikes
DEEPSPEED_BUCKET_DEFAULT = 5e8  # DeepSpeed's reduce/allgather bucket default (elements)


@dataclass(frozen=True)
class Shape:
    """What the memory model needs to know of a model, read from its published config."""

    params: float
    hidden: int
    layers: int
    vocab: int
    heads: int

    @property
    def largest_tensor(self) -> float:
        """Elements of the largest parameter: the (vocab x hidden) embedding in all five."""
        return float(max(self.vocab * self.hidden, 4 * self.hidden * self.hidden))


@dataclass(frozen=True)
class Layout:
    """How the states are spread: what the config says, resolved to numbers."""

    ranks: int  # N: ZeRO-2 ranks (workers per trial); 1 without ZeRO
    zero: bool  # DeepSpeed ZeRO-2
    bf16: bool  # bf16-mixed: bf16 parameters, fp32 masters
    lora: bool
    fused_adam: bool  # fused AdamW (CUDA): no foreach temporary
    fp32_grad_accum: bool
    offload_optimizer: bool  # ZeRO-2 offload_optimizer.device == cpu: masters, moments, grads on host
    reduce_bucket: float  # elements
    allgather_bucket: float
    overlap_comm: bool
    micro_batch: int
    max_length: int
    checkpointing: bool
    frozen_bytes: int  # LoRA: bytes per frozen parameter


@dataclass(frozen=True)
class MemoryTerms:
    """Peak bytes on one GPU, term by term (see the module docstring for each formula)."""

    parameters: float
    master_weights: float
    optimizer_states: float
    gradients: float
    step_gradient_copy: float
    optimizer_temporary: float
    buckets: float
    largest_gradient: float
    activations: float
    logits: float
    context_allowance: float
    host_bytes: float = 0.0  # per rank, on the host (optimizer offload); not part of the GPU total

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self) if f.name != "host_bytes")

    def terms(self) -> list[tuple[str, float]]:
        """(name, bytes) for every GPU term, in the docstring's order."""
        return [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self) if f.name != "host_bytes"]


def model_states(p: float, lay: Layout) -> dict[str, float]:
    """Parameters, masters, moments, gradients and the optimizer temporary on one GPU."""
    n = lay.ranks
    if lay.lora:
        return {"parameters": lay.frozen_bytes * p}
    if not lay.zero:
        temp = 0.0 if lay.fused_adam else 4 * p
        return {"parameters": 4 * p, "gradients": 4 * p, "optimizer_states": 8 * p, "optimizer_temporary": temp}
    param_bytes = 2 if lay.bf16 else 4
    grads = 4 * p / n if lay.fp32_grad_accum else param_bytes * p / n
    step_copy = 0.0 if lay.fp32_grad_accum or not lay.bf16 else 4 * p / n
    temp = 0.0 if lay.fused_adam else 4 * p / n
    states = {"parameters": param_bytes * p, "master_weights": 4 * p / n, "optimizer_states": 8 * p / n,
              "gradients": grads, "step_gradient_copy": step_copy, "optimizer_temporary": temp}
    if lay.offload_optimizer:  # the fp32 side lives on the host; CPU Adam has no GPU temporary
        states.update(master_weights=0.0, optimizer_states=0.0, gradients=0.0, step_gradient_copy=0.0,
                      optimizer_temporary=0.0)
    return states


def host_bytes(p: float, lay: Layout) -> float:
    """Host RAM per rank with optimizer offload: fp32 masters, moments and gradient partition."""
    return (4 + 8 + 4) * p / lay.ranks if lay.zero and lay.offload_optimizer else 0.0


def activation_bytes(shape: Shape, lay: Layout) -> tuple[float, float]:
    """(activations, logits) bytes for one micro-batch of `micro_batch` x `max_length` tokens."""
    b, s, h = lay.micro_batch, lay.max_length, shape.hidden
    one_layer = s * b * h * (34 + 5 * shape.heads * s / h)
    acts = shape.layers * 2 * b * s * h + one_layer if lay.checkpointing else shape.layers * one_layer
    return acts, 10.0 * b * s * shape.vocab


def memory_terms(shape: Shape, lay: Layout) -> MemoryTerms:
    """Every term of one rank's peak GPU memory."""
    states = model_states(shape.params, lay)
    acts, logits = activation_bytes(shape, lay)
    buckets = 0.0
    if lay.zero:
        buckets = 2 * (lay.reduce_bucket * (2 if lay.overlap_comm else 1) + lay.allgather_bucket)
    largest = 0.0 if lay.lora else (2 if lay.bf16 else 4) * shape.largest_tensor
    return MemoryTerms(parameters=states.get("parameters", 0.0), master_weights=states.get("master_weights", 0.0),
                       optimizer_states=states.get("optimizer_states", 0.0), gradients=states.get("gradients", 0.0),
                       step_gradient_copy=states.get("step_gradient_copy", 0.0),
                       optimizer_temporary=states.get("optimizer_temporary", 0.0), buckets=buckets,
                       largest_gradient=largest, activations=acts, logits=logits,
                       context_allowance=CONTEXT_BYTES, host_bytes=host_bytes(shape.params, lay))


def usable_bytes(card_gb: float) -> float:
    """What a plan may use of a card: the card less the headroom."""
    return card_gb * GB * (1 - HEADROOM)


def read_deepspeed(path: Path | None) -> dict[str, Any]:
    """The DeepSpeed JSON's `zero_optimization` and `data_types` sections ({} when unreadable)."""
    if path is None or not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {"zero": data.get("zero_optimization") or {}, "data_types": data.get("data_types") or {}}
