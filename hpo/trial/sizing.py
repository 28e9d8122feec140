"""What one trial needs, estimated from the config alone (printed by `hpo run --dry-run`).

Needs no weights, data or GPU: a plan for an 8-GPU node can be checked on a laptop. GPU memory
per rank, term by term: `hpo.trial.memory` (formulas in its docstring and docs/trial.md).
Disk: kept checkpoints (`hpo.trial.weights.kept_weights_bound`) x one checkpoint's weights +
two resumable states (the old epoch's until the new one commits) x trials in flight.
These are models to plan with, not measurements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hpo.config.schema import ExperimentConfig, find_resource
from hpo.config.secrets import redact
from hpo.models.aliases import HUB_MODELS, resolve_model
from hpo.trial.memory import (
    DEEPSPEED_BUCKET_DEFAULT,
    GB,
    HEADROOM,
    Layout,
    MemoryTerms,
    Shape,
    memory_terms,
    read_deepspeed,
    usable_bytes,
)
from hpo.trial.weights import block_order, kept_weights_bound


class PlanShape(Protocol):
    """What sizing reads of a run's plan (`hpo.search.plan.Plan` has this shape): the search
    sits above the trial, so the trial names the shape rather than importing the plan."""

    @property
    def candidates(self) -> Sequence[Any]: ...

    @property
    def baseline(self) -> Any: ...

    def checkpoints(self) -> Mapping[str, Sequence[int]]: ...

# (parameters, hidden, layers, vocab, heads) from each model's published config
KNOWN: dict[str, tuple[float, int, int, int, int]] = {
    "bloom-7b": (7.07e9, 4096, 30, 250880, 32),
    "llama-7b": (6.74e9, 4096, 32, 32000, 32),
    "opt-6.7b": (6.66e9, 4096, 32, 50272, 32),
    "pythia-6.9b": (6.86e9, 4096, 32, 50432, 32),
    "cerebras-gpt-6.7b": (6.66e9, 4096, 32, 50257, 32),
}
_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "auto": 2}


@dataclass(frozen=True)
class TrialNeeds:
    gpus: int
    gpu_memory_gb: float  # per GPU: the modelled peak of one rank (memory.total)
    state_disk_gb: float  # the resumable state of one trial in flight (one epoch's)
    weights_disk_gb: float  # one kept checkpoint (save_pretrained)
    memory: MemoryTerms


@dataclass(frozen=True)
class DiskPlan:
    """Peak disk of a plan: kept checkpoints' weights + resumable state of the trials in flight."""

    kept_checkpoints: int
    weights_gb: float
    state_gb: float
    concurrent: int
    checkpoint_files_gb: float = 0.0  # tokenizer and config saved beside each kept checkpoint
    run_files_gb: float = 0.0  # MLflow store, answers, staged data, logs, Ray's experiment state

    @property
    def peak_gb(self) -> float:
        return (self.kept_checkpoints * (self.weights_gb + self.checkpoint_files_gb)
                + 2 * self.state_gb * self.concurrent + self.run_files_gb)


def model_shape(cfg: ExperimentConfig) -> Shape:
    """The configured base model's shape, without loading its weights: from its config.json when
    one is on this machine (the HF cache or a local folder: the model the run will load), else
    the published table for the paper's five, else the tiny model's settings."""
    local = _local_config(cfg.model.name)
    if local is not None:
        return _shape_of(local, cfg.model.trust_remote_code)
    if cfg.model.name in KNOWN:
        return Shape(*KNOWN[cfg.model.name])
    t = cfg.model.tiny
    inter = -(-t.hidden_size * 8 // 3 // 8) * 8
    per_layer = 4 * t.hidden_size ** 2 + 3 * t.hidden_size * inter
    params = t.num_layers * per_layer + 2 * t.vocab_size * t.hidden_size
    return Shape(float(params), t.hidden_size, t.num_layers, t.vocab_size, t.num_heads)


def _local_config(name: str) -> Path | None:
    """The folder holding the model's config.json on this machine, or None (never downloads)."""
    if name in HUB_MODELS:
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(HUB_MODELS[name], local_files_only=True))
        except Exception:  # not cached, or no hub client: size it from the table
            return None
    else:
        folder = Path(name).expanduser()
    return folder if (folder / "config.json").is_file() else None


