"""One training (one Ray Tune trial): instruction-tune the base model, and at every checkpoint
epoch answer the validation set, store the answers, and report.

The same code runs in one process or on each of N Ray Train workers (`hpo.trial.workers`);
`dist` says which rank this is. Every rank trains on its slice of each global batch; rank 0
alone writes files, and generates the validation answers once per checkpoint with the bare
module (ZeRO-2 and DDP keep full parameters on every rank, so no gather is needed): answers
must be written exactly once, the 170-instruction validation set is small next to an epoch,
and the other ranks simply wait at the epoch's report, which is a barrier.

Lifecycle, all under `<run_dir>/trials/<training_id>/` (written by rank 0):
  * `events.jsonl`: one line per epoch started and ended, per answers file written, and the
    step-level progress (`hpo.trial.steplog`: every `train.log_every_steps` steps, and per
    generation batch); the driver tails it into MLflow and the terminal, the cost summary
    reads it.
  * `loss.jsonl`: the per-step training loss (mean over all ranks), written once per epoch.
  * `state/` (plain, DDP) or `ds_state/` (ZeRO-2 shards): everything to continue after the last
    finished epoch, optimizer state included.
  * `workers.json`: world size, effective batch and optimizer-state bytes per rank.
  * `done.json`: written when the training finishes; the state is then removed. The last
    epoch writes no state (it would be deleted at once).
On start, a stored state resumes after its epoch; the finished checkpoints' metrics are
re-reported from the answer files first (marked `replayed: True`) so Ray Tune sees a complete
history. A finished training (done.json) only replays; so does one whose checkpoints are all
answered (a crash between the last answers and done.json), which then writes done.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hpo.config.schema import ExperimentConfig, LoraConfig
from hpo.data import exact_match, per_task_accuracy, read_jsonl
from hpo.models import apply_lora, load_base
from hpo.rundir.answers import AnswerStore
from hpo.trial import deepspeed as ds_state
from hpo.trial import state
from hpo.trial.dist import Dist, local
from hpo.trial.generate import Encoded, batch_order, collate, encode, generate
from hpo.trial.optim import PlainStepper, Stepper, make_lr_schedule, make_optimizer
from hpo.trial.precision import load_dtype
from hpo.trial.state import fault_due, save_weights
from hpo.trial.steplog import GenerationLog, StepLog, append_event
from hpo.trial.val_loss import validation_loss
from hpo.types import Example, TrainingSpec
from judge.atomic import atomic_write_json

Report = Callable[[dict[str, Any]], None]


def run_training(spec: TrainingSpec, checkpoints: list[int], run_dir: Path, cfg: ExperimentConfig,
                 report: Report, dist: Dist | None = None) -> None:
    """Train `spec` from `run_dir/base` on `run_dir/data`, reporting at each checkpoint epoch.
    Every rank calls `report` the same number of times (under Ray Train it is a barrier)."""
    dist, run_dir = dist or local(), Path(run_dir)
    trial_dir = run_dir / "trials" / spec.training_id
    torch.set_num_threads(cfg.train.threads_per_trial)
    if (trial_dir / "done.json").is_file():
        _replay(spec, checkpoints, run_dir, report)
        return
    if _all_answered(spec, checkpoints, run_dir):  # crashed before done.json: nothing to train
        _replay(spec, checkpoints, run_dir, report)
        _finish(spec, checkpoints, trial_dir, dist)
        return
    model, tokenizer = _load_model(spec, run_dir, cfg)
    encoded = [encode(tokenizer, e, cfg.train.max_length) for e in read_jsonl(run_dir / "data" / "train.jsonl")]
    per_epoch = len(epoch_steps(encoded, cfg, dist.world, 1))
    stepper, start = _stepper(model, spec, per_epoch * spec.epochs, trial_dir, cfg, dist)
    if dist.main:
        _truncate_loss_log(trial_dir, start)
    _replay(spec, [c for c in checkpoints if c <= start], run_dir, report)
    val_ex = read_jsonl(run_dir / "data" / "validation.jsonl")
    for epoch in range(start + 1, spec.epochs + 1):
        torch.manual_seed(cfg.train.seed * 1000 + epoch * 16 + dist.rank)  # resume-exact dropout
        metrics = _train_epoch(stepper, encoded, tokenizer.pad_token_id, epoch, spec, run_dir, cfg, dist)
        metrics["global_step"] = epoch * per_epoch
        if epoch in checkpoints and dist.main:
            _checkpoint(stepper.model, tokenizer, val_ex, spec, epoch, metrics, run_dir, cfg)
        if epoch < spec.epochs:  # after the last epoch, done.json replaces the state
            _save_state(stepper, trial_dir, epoch, cfg, dist)
        if epoch in checkpoints:
            report(_report_row(spec, epoch, {k: v for k, v in metrics.items() if k != "_outputs"}, False))
    _finish(spec, checkpoints, trial_dir, dist)


def _load_model(spec: TrainingSpec, run_dir: Path, cfg: ExperimentConfig) -> tuple[Any, Any]:
    """Base (fp32 masters unless LoRA), LoRA adapters, gradient checkpointing."""
    lora = cfg.model.lora is not None or bool(spec.lora_rank)
    torch.manual_seed(cfg.train.seed)
    model, tokenizer = load_base(run_dir / "base", cfg.model, load_dtype(cfg, lora))
    if cfg.train.gradient_checkpointing:
        model.config.use_cache = False
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora:
        torch.manual_seed(cfg.train.seed)
        model = apply_lora(model, cfg.model.lora or LoraConfig.model_validate({}), spec.lora_rank)
    return model, tokenizer


def _stepper(model: Any, spec: TrainingSpec, total_steps: int, trial_dir: Path,
             cfg: ExperimentConfig, dist: Dist) -> tuple[Stepper, int]:
    """The stepper and the last finished epoch it resumed from (0 for a fresh start).

    Plain/DDP: the module goes to its device *before* the optimizer exists and its state is
    loaded, so the restored moments sit on the parameters' device (a GPU resume used to leave
    them on the CPU). ZeRO-2: DeepSpeed places everything, then loads this rank's shard."""
    if cfg.train.deepspeed:
        from hpo.trial.deepspeed import DeepSpeedStepper

        optimizer = make_optimizer(spec, model.parameters(), cfg.train, dist.device)
        scheduler = make_lr_schedule(spec, optimizer, total_steps)
        stepper = DeepSpeedStepper(model, optimizer, scheduler, cfg, dist)
        return stepper, stepper.load(trial_dir)
    model.to(dist.device)
    optimizer = make_optimizer(spec, model.parameters(), cfg.train)
    scheduler = make_lr_schedule(spec, optimizer, total_steps)
    start = state.load_state(trial_dir, model, optimizer, scheduler)
    ddp = None
    if dist.world > 1:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return PlainStepper(model, optimizer, scheduler, cfg, dist, ddp), start


