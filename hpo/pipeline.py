"""`hpo run`: search space -> Ray Tune trials -> judged tournament -> decision, all in MLflow.

The pipeline wires roles together and owns no role's logic: trials train and generate,
the judge compares, the strategy decides, the tracker records.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.answers import AnswerStore
from hpo.atomic import storage_error
from hpo.config import ExperimentConfig
from hpo.errors import ConfigError, HpoError, StorageError
from hpo.feed import CandidateFeed
from hpo.plan import Plan, make_plan
from hpo.rundir import RunDir, check_run_name
from hpo.types import Example


@dataclass
class RunOptions:
    run_name: str | None = None
    resume: str | None = None
    fail_if_worse_than_baseline: bool = False
    dry_run: bool = False


def load_data(cfg: ExperimentConfig) -> tuple[list[Example], list[Example]]:
    from hpo.data import load_examples

    train = load_examples(cfg.data.train, cfg.data, "train")
    val = load_examples(cfg.data.validation, cfg.data, "validation")
    if not val:
        raise ConfigError("the validation set is empty")
    return train, val


def validate(cfg: ExperimentConfig, dry_run: bool = False) -> tuple[Plan, list[Example], list[Example]]:
    """Everything that can be checked without writing: plan, names, data. A dry run needs no
    weights, GPU or data files (it says what the real run needs instead)."""
    from hpo.judging import validate_judge
    from hpo.models.aliases import resolve_model
    from hpo.models.load import hub_snapshot
    from hpo.tournament.registry import STRATEGIES

    if cfg.search.search != "grid" or cfg.search.scheduler != "none":
        from hpo.adaptive.runner import make_adaptive_plan

        plan = make_adaptive_plan(cfg)
    else:
        plan = make_plan(cfg)
    resolved = resolve_model(cfg.model.name)
    if resolved.kind == "hub" and not dry_run:  # [i10 touch point] a plan needs no weights
        hub_snapshot(resolved)  # weights cached and a GPU visible, or a one-line error now
    validate_judge(cfg.judge)
    STRATEGIES.validate(cfg.tournament.strategy)
    if dry_run:  # [i10 touch point]
        try:
            return (plan, *load_data(cfg))
        except ConfigError:
            return plan, [], []  # missing data files: listed under "needs"
    train, val = load_data(cfg)
    return plan, train, val


def stage(rd: RunDir, cfg: ExperimentConfig, train: list[Example], val: list[Example]) -> None:
    """Write the data and the base model into a fresh run folder (skipped when present)."""
    from hpo.data import write_jsonl
    from hpo.models import prepare_base

    if not (rd / "data" / "validation.jsonl").exists():
        write_jsonl(train, rd / "data" / "train.jsonl")
        write_jsonl(val, rd / "data" / "validation.jsonl")
    if not (rd / "base" / "base.json").exists():
        prepare_base(cfg.model, train, rd / "base", cfg.train.seed)


def stage_safely(rd: RunDir, cfg: ExperimentConfig, train: list[Example], val: list[Example]) -> None:
    """`stage`, with OS-level write failures (disk full, read-only) as one-line StorageErrors."""
    try:
        stage(rd, cfg, train, val)
    except OSError as exc:
        raise storage_error(rd.path, exc) from None
    except Exception as exc:  # safetensors reports ENOSPC as its own error type
        if "os error 28" in str(exc) or "No space left" in str(exc):
            raise StorageError(f"cannot write {rd.path}: disk full") from None
        raise


def run(cfg: ExperimentConfig, opts: RunOptions) -> int:
    """Run (or resume) one experiment; returns the process exit code."""
    if opts.resume:
        rd = RunDir.open(opts.resume, cfg.run_root)
        cfg = rd.config()
    plan, train, val = validate(cfg, opts.dry_run)
    if opts.dry_run:
        from hpo.trial.sizing import describe  # [i10 touch point] resources, batch, estimates

        print(plan.summary(len(val) or 170, cfg.tournament.strategy))
        print(describe(cfg, len(val) or None))
        return 0
    from hpo.judging import build_backend
    from hpo.tracking.session import open_tracker

    if not opts.resume:
        check_run_name(opts.run_name)
    backend = build_backend(cfg.judge, val)
    fresh = not opts.resume
    root_existed = Path(cfg.run_root).exists()
    if fresh:
        rd = RunDir.create(cfg, opts.run_name)
    try:
        tracker = open_tracker(cfg)
        stage_safely(rd, cfg, train, val)
    except HpoError:
        if fresh:  # nothing half-written: remove what this call created
            shutil.rmtree(rd.path, ignore_errors=True)
            if not root_existed:
                shutil.rmtree(cfg.run_root, ignore_errors=True)
        raise
    from hpo.session import RunSession

    return RunSession(cfg, rd, plan, val, tracker, backend, opts).execute()


def answers_complete(store: AnswerStore, plan: Plan) -> set[str]:
    """Trainings whose every checkpoint already has answers (a resume skips them)."""
    done = set()
    for training_id, epochs in plan.checkpoints().items():
        spec = next(t for t in plan.trainings if t.training_id == training_id)
        if all(store.exists(spec.candidate_id(e)) for e in epochs):
            done.add(training_id)
    return done


def start_thread(target: Any, name: str) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `target()` in a thread and capture its result or exception."""
    box: dict[str, Any] = {}

    def _wrap() -> None:
        try:
            box["result"] = target()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=_wrap, name=name, daemon=True)
    thread.start()
    return thread, box


def feed_from_disk(store: AnswerStore, planned: list[str]) -> CandidateFeed:
    feed = CandidateFeed(planned)
    for cid in planned:
        if store.exists(cid):
            feed.ready(cid)
    return feed