def _shape_of(folder: Path, trust_remote_code: bool) -> Shape:
    """Parameters counted on the meta device (no memory, any size), and the config's sizes."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    params = sum(p.numel() for p in model.parameters())
    text = config.get_text_config()
    hidden = getattr(text, "hidden_size", None) or text.n_embd
    layers = getattr(text, "num_hidden_layers", None) or text.n_layer
    heads = getattr(text, "num_attention_heads", None) or text.n_head
    return Shape(float(params), int(hidden), int(layers), int(text.vocab_size), int(heads))


def layout(cfg: ExperimentConfig) -> Layout:
    """The config's memory layout; the DeepSpeed JSON gives buckets, offload and accumulation."""
    t, r = cfg.train, cfg.resources
    path = find_resource(t.deepspeed) if t.deepspeed else None
    ds = read_deepspeed(path)
    zero, types = ds.get("zero", {}), ds.get("data_types", {})
    offload = (zero.get("offload_optimizer") or {}).get("device") == "cpu"
    return Layout(ranks=r.workers_per_trial if t.deepspeed else 1, zero=bool(t.deepspeed),
                  bf16=t.precision == "bf16-mixed", lora=cfg.model.lora is not None, fused_adam=r.use_gpu,
                  fp32_grad_accum=types.get("grad_accum_dtype", "fp32") in ("fp32", "float32"),
                  offload_optimizer=offload,
                  reduce_bucket=float(zero.get("reduce_bucket_size", DEEPSPEED_BUCKET_DEFAULT)),
                  allgather_bucket=float(zero.get("allgather_bucket_size", DEEPSPEED_BUCKET_DEFAULT)),
                  overlap_comm=bool(zero.get("overlap_comm", False)), micro_batch=t.batch_size,
                  max_length=t.max_length, checkpointing=t.gradient_checkpointing,
                  frozen_bytes=_BYTES[cfg.model.dtype])


def estimate(cfg: ExperimentConfig) -> TrialNeeds:
    """GPUs, per-rank peak memory and disk sizes of one trial."""
    shape, lay = model_shape(cfg), layout(cfg)
    p, n, lora = shape.params, cfg.resources.workers_per_trial, cfg.model.lora is not None
    mem = memory_terms(shape, lay)
    # DeepSpeed checkpoint: bf16 module 2P + per rank fp32 masters and moments (12P over all ranks)
    state_disk = _BYTES[cfg.model.dtype] * p * 0.01 if lora else (2 + 12) * p
    gpus = n if cfg.resources.use_gpu else int(cfg.resources.gpus_per_trial)
    weights = (0.01 if lora else 1) * p * (2 if cfg.train.precision == "bf16-mixed" else 4)
    return TrialNeeds(gpus, mem.total / GB, state_disk / GB, weights / GB, mem)


def disk_plan(cfg: ExperimentConfig, plan: PlanShape | None, n_validation: int | None = None) -> DiskPlan:
    """The plan's peak disk; without a plan, the paper's 80 candidates (16 trainings x 5)."""
    need = estimate(cfg)
    n, per = (len(plan.candidates), max(map(len, plan.checkpoints().values()))) if plan else (80, 5)
    baseline = bool(plan and plan.baseline)
    kept = kept_weights_bound(n, per, cfg.search.max_concurrent, cfg.tournament.blocks, block_order(cfg),
                              cfg.train.keep_weights, baseline)
    return DiskPlan(kept, need.weights_disk_gb, need.state_disk_gb, cfg.search.max_concurrent,
                    _checkpoint_files(cfg) / GB, _run_files(cfg, n + baseline, n_validation or 170) / GB)


# Allowances where the files cannot be measured from here (documented in docs/trial.md "Disk")
TOKENIZER_ALLOWANCE = 20e6  # a hub model's tokenizer and config not in the local cache (BLOOM's: 15 MB)
RUN_FILES_BASE = 16e6  # MLflow store and artifacts, plots, logs, Ray's experiment state
ANSWER_BYTES = 2048  # one stored answer with its prompt and metrics, per candidate and item


def _checkpoint_files(cfg: ExperimentConfig) -> float:
    """Bytes saved beside the weights of a kept checkpoint: measured from the local model folder
    (its files other than weights), else an allowance."""
    local = _local_config(cfg.model.name)
    if local is None:
        return TOKENIZER_ALLOWANCE if cfg.model.name != "tiny" else 1e6
    return float(sum(f.stat().st_size for f in local.iterdir()
                     if f.is_file() and f.suffix not in (".safetensors", ".bin")))


def _run_files(cfg: ExperimentConfig, candidates: int, n_validation: int) -> float:
    """Bytes of the run's own files: a fixed allowance, the answers, and the staged data (the
    size of the training file when it is a local file, twice: the copy and its encoding)."""
    data = Path(cfg.data.train)
    staged = 2 * data.stat().st_size if data.is_file() else 0
    return RUN_FILES_BASE + candidates * n_validation * ANSWER_BYTES + staged


def memory_lines(cfg: ExperimentConfig) -> list[str]:
    """Peak GPU memory per rank, each term, and a plain verdict against the card."""
    need = estimate(cfg)
    mem, card = need.memory, cfg.resources.gpu_memory_gb
    if not cfg.resources.use_gpu:
        return [f"memory           ~{mem.total / GB:.1f} GB per worker (no GPU configured; "
                "the GPU model is shown for planning)"]
    usable = usable_bytes(card) / GB
    fits = mem.total / GB <= usable
    verdict = (f"fits: {usable - mem.total / GB:.1f} GB to spare under {usable:.0f} GB "
               f"({card:g} GB card less {HEADROOM:.0%} headroom)") if fits else (
        f"DOES NOT FIT: {mem.total / GB:.1f} GB > {usable:.0f} GB ({card:g} GB card less {HEADROOM:.0%} "
        "headroom); use more resources.workers_per_trial (ZeRO-2 shards 16P/N), a smaller "
        "train.batch_size with more gradient_accumulation_steps, or a larger resources.gpu_memory_gb card")
    lines = [f"GPU memory       ~{mem.total / GB:.1f} GB peak per GPU; {verdict}"]
    lines += [f"  {name:<20} {value / GB:6.2f} GB" for name, value in mem.terms() if value]
    if mem.host_bytes:
        lines.append(f"  host RAM (offload)   {mem.host_bytes / GB:6.2f} GB per rank")
    return lines