def epoch_steps(encoded: list[Encoded], cfg: ExperimentConfig, world: int, epoch: int) -> list[list[list[int]]]:
    """One epoch's optimizer steps, each a list of global batches (of batch_size x world).

    The global batches do not depend on the world size's split: N workers x micro-batch b see
    exactly the batches 1 worker x batch N*b sees. A last global batch smaller than the world
    is dropped (every rank must take part in each step)."""
    size = cfg.train.batch_size * world
    batches = [b for b in batch_order([len(e.ids) for e in encoded], size, cfg.train.seed * 1000 + epoch)
               if len(b) >= world]
    gas = cfg.train.gradient_accumulation_steps
    return [batches[s:s + gas] for s in range(0, len(batches), gas)]


def shard(batch: list[int], rank: int, world: int) -> list[int]:
    """This rank's contiguous, near-equal slice of a global batch."""
    base, extra = divmod(len(batch), world)
    start = rank * base + min(rank, extra)
    return batch[start:start + base + (rank < extra)]


def _report_row(spec: TrainingSpec, epoch: int, metrics: dict[str, Any], replayed: bool) -> dict[str, Any]:
    return {**metrics, "epoch": epoch, "candidate_id": spec.candidate_id(epoch),
            "training_id": spec.training_id, "replayed": replayed}


