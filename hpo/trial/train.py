"""One training (one Ray Tune trial): instruction-tune the base model, and at every checkpoint
epoch answer the validation set, store the answers, and report.

Lifecycle, all under `<run_dir>/trials/<training_id>/`:
  * `events.jsonl`: one line per epoch started (a cheap audit trail; tests count it).
  * `loss.jsonl`: the per-step training loss, written once per epoch.
  * `state/`: model, optimizer, scheduler and RNG after the last finished epoch (atomic).
  * `done.json`: written when the training finishes; `state/` is then removed.
On start, a stored state resumes after its epoch; the finished checkpoints' metrics are
re-reported from the answer files first (marked `replayed: True`) so Ray Tune sees a complete
history. A finished training (done.json) only replays.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hpo.answers import AnswerStore
from hpo.atomic import atomic_write_json
from hpo.config import ExperimentConfig, LoraConfig
from hpo.data import exact_match, per_task_accuracy, read_jsonl
from hpo.models import apply_lora, load_base
from hpo.trial import state
from hpo.trial.generate import Encoded, batch_order, collate, encode, generate
from hpo.trial.optim import Stepper, make_optimizer, make_scheduler, make_stepper
from hpo.trial.state import fault_due, save_weights
from hpo.trial.val_loss import validation_loss
from hpo.types import Example, TrainingSpec

Report = Callable[[dict[str, Any]], None]


def run_training(spec: TrainingSpec, checkpoints: list[int], run_dir: Path, cfg: ExperimentConfig,
                 report: Report) -> None:
    """Train `spec` from `run_dir/base` on `run_dir/data`, reporting at each checkpoint epoch."""
    run_dir = Path(run_dir)
    trial_dir = run_dir / "trials" / spec.training_id
    torch.set_num_threads(cfg.train.threads_per_trial)
    if (trial_dir / "done.json").is_file():
        _replay(spec, checkpoints, run_dir, report)
        return
    torch.manual_seed(cfg.train.seed)
    train_ex = read_jsonl(run_dir / "data" / "train.jsonl")
    val_ex = read_jsonl(run_dir / "data" / "validation.jsonl")
    model, tokenizer = load_base(run_dir / "base", cfg.model)
    if cfg.model.lora is not None or spec.lora_rank:
        torch.manual_seed(cfg.train.seed)
        model = apply_lora(model, cfg.model.lora or LoraConfig.model_validate({}), spec.lora_rank)
    encoded = [encode(tokenizer, e, cfg.train.max_length) for e in train_ex]
    steps_per_epoch = math.ceil(len(encoded) / cfg.train.batch_size)
    optimizer = make_optimizer(spec, model.parameters(), cfg.train)
    scheduler = make_scheduler(spec, optimizer, steps_per_epoch * spec.epochs)
    start = state.load_state(trial_dir, model, optimizer, scheduler)
    _truncate_loss_log(trial_dir, start)
    _replay(spec, [c for c in checkpoints if c <= start], run_dir, report)
    stepper = make_stepper(model, optimizer, scheduler, cfg)
    for epoch in range(start + 1, spec.epochs + 1):
        metrics = _train_epoch(stepper, encoded, tokenizer.pad_token_id, epoch, spec, run_dir, cfg)
        metrics["global_step"] = epoch * steps_per_epoch
        if epoch in checkpoints:
            metrics |= _evaluate(stepper.model, tokenizer, val_ex, cfg)
            AnswerStore(run_dir).write(spec, epoch, val_ex, metrics.pop("_outputs"), metrics)
            if cfg.train.keep_weights != "none":
                save_weights(stepper.model, tokenizer, run_dir / "weights" / spec.candidate_id(epoch))
        state.save_state(trial_dir, stepper.model, None if cfg.train.deepspeed else optimizer, scheduler, epoch)
        if epoch in checkpoints:
            report(_report_row(spec, epoch, metrics, replayed=False))
    atomic_write_json(trial_dir / "done.json", {"training_id": spec.training_id, "epochs": spec.epochs,
                                                "checkpoints": checkpoints, "finished": time.time()})
    state.clear_state(trial_dir)


def _report_row(spec: TrainingSpec, epoch: int, metrics: dict[str, Any], replayed: bool) -> dict[str, Any]:
    return {**metrics, "epoch": epoch, "candidate_id": spec.candidate_id(epoch),
            "training_id": spec.training_id, "replayed": replayed}


def _replay(spec: TrainingSpec, epochs: list[int], run_dir: Path, report: Report) -> None:
    """Re-report finished checkpoints from their answer files (no training, no generation)."""
    store = AnswerStore(run_dir)
    for epoch in sorted(epochs):
        if store.exists(spec.candidate_id(epoch)):
            report(_report_row(spec, epoch, dict(store.read(spec.candidate_id(epoch)).metrics), True))


def _train_epoch(stepper: Stepper, encoded: list[Encoded], pad_id: int, epoch: int,
                 spec: TrainingSpec, run_dir: Path, cfg: ExperimentConfig) -> dict[str, Any]:
    trial_dir = run_dir / "trials" / spec.training_id
    _append_jsonl(trial_dir / "events.jsonl", [{"event": "epoch_start", "epoch": epoch, "time": time.time()}])
    batches = batch_order([len(e.ids) for e in encoded], cfg.train.batch_size, cfg.train.seed * 1000 + epoch)
    fault_at = len(batches) // 2 if fault_due(cfg.train.fault_injection, run_dir, spec.training_id, epoch) else -1
    losses: list[float] = []
    tokens, t0 = 0, time.perf_counter()
    for i, idx in enumerate(batches):
        if i == fault_at:
            raise RuntimeError(f"injected fault in {spec.training_id} epoch {epoch} (train.fault_injection)")
        batch = collate([encoded[j] for j in idx], pad_id)
        tokens += int(batch["attention_mask"].sum())
        losses.append(stepper.step(batch))
    seconds = time.perf_counter() - t0
    _append_jsonl(trial_dir / "loss.jsonl", [{"epoch": epoch, "step": k + 1, "loss": round(v, 5)}
                                             for k, v in enumerate(losses)])
    return {"train_loss": sum(losses) / len(losses), "train_seconds": seconds,
            "tokens_per_s": tokens / max(seconds, 1e-9), "steps": len(losses), "lr": stepper.lr()}


def _evaluate(model: Any, tokenizer: Any, val_ex: list[Example], cfg: ExperimentConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    outputs = generate(model, tokenizer, val_ex, cfg.train.generation_batch_size,
                       cfg.train.max_new_tokens, cfg.train.max_length)
    metrics: dict[str, Any] = {"generation_seconds": time.perf_counter() - t0, "_outputs": outputs}
    metrics["validation_loss"] = validation_loss(model, tokenizer, val_ex, cfg.train.max_length)
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