def disk_lines(cfg: ExperimentConfig, plan: PlanShape | None, n_validation: int | None = None) -> list[str]:
    """Peak disk of the plan, with its formula filled in."""
    d = disk_plan(cfg, plan, n_validation)
    return [f"peak disk        ~{size(d.peak_gb)} = {d.kept_checkpoints} kept checkpoints x "
            f"({size(d.weights_gb)} weights + {size(d.checkpoint_files_gb)} tokenizer/config) "
            f"(keep_weights: {cfg.train.keep_weights}, blocks in {block_order(cfg)} order) + 2 x "
            f"{size(d.state_gb)} resumable state x {d.concurrent} trials in flight (old epoch kept "
            f"until the new one commits) + {size(d.run_files_gb)} run files (MLflow, answers, data, logs)"]


def size(gb: float) -> str:
    """A size given in GB, printed in GB from 1 GB up and in MB below (a tiny model's plan)."""
    return f"{gb:.1f} GB" if gb >= 1 else f"{gb * 1000:.1f} MB"


def describe(cfg: ExperimentConfig, n_validation: int | None, plan: PlanShape | None = None) -> str:
    """The dry run's resources section: preset, resolved resources, batch, memory, disk, needs."""
    from hpo.trial.loop import effective_batch

    r, t, need = cfg.resources, cfg.train, estimate(cfg)
    backend = "DeepSpeed ZeRO-2" if t.deepspeed else ("DDP" if r.workers_per_trial > 1 else "one process")
    lines = [
        f"model            {cfg.model.name}" + (" (preset: real-model defaults)" if cfg.model.name in HUB_MODELS
                                                 else ""),
        f"per trial        {r.workers_per_trial} worker(s), {backend}, "
        f"{need.gpus} GPU(s), {r.cpus_per_trial:g} CPU(s); {cfg.search.max_concurrent} trials at once "
        f"-> {need.gpus * cfg.search.max_concurrent} GPUs",
        f"effective batch  {effective_batch(cfg)} = micro-batch {t.batch_size} x accumulation "
        f"{t.gradient_accumulation_steps} x workers {r.workers_per_trial}",
        f"precision        {t.precision}" + (" (bf16 compute, fp32 master weights)" if t.precision == "bf16-mixed"
                                             else "") + f"; gradient checkpointing {'on' if t.gradient_checkpointing else 'off'}",
        f"lengths          max_length {t.max_length}, answers up to {t.max_new_tokens} new tokens",
        *memory_lines(cfg),
        *disk_lines(cfg, plan, n_validation),
    ]
    return "\n".join(lines + [f"needs            {n}" for n in needs(cfg, n_validation)])


def needs(cfg: ExperimentConfig, n_validation: int | None) -> list[str]:
    """What the real run needs that this machine may lack (checked without loading anything)."""
    out: list[str] = []
    resolved = resolve_model(cfg.model.name)
    if resolved.kind == "hub":
        out.append(f"the weights of {resolved.source} in the local Hugging Face cache "
                   f"({'present' if _cached(resolved.source) else 'MISSING: huggingface-cli download ' + resolved.source})")
    gpus = estimate(cfg).gpus * cfg.search.max_concurrent
    if gpus:
        import torch

        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        serve = cfg.judge.serve  # the judge's own GPUs when it is served as a Ray actor
        judge = max(serve.gpus, float(serve.tensor_parallel_size or 0)) if serve else 0.0
        extra = f" + {judge:g} for the judge" if judge else ""
        out.append(f"{gpus} GPUs with ~{estimate(cfg).gpu_memory_gb:.0f} GB each for trials{extra}"
                   f" (this machine: {have})")
    for key, value in (("data.train", cfg.data.train), ("data.validation", cfg.data.validation)):
        if value != "synthetic" and not value.startswith("hf:"):
            out.append(f"{key} {value} ({'present' if Path(value).is_file() else 'MISSING'})")
    if n_validation is None:
        out.append("the validation file to count its items (PandaLM's has 170)")
    if cfg.judge.backend == "vllm":
        served = f"{cfg.judge.option('model')} at {redact(cfg.judge.option('url'))}"
        out.append(f"a judge server for {served} (hpo serve-judge)")
    return out


def _cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, or no hub client: either way, not available offline
        return False
    return any(Path(snapshot).glob("*.safetensors")) or any(Path(snapshot).glob("*.bin"))
