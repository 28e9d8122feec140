"""The first two stages of `hpo run`: plan (everything checked, nothing written) and stage
inputs (run folder, data, base model, tracker, judge backend).

A failure in either leaves nothing behind: a fresh run folder is removed again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpo.config.schema import ExperimentConfig, lr_multiplier, resolve_resource
from hpo.errors import ConfigError, HpoError, StorageError
from hpo.rundir.answers import AnswerStore
from hpo.rundir.layout import RunDir, check_run_name
from hpo.search.plan import Plan, load_grid, make_plan
from hpo.search.space import SearchSpace
from hpo.tracking.base import Tracker
from hpo.types import Example
from judge.atomic import storage_error
from judge.types import JudgeBackend


@dataclass
class RunOptions:
    run_name: str | None = None
    resume: str | None = None
    fail_if_worse_than_baseline: bool = False
    dry_run: bool = False
    # the dotted config keys the user gave as flags (for --resume's policy)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """The plan stage's value: what will run, on which data."""

    plan: Plan
    train: list[Example]
    val: list[Example]


@dataclass(frozen=True)
class Workspace:
    """The stage-inputs stage's value: where the run writes and what it talks to."""

    rd: RunDir
    store: AnswerStore
    tracker: Tracker
    backend: JudgeBackend


def load_data(cfg: ExperimentConfig) -> tuple[list[Example], list[Example]]:
    from hpo.data import load_examples

    train = load_examples(cfg.data.train, cfg.data, "train")
    val = load_examples(cfg.data.validation, cfg.data, "validation")
    if not val:
        raise ConfigError("the validation set is empty")
    return train, val


def dry_run_data(cfg: ExperimentConfig) -> tuple[list[Example], list[Example]]:
    """What a dry run can read of the data without needing it: local files, checked as the real
    run checks them (the packaged PandaLM validation set, to count its items); a missing file or
    an `hf:` dataset (not fetched) reads as empty, and the dry run lists it under "needs"."""
    from hpo.data import load_examples

    def read(source: str, split: Literal["train", "validation"]) -> list[Example]:
        if source.startswith("hf:") or (source != "synthetic" and not Path(source).is_file()):
            return []
        return load_examples(source, cfg.data, split)

    return read(cfg.data.train, "train"), read(cfg.data.validation, "validation")


def plan_run(cfg: ExperimentConfig, dry_run: bool = False) -> Inputs:
    """Everything that can be checked without writing: plan, model, judge, strategy, data.
    A dry run needs no weights, GPU or data files: it says what the real run needs instead."""
    from hpo.models.aliases import resolve_model
    from hpo.models.load import hub_snapshot
    from hpo.tournament.comparator import validate_judge
    from hpo.tournament.registry import STRATEGIES

    plan = make_plan(cfg, load_search_space(cfg))
    check_halving(cfg, plan)
    from hpo.search.cluster import validate_cluster

    validate_cluster(cfg)  # also: judge and trial GPUs fit a node
    if not dry_run:  # join the cluster now: run.transport auto follows its node count
        from hpo.search.tuner import join_cluster

        joined = join_cluster(cfg)
        if joined:
            print(joined, flush=True)
    resolved = resolve_model(cfg.model.name)
    if resolved.kind == "hub" and not joins_a_cluster(cfg) and not dry_run:  # else: nodes load it
        hub_snapshot(resolved)  # weights cached and a GPU visible, or a one-line error now
    validate_judge(cfg.judge)
    STRATEGIES.validate(cfg.tournament.strategy)
    train, val = dry_run_data(cfg) if dry_run else load_data(cfg)
    return Inputs(plan, train, val)


def check_halving(cfg: ExperimentConfig, plan: Plan) -> None:
    """`scheduler: halving`: its rungs are checkpoint epochs before the trainings' last."""
    if cfg.search.scheduler != "halving":
        return
    from hpo.search.adaptive.rungs import check_rungs

    space = plan.space
    check_rungs(cfg.search.halving.rungs, space.checkpoints, max(t.epochs for t in space.trainings))


