"""Trials on N workers, on CPU, side by side: 1 vs 2 workers, DDP vs ZeRO-2.

    python benchmarks/bench_scaleout.py            # ~5-15 min on 2 cores

A. The training loop itself (`run_training`, one epoch of the tiny model on the synthetic
   suite, the same global batch of 16) in 1 and 2 gloo processes, plain DDP and DeepSpeed
   ZeRO-2: tokens/s over all ranks, and the bytes of optimizer state each rank holds.
B. `hpo run` on a 4-training reduced grid (1 epoch each), real Ray Tune, with 1 worker per
   trial and with 2 Ray Train workers per trial, both with the same 2 CPUs: wall time.
On 2 cores a tiny model is communication-bound, so 2 workers are not faster here; what B
measures is the orchestration overhead a multi-worker trial adds (Ray Train worker groups).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hpo.config.schema import ExperimentConfig  # noqa: E402
from hpo.data import load_examples, write_jsonl  # noqa: E402
from hpo.models import prepare_base  # noqa: E402
from hpo.types import TrainingSpec  # noqa: E402

GLOBAL_BATCH = 16
SPEC = TrainingSpec("adamw", 1e-3, "cosine", 1)
GRID = """\
kind: grid
epochs: 1
checkpoints: [1]
warmup_ratio: 0.03
grid:
  lr: [2.0e-5, 2.0e-4]
  optimizer: [adamw, sgd]
  scheduler: [cosine]
"""


def _cfg(world: int, zero2: bool, n_train: int) -> ExperimentConfig:
    return ExperimentConfig.model_validate({
        "data": {"synthetic": {"n_train": n_train, "n_validation": 8}},
        "train": {"batch_size": GLOBAL_BATCH // world, "max_new_tokens": 4,
                  "deepspeed": str(REPO / "configs/deepspeed/zero2.json") if zero2 else None},
        "resources": {"workers_per_trial": world}})


def stage(root: Path, n_train: int) -> Path:
    cfg = _cfg(1, False, n_train)
    train = load_examples("synthetic", cfg.data, "train")
    write_jsonl(train, root / "data" / "train.jsonl")
    write_jsonl(load_examples("synthetic", cfg.data, "validation"), root / "data" / "validation.jsonl")
    prepare_base(cfg.model, train, root / "base", cfg.train.seed)
    return root


def _worker(rank: int, world: int, zero2: bool, run_dir: str, port: int, n_train: int) -> None:
    from hpo.trial import run_training
    from hpo.trial.dist import Dist

    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    if world > 1:
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    rows: list[dict[str, Any]] = []
    run_training(SPEC, [1], Path(run_dir), _cfg(world, zero2, n_train), rows.append,
                 Dist(rank, world, torch.device("cpu")))
    if rank == 0:
        (Path(run_dir) / "bench.json").write_text(json.dumps(rows[0]))
    if world > 1:
        torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loop_case(staged: Path, world: int, zero2: bool, n_train: int) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="scaleout-"))
    for d in ("data", "base"):
        shutil.copytree(staged / d, run_dir / d)
    mp.start_processes(_worker, args=(world, zero2, str(run_dir), _free_port(), n_train),
                       nprocs=world, start_method="spawn")
    row = json.loads((run_dir / "bench.json").read_text())
    (workers,) = (run_dir / "trials").glob("*/workers.json")
    info = json.loads(workers.read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"tokens_per_s": row["tokens_per_s"], "bytes": info["optimizer_state_bytes_per_rank"],
            "loss": row["train_loss"]}


def part_a(n_train: int) -> None:
    staged = stage(Path(tempfile.mkdtemp(prefix="scaleout-staged-")), n_train)
    print(f"A. training loop, 1 epoch, {n_train} examples, global batch {GLOBAL_BATCH}, gloo, 1 thread/rank")
    print(f"{'workers':>7}  {'backend':<8}  {'tokens/s (all ranks)':>20}  {'opt. state bytes per rank':>26}  "
          f"{'ratio to 1 worker':>17}  {'epoch loss':>10}")
    for zero2 in (False, True):
        one = None
        for world in (1, 2):
            r = loop_case(staged, world, zero2, n_train)
            one = one or r["bytes"][0]
            name = "zero2" if zero2 else ("ddp" if world > 1 else "torch")
            print(f"{world:>7}  {name:<8}  {r['tokens_per_s']:>20.0f}  {str(r['bytes']):>26}  "
                  f"{r['bytes'][0] / one:>17.2f}  {r['loss']:>10.5f}", flush=True)
    shutil.rmtree(staged, ignore_errors=True)


def hpo_run(root: Path, name: str, workers: int) -> float:
    args = [sys.executable, "-m", "hpo.cli", "run", "--run-root", str(root / "runs"), "--space",
            str(root / "grid.yaml"), "--set", "search.baseline=", "--set", "data.synthetic.n_train=400",
            "--set", "data.synthetic.n_validation=16", "--set", "tournament.blocks=1",
            "--set", "tracking.backend=none", "--set", f"resources.workers_per_trial={workers}",
            "--set", "search.max_concurrent=2", "--run-name", name]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, start_new_session=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"hpo run {name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


def part_b() -> None:
    root = Path(tempfile.mkdtemp(prefix="scaleout-grid-"))
    (root / "grid.yaml").write_text(GRID)
    print("\nB. `hpo run`, 4 trainings x 1 epoch, 400 examples, 2 trials at once, 2 CPUs in all")
    print(f"{'workers/trial':>13}  {'wall s':>7}  {'ratio':>5}")
    one = hpo_run(root, "one", 1)
    print(f"{1:>13}  {one:>7.1f}  {1.0:>5.2f}", flush=True)
    two = hpo_run(root, "two", 2)
    print(f"{2:>13}  {two:>7.1f}  {two / one:>5.2f}", flush=True)
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=800)
    parser.add_argument("--skip-grid", action="store_true", help="only part A")
    parser.add_argument("--skip-loop", action="store_true", help="only part B")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # DeepSpeed: no "unable to detect" warning
    if not args.skip_loop:
        part_a(args.n_train)
    if not args.skip_grid:
        part_b()


if __name__ == "__main__":
    main()
