"""What one trial needs, estimated from the config alone (printed by `hpo run --dry-run`).

Needs no weights, data or GPU: a plan for an 8-GPU node can be checked on a laptop. The
memory model is ZeRO's (Rajbhandari et al., 2020), per GPU, for P parameters and N workers:
  * ZeRO-2, bf16 with fp32 masters: 2P (bf16 parameters) + (2P gradients + 12P fp32 master,
    Adam m and v) / N;
  * DDP / one worker, fp32 parameters (autocast): 4P + 4P gradients + 8P Adam moments;
  * LoRA: the frozen base in `model.dtype`, the adapters negligible.
Activations come on top; with gradient checkpointing about 2 bytes x batch x length x hidden
per layer, plus the fp32 logits. These are estimates to plan with, not measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo.config import ExperimentConfig
from hpo.models.aliases import HUB_MODELS, resolve_model

GB = 1e9
# (parameters, hidden, layers, vocab) from each model's published config
KNOWN: dict[str, tuple[float, int, int, int]] = {
    "bloom-7b": (7.07e9, 4096, 30, 250880),
    "llama-7b": (6.74e9, 4096, 32, 32000),
    "opt-6.7b": (6.66e9, 4096, 32, 50272),
    "pythia-6.9b": (6.86e9, 4096, 32, 50432),
    "cerebras-gpt-6.7b": (6.66e9, 4096, 32, 50257),
}
_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "auto": 2}


@dataclass(frozen=True)
class TrialNeeds:
    gpus: int
    gpu_memory_gb: float  # per GPU: model states + activations
    state_disk_gb: float  # the resumable state of one trial in flight
    weights_disk_gb: float  # one kept checkpoint (save_pretrained)


def model_shape(cfg: ExperimentConfig) -> tuple[float, int, int, int]:
    """(parameters, hidden, layers, vocab) of the configured base model, without loading it."""
    if cfg.model.name in KNOWN:
        return KNOWN[cfg.model.name]
    t = cfg.model.tiny
    inter = -(-t.hidden_size * 8 // 3 // 8) * 8
    per_layer = 4 * t.hidden_size ** 2 + 3 * t.hidden_size * inter
    params = t.num_layers * per_layer + 2 * t.vocab_size * t.hidden_size
    return float(params), t.hidden_size, t.num_layers, t.vocab_size


def estimate(cfg: ExperimentConfig) -> TrialNeeds:
    p, hidden, layers, vocab = model_shape(cfg)
    n = cfg.resources.workers_per_trial
    lora = cfg.model.lora is not None
    if lora:
        states = _BYTES[cfg.model.dtype] * p
    elif cfg.train.deepspeed:
        states = (2 if cfg.train.precision == "bf16-mixed" else 4) * p + (2 * p + 12 * p) / n
    else:
        states = 16 * p
    b, s = cfg.train.batch_size, cfg.train.max_length
    per_layer = 2 * b * s * hidden * (1 if cfg.train.gradient_checkpointing else 17)
    activations = layers * per_layer + 2 * 4 * b * s * vocab
    state_disk = _BYTES[cfg.model.dtype] * p * 0.01 if lora else (2 + 12) * p
    gpus = n if cfg.resources.use_gpu else int(cfg.resources.gpus_per_trial)
    weights = (0.01 if lora else 1) * p * (2 if cfg.train.precision == "bf16-mixed" else 4)
    return TrialNeeds(gpus, (states + activations) / GB, state_disk / GB, weights / GB)


def describe(cfg: ExperimentConfig, n_validation: int | None) -> str:
    """The dry run's resources section: preset, resolved resources, batch, estimates, needs."""
    from hpo.trial.train import effective_batch

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
        f"estimates        GPU memory ~{need.gpu_memory_gb:.1f} GB per GPU; disk ~{need.state_disk_gb:.1f} GB "
        f"of resumable state per trial in flight, ~{need.weights_disk_gb:.1f} GB per kept checkpoint "
        f"(keep_weights: {t.keep_weights})",
    ]
    return "\n".join(lines + [f"needs            {n}" for n in needs(cfg, n_validation)])


def needs(cfg: ExperimentConfig, n_validation: int | None) -> list[str]:
    """What the real run needs that this machine may lack (checked without loading anything)."""
    from pathlib import Path

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
        out.append(f"a judge server for {cfg.judge.model} at {cfg.judge.url} (hpo serve-judge)")
    return out


def _cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, or no hub client: either way, not available offline
        return False
    from pathlib import Path

    return any(Path(snapshot).glob("*.safetensors")) or any(Path(snapshot).glob("*.bin"))