def joins_a_cluster(cfg: ExperimentConfig) -> bool:
    """Trials run on several nodes (each loads a hub model from its own cache): the driver then
    needs neither the weights nor a GPU. On one node, this machine must have both."""
    from hpo.search.tuner import alive_nodes

    return alive_nodes() > 1


def load_search_space(cfg: ExperimentConfig) -> SearchSpace:
    """A grid space, or for `search.search: optuna` a `kind: optuna` space sampled as it runs."""
    if cfg.search.search != "optuna":
        return load_grid(cfg)
    from hpo.search.adaptive.space import load_adaptive_space

    return load_adaptive_space(resolve_resource(cfg.search.space, what="search.space: file"), lr_multiplier(cfg))


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


def resume_target(cfg: ExperimentConfig, opts: RunOptions) -> tuple[ExperimentConfig, RunDir | None]:
    """`--resume` runs the config stored in its run folder, not the one on the command line."""
    if not opts.resume:
        return cfg, None
    from hpo.rundir.resume import resume_config

    rd = RunDir.open(opts.resume, cfg.run_root)  # a damaged state.json is refused here
    # result-changing flags and edits of config.yaml are refused; operational flags are applied
    # and recorded
    merged = resume_config(rd, opts.overrides)
    return merged, rd if opts.dry_run else rd.lock()  # one process runs a folder at a time


def repair_answers(run_dir: Path, store: AnswerStore, planned: list[str], n_items: int,
                   say: Callable[[str], None]) -> list[str]:
    """On resume: a damaged answers file (truncated, another format, the wrong number of answers)
    is renamed `<id>.json.corrupt` and its training reset so that it answers again; returns the
    candidates set aside. Each is said in one line."""
    bad = [(cid, why) for cid in planned if store.exists(cid) and (why := store.problem(cid, n_items))]
    for cid, why in bad:
        path = store.path(cid)
        os.replace(path, path.with_name(path.name + ".corrupt"))
        training_id, epoch = cid.rsplit("-ep", 1)
        reset_training(run_dir / "trials" / training_id, int(epoch))
        say(f"{path} was damaged ({why}): set aside as {path.name}.corrupt; its training re-runs")
    return [cid for cid, _ in bad]


def reset_training(trial_dir: Path, epoch: int) -> None:
    """Make a training produce `epoch` again: it continues from its stored state when that lies
    before `epoch`, else (finished, or its state is past it) it starts over (training is seeded,
    so it retraces the same steps)."""
    from hpo.trial import deepspeed as ds_state
    from hpo.trial import state

    stored = max(state.stored_epoch(trial_dir), ds_state.committed(trial_dir)[0])
    if (trial_dir / "done.json").exists() or stored >= epoch:
        (trial_dir / "done.json").unlink(missing_ok=True)
        state.clear_state(trial_dir)
        ds_state.clear(trial_dir)


def stage_inputs(cfg: ExperimentConfig, inputs: Inputs, opts: RunOptions,
                 resumed: RunDir | None) -> Workspace:
    """Open (resume) or create the run folder and write the data and base model into it."""
    from hpo.tournament.comparator import build_backend
    from hpo.tracking.session import open_tracker

    if resumed is None:
        check_run_name(opts.run_name)
    backend = build_backend(cfg.judge, inputs.val)
    root_existed = Path(cfg.run_root).exists()
    rd = resumed or RunDir.create(cfg, opts.run_name)
    try:
        tracker = open_tracker(cfg)
        stage_safely(rd, cfg, inputs.train, inputs.val)
    except HpoError:
        if resumed is None:  # nothing half-written: remove what this call created
            shutil.rmtree(rd.path, ignore_errors=True)
            if not root_existed:
                shutil.rmtree(cfg.run_root, ignore_errors=True)
        raise
    store = AnswerStore(rd.path)
    if resumed is not None:
        from hpo.search.method import planned_ids

        repair_answers(rd.path, store, planned_ids(inputs.plan), len(inputs.val),
                       lambda line: print(line, flush=True))
    return Workspace(rd, store, tracker, backend)
