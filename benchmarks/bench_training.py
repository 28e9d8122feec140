"""Training and generation speed of the tiny default, and the wall-clock of the full tiny grid.

    python benchmarks/bench_training.py                 # tokens/s, bucketed vs naive, estimate
    python benchmarks/bench_training.py --batch-sizes 8 16 32
    python benchmarks/bench_training.py --n-train 2000 --batch-size 8 --full
                                                        # also run the 16x5 + 3 grid, 2 side by side

One trial, one torch thread (the machine is shared: tokens/s is the number to compare; the
wall-clock estimate assumes one free core per side-by-side trial).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from hpo.config.schema import ExperimentConfig
from hpo.data import load_examples, write_jsonl
from hpo.models import load_base, prepare_base
from hpo.search.space import load_space
from hpo.trial import run_training
from hpo.trial.dist import local
from hpo.trial.generate import batch_order, collate, encode, generate
from hpo.trial.optim import PlainStepper, make_lr_schedule, make_optimizer
from hpo.types import TrainingSpec

ROOT = Path(__file__).resolve().parents[1]


def stage(cfg: ExperimentConfig, run_dir: Path) -> None:
    train = load_examples(cfg.data.train, cfg.data, "train")
    write_jsonl(train, run_dir / "data" / "train.jsonl")
    write_jsonl(load_examples(cfg.data.validation, cfg.data, "validation"), run_dir / "data" / "validation.jsonl")
    prepare_base(cfg.model, train, run_dir / "base", cfg.train.seed)


def n_targets(enc: list[Any], idx: list[int]) -> int:
    return sum(len(enc[i].ids) - enc[i].n_prompt for i in idx)


def train_speed(cfg: ExperimentConfig, run_dir: Path, batch_size: int, bucket: bool, steps: int) -> dict[str, float]:
    """Real (non-pad) tokens/s over `steps` AdamW steps from the base model."""
    model, tok = load_base(run_dir / "base", cfg.model)
    train = load_examples(cfg.data.train, cfg.data, "train")
    enc = [encode(tok, e, cfg.train.max_length) for e in train]
    spec = TrainingSpec("adamw", 1e-3, "cosine", 1)
    opt = make_optimizer(spec, model.parameters(), cfg.train)
    stepper = PlainStepper(model, opt, make_lr_schedule(spec, opt, steps), cfg, local())
    batches = batch_order([len(e.ids) for e in enc], batch_size, 0, bucket=bucket)[:steps + 5]
    for idx in batches[:5]:  # warm-up, not timed
        stepper.step([collate([enc[i] for i in idx], tok.pad_token_id)], n_targets(enc, idx))
    real = padded = 0
    t0 = time.perf_counter()
    for idx in batches[5:]:
        b = collate([enc[i] for i in idx], tok.pad_token_id)
        real += int(b["attention_mask"].sum())
        padded += b["attention_mask"].numel()
        stepper.step([b], n_targets(enc, idx))
    sec = time.perf_counter() - t0
    per_epoch = sum(len(e.ids) for e in enc)
    return {"tokens_per_s": real / sec, "padding": 1 - real / padded, "epoch_tokens": per_epoch,
            "epoch_s": per_epoch / (real / sec)}


def generation_seconds(cfg: ExperimentConfig, run_dir: Path) -> float:
    model, tok = load_base(run_dir / "base", cfg.model)
    val = load_examples(cfg.data.validation, cfg.data, "validation")
    t0 = time.perf_counter()
    generate(model, tok, val, cfg.train.generation_batch_size, cfg.train.max_new_tokens, cfg.train.max_length)
    return time.perf_counter() - t0


def _one(args: tuple[TrainingSpec, list[int], Path, ExperimentConfig]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    run_training(args[0], args[1], args[2], args[3], rows.append)
    return rows[-1]


def full_grid(cfg: ExperimentConfig, run_dir: Path) -> tuple[float, list[dict[str, Any]]]:
    """Run the 16 trainings and the baseline, two processes side by side, one thread each."""
    grid = load_space(ROOT / "search_spaces" / "pandalm80.yaml", 50.0)
    base = load_space(ROOT / "search_spaces" / "alpaca-default.yaml", 50.0)
    jobs = [(t, s.checkpoints, run_dir, cfg) for s in (grid, base) for t in s.trainings]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        finals = list(pool.map(_one, jobs))
    return time.perf_counter() - t0, finals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--n-train", type=int, default=None, help="override data.synthetic.n_train")
    ap.add_argument("--batch-size", type=int, default=None, help="override train.batch_size")
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    overrides: dict[str, Any] = {"data": {"synthetic": {"n_train": args.n_train}} if args.n_train else {},
                                 "train": {"batch_size": args.batch_size} if args.batch_size else {}}
    cfg = ExperimentConfig.model_validate(overrides)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        stage(cfg, run_dir)
        gen = generation_seconds(cfg, run_dir)
        print(f"n_train={cfg.data.synthetic.n_train} n_validation={cfg.data.synthetic.n_validation} "
              f"batch_size={cfg.train.batch_size}; generation of the validation set: {gen:.2f} s")
        print(f"{'batch':>5} {'batching':>9} {'tokens/s':>9} {'padding':>8} {'epoch s':>8} {'grid est. min':>13}")
        for bs in args.batch_sizes or [cfg.train.batch_size]:
            for bucket in (True, False):
                # best of two runs: the machine is shared, so the faster run is the less disturbed one
                r = max((train_speed(cfg, run_dir, bs, bucket, args.steps) for _ in range(2)),
                        key=lambda x: x["tokens_per_s"])
                grid_min = 83 * (r["epoch_s"] + gen) / 2 / 60 + 17 * 3 / 2 / 60  # + ~3 s start per trial
                print(f"{bs:>5} {'bucketed' if bucket else 'naive':>9} {r['tokens_per_s']:>9.0f} "
                      f"{r['padding']:>8.1%} {r['epoch_s']:>8.1f} {grid_min:>13.1f}")
        if args.full:
            wall, finals = full_grid(cfg, run_dir)
            print(f"\nfull grid measured: {wall / 60:.1f} min wall-clock (2 side by side)")
            print(f"{'training':<32} {'loss':>6} {'EM':>5}")
            for row in sorted(finals, key=lambda r: -r.get("exact_match", 0)):
                print(f"{row['training_id']:<32} {row['train_loss']:>6.3f} {row.get('exact_match', 0):>5.2f}")


if __name__ == "__main__":
    main()