def _replay(spec: TrainingSpec, epochs: list[int], run_dir: Path, report: Report) -> None:
    """Re-report finished checkpoints from their answer files (no training, no generation)."""
    store = AnswerStore(run_dir)
    for epoch in sorted(epochs):
        if store.exists(spec.candidate_id(epoch)):
            report(_report_row(spec, epoch, dict(store.read(spec.candidate_id(epoch)).metrics), True))


def _all_answered(spec: TrainingSpec, checkpoints: list[int], run_dir: Path) -> bool:
    """Every checkpoint's answers are stored (their weights, if kept, went first): the training
    has delivered everything, so a crash before done.json needs no training on resume."""
    store = AnswerStore(run_dir)
    return bool(checkpoints) and all(store.exists(spec.candidate_id(e)) for e in checkpoints)


def _train_epoch(stepper: Stepper, encoded: list[Encoded], pad_id: int, epoch: int,
                 spec: TrainingSpec, run_dir: Path, cfg: ExperimentConfig, dist: Dist) -> dict[str, Any]:
    trial_dir = run_dir / "trials" / spec.training_id
    if dist.main:
        append_event(trial_dir, {"event": "epoch_start", "epoch": epoch, "time": time.time()})
    steps = epoch_steps(encoded, cfg, dist.world, epoch)
    fault = dist.main and fault_due(cfg.train.fault_injection, run_dir, spec.training_id, epoch)
    local_losses: list[float] = []
    tokens, t0 = 0, time.perf_counter()
    log = StepLog(trial_dir, dist, cfg.train.log_every_steps, epoch, spec.epochs, len(steps))
    for i, step in enumerate(steps):
        if fault and i == len(steps) // 2:
            raise RuntimeError(f"injected fault in {spec.training_id} epoch {epoch} (train.fault_injection)")
        n_tokens = sum(len(encoded[j].ids) - encoded[j].n_prompt for b in step for j in b)
        micro = [collate([encoded[j] for j in shard(b, dist.rank, dist.world)], pad_id) for b in step]
        step_tokens = sum(int(m["attention_mask"].sum()) for m in micro)
        tokens += step_tokens
        local_losses.append(stepper.step(micro, n_tokens))
        log.step(i, local_losses[-1], step_tokens, stepper.lr())
    seconds = time.perf_counter() - t0
    losses = dist.sum(local_losses)  # each rank holds its share of every step's mean
    tokens = int(dist.sum([float(tokens)])[0])
    if dist.main:
        _append_jsonl(trial_dir / "loss.jsonl", [{"epoch": epoch, "step": k + 1, "loss": round(v, 7)}
                                                 for k, v in enumerate(losses)])
        append_event(trial_dir, {"event": "epoch_end", "epoch": epoch, "train_seconds": round(seconds, 3),
                                 "train_tokens": tokens, "time": time.time()})
    _record_workers(stepper, trial_dir, cfg, dist)
    return {"train_loss": sum(losses) / len(losses), "train_seconds": seconds, "train_tokens": tokens,
            "tokens_per_s": tokens / max(seconds, 1e-9), "steps": len(losses), "lr": stepper.lr()}


def _record_workers(stepper: Stepper, trial_dir: Path, cfg: ExperimentConfig, dist: Dist) -> None:
    """`workers.json`: how the trial ran, and how much optimizer state each rank holds."""
    per_rank = [int(v) for v in dist.gather(float(stepper.optimizer_state_bytes()))]
    if dist.main:
        trainable = sum(p.numel() for p in stepper.model.parameters() if p.requires_grad)
        atomic_write_json(trial_dir / "workers.json", {
            "world_size": dist.world, "device": str(dist.device),
            "backend": "deepspeed-zero2" if cfg.train.deepspeed else ("ddp" if dist.world > 1 else "torch"),
            "effective_batch": effective_batch(cfg), "trainable_parameters": trainable,
            "optimizer_state_bytes_per_rank": per_rank})


