"""What the step-level logging costs: the same training with it on and off, interleaved.

    python benchmarks/bench_logging.py                  # 5 pairs, 2 epochs of 1000 examples
    python benchmarks/bench_logging.py --reps 7 --n-train 2000 --epochs 3

One training of the tiny model of experiments/tiny-cpu.yaml (adamw, lr 1e-3, cosine; one torch
thread; 1000 of its synthetic examples, 125 steps an epoch), in-process through the trial loop
(`hpo.trial.run_training`), every epoch a checkpoint (the 100 validation answers generated, as
in the grid). Two arms on the same staged data and base model:

- on:  `train.log_every_steps` 10 (the default): a `step` event every 10 optimizer steps with
  the trial's system sample (`hpo.trial.sysmetrics`, at most every 10 s), and a driver process
  that tails events.jsonl (`hpo.run.steps.EventTail`, once a second) and logs each look's step
  and system metrics to an MLflow child run (sqlite store) in one batch, as `hpo run`'s driver
  does; its last look (the training's end) is timed too;
- off: `train.log_every_steps` 0: no step events, no driver.

Two figures per arm: wall seconds, and CPU seconds (the training's process plus the driver's
process). With a free core the driver costs the training little wall time; when every core is
busy (the tiny run: two trainings side by side on two cores) its CPU seconds are what it takes
from the trainings, so the CPU ratio is the bound to quote. Per-epoch metrics, the answers and
the generation progress events are written in both arms. The arms alternate (on/off, off/on,
...) so that drift on a shared machine falls on both; ratios are on/off per pair, with their
median and range.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.data import load_examples, write_jsonl
from hpo.models import prepare_base
from hpo.run.experiment import load_experiment
from hpo.trial import run_training
from hpo.types import TrainingSpec

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Arm:
    """One timed training: wall and CPU seconds (training + driver), step reports logged."""

    wall_s: float
    cpu_s: float
    driver_cpu_s: float
    reports: int


def stage(cfg: ExperimentConfig, shared: Path) -> None:
    """The data and the base model every arm starts from (written once)."""
    train = load_examples(cfg.data.train, cfg.data, "train")
    write_jsonl(train, shared / "data" / "train.jsonl")
    write_jsonl(load_examples(cfg.data.validation, cfg.data, "validation"),
                shared / "data" / "validation.jsonl")
    prepare_base(cfg.model, train, shared / "base", cfg.train.seed)


def fresh_run_dir(shared: Path, name: str) -> Path:
    """A run folder of its own (no trial state to resume from) over the shared data and base."""
    run_dir = shared / name
    run_dir.mkdir()
    for sub in ("data", "base"):
        (run_dir / sub).symlink_to(shared / sub, target_is_directory=True)
    return run_dir


def driver(run_dir: Path, spec: TrainingSpec, ready: Event, stop: Event, out: Any) -> None:
    """The driver's part of the logging, in its own process: tail the trial's events into an
    MLflow child run until `stop`, then a last look; puts (CPU seconds, reports logged)."""
    from hpo.run.steps import EventTail, step_metrics
    from hpo.tracking.mlflow_tracker import MlflowTracker

    tracker = MlflowTracker(f"sqlite:///{run_dir / 'mlflow.db'}", artifact_root=run_dir / "art")
    child = tracker.start_run(spec.training_id, spec.to_dict(), {},
                              parent_id=tracker.start_run("bench", {}, {}))
    logged = [0]

    def log(training_id: str, events: list[dict[str, Any]]) -> None:
        steps = [(int(e["global_step"]), step_metrics(e)) for e in events if e["event"] == "step"]
        if steps:
            tracker.log_steps(child, steps)
            logged[0] += len(steps)

    tail = EventTail(run_dir / "trials", log)
    ready.set()
    cpu0 = time.process_time()
    while not stop.wait(0.25):  # Tune's loop ticks about this often; the tail looks once a second
        tail.tick()
    tail.flush(spec.training_id)
    out.put((time.process_time() - cpu0, logged[0]))


def one_arm(cfg: ExperimentConfig, spec: TrainingSpec, shared: Path, name: str, on: bool) -> Arm:
    """The whole training (all epochs and checkpoints), with the logging on or off."""
    run_dir = fresh_run_dir(shared, name)
    arm = cfg.model_copy(update={"train": cfg.train.model_copy(update={"log_every_steps": 10 if on else 0})})
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=driver, args=(run_dir, spec, ready, stop, out)) if on else None
    if proc:
        proc.start()
        ready.wait(120)  # its start (imports, the MLflow store) is not timed
    t0, cpu0 = time.perf_counter(), time.process_time()
    run_training(spec, list(range(1, spec.epochs + 1)), run_dir, arm, lambda row: None)
    cpu = time.process_time() - cpu0
    driver_cpu, reports = 0.0, 0
    if proc:
        stop.set()
        driver_cpu, reports = out.get(timeout=120)  # after its last look
    wall = time.perf_counter() - t0
    if proc:
        proc.join()  # its exit (interpreter teardown) is not timed: hpo run's driver goes on
    return Arm(wall, cpu + driver_cpu, driver_cpu, reports)


def pairs(reps: int, run: Any) -> list[tuple[Arm, Arm]]:
    """(on, off) per pair; the order alternates pair by pair."""
    out = []
    for i in range(reps):
        order = (True, False) if i % 2 == 0 else (False, True)
        got = {on: run(f"{i}-{'on' if on else 'off'}", on) for on in order}
        on, off = got[True], got[False]
        print(f"pair {i + 1}: wall on {on.wall_s:.2f} s / off {off.wall_s:.2f} s = {on.wall_s / off.wall_s:.4f}; "
              f"CPU on {on.cpu_s:.2f} s (driver {on.driver_cpu_s:.2f}) / off {off.cpu_s:.2f} s = "
              f"{on.cpu_s / off.cpu_s:.4f}; {on.reports} step reports", flush=True)
        out.append((on, off))
    return out


def summary(label: str, on: list[float], off: list[float]) -> str:
    """Medians of each arm, and the paired ratio's median and range."""
    ratios = sorted(a / b for a, b in zip(on, off, strict=True))
    mid = statistics.median(ratios)
    return (f"{label}: median on {statistics.median(on):.2f} s, off {statistics.median(off):.2f} s; "
            f"paired ratio on/off median {mid:.4f} (range {ratios[0]:.4f}-{ratios[-1]:.4f}, "
            f"{len(ratios)} pairs): overhead {mid - 1:+.2%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="pairs (one on, one off each)")
    ap.add_argument("--n-train", type=int, default=1000, help="data.synthetic.n_train (the default's: 2000)")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    spec = TrainingSpec("adamw", 1e-3, "cosine", args.epochs)
    cfg = load_experiment(ROOT / "experiments" / "tiny-cpu.yaml", {"data.synthetic.n_train": args.n_train})
    with tempfile.TemporaryDirectory() as tmp:
        shared = Path(tmp)
        stage(cfg, shared)
        steps = -(-cfg.data.synthetic.n_train // cfg.train.batch_size)
        print(f"tiny model, n_train={cfg.data.synthetic.n_train} (~{steps} steps/epoch), "
              f"n_validation={cfg.data.synthetic.n_validation}, {args.epochs} epochs, each a "
              f"checkpoint; {args.reps} pairs, order alternating", flush=True)
        rows = pairs(args.reps, lambda name, on: one_arm(cfg, spec, shared, name, on))
    print(summary("wall", [on.wall_s for on, _ in rows], [off.wall_s for _, off in rows]))
    print(summary("CPU ", [on.cpu_s for on, _ in rows], [off.cpu_s for _, off in rows]))


if __name__ == "__main__":
    main()