def effective_batch(cfg: ExperimentConfig) -> int:
    """Examples per optimizer step: micro-batch x accumulation x workers."""
    return cfg.train.batch_size * cfg.train.gradient_accumulation_steps * cfg.resources.workers_per_trial


def _checkpoint(model: Any, tokenizer: Any, val_ex: list[Example], spec: TrainingSpec, epoch: int,
                metrics: dict[str, Any], run_dir: Path, cfg: ExperimentConfig) -> None:
    """Rank 0: answer the validation set, keep the weights if asked, then store the answers
    (once). Weights go first: a candidate the tournament can see (its answers exist) has its
    weights on disk, so an elimination (keep_weights: best) never races their writing."""
    trial_dir = run_dir / "trials" / spec.training_id
    metrics |= _evaluate(model, tokenizer, val_ex, cfg, GenerationLog(trial_dir, epoch))
    if cfg.train.keep_weights != "none":
        save_weights(model, tokenizer, run_dir / "weights" / spec.candidate_id(epoch))
    AnswerStore(run_dir).write(spec, epoch, val_ex, metrics.pop("_outputs"), metrics)
    append_event(trial_dir, {"event": "answers", "epoch": epoch, "time": time.time(),
                             **{k: metrics[k] for k in ("generation_seconds", "generated_tokens")}})


def _save_state(stepper: Stepper, trial_dir: Path, epoch: int, cfg: ExperimentConfig, dist: Dist) -> None:
    if cfg.train.deepspeed:
        stepper.save(trial_dir, epoch)  # type: ignore[attr-defined]  # every rank: its shard
        return
    if dist.main:
        plain: PlainStepper = stepper  # type: ignore[assignment]
        state.save_state(trial_dir, plain.model, plain.optimizer, plain.scheduler, epoch)
    dist.barrier()


def _finish(spec: TrainingSpec, checkpoints: list[int], trial_dir: Path, dist: Dist) -> None:
    if dist.main:
        atomic_write_json(trial_dir / "done.json", {"training_id": spec.training_id, "epochs": spec.epochs,
                                                    "checkpoints": checkpoints, "finished": time.time()})
        state.clear_state(trial_dir)
        ds_state.clear(trial_dir)
    dist.barrier()


def _evaluate(model: Any, tokenizer: Any, val_ex: list[Example], cfg: ExperimentConfig,
              on_batch: GenerationLog | None = None) -> dict[str, Any]:
    """Answers (and the tokens generated: the cost summary counts them), val loss, truth."""
    t0 = time.perf_counter()
    outputs = generate(model, tokenizer, val_ex, cfg.train.generation_batch_size,
                       cfg.train.max_new_tokens, cfg.train.max_length, on_batch)
    metrics: dict[str, Any] = {"generation_seconds": time.perf_counter() - t0, "_outputs": outputs,
                               "generated_tokens": sum(len(tokenizer(o, add_special_tokens=False)["input_ids"])
                                                       for o in outputs)}
    metrics["validation_loss"] = validation_loss(
        model, tokenizer, val_ex, cfg.train.max_length,
        cfg.train.val_loss_tokens or cfg.train.batch_size * cfg.train.max_length)
    if any(e.output is not None for e in val_ex):
        metrics["exact_match"] = exact_match(outputs, val_ex)
        metrics |= {f"exact_match_{t}": v for t, v in per_task_accuracy(outputs, val_ex).items()}
    return metrics


def _append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def _truncate_loss_log(trial_dir: Path, last_epoch: int) -> None:
    """Drop loss lines of epochs after the stored state (an epoch that crashed is redone)."""
    path = trial_dir / "loss.jsonl"
    if path.is_file():
        keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["epoch"] <= last_epoch]
        path.write_text("".join(ln + "\n" for ln in keep))
