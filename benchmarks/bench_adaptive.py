"""Grid vs the adaptive modes on the embedded default (its trained judge), side by side.

    python benchmarks/bench_adaptive.py --seeds 0 1 2 3 4 --n-train 800 --n-validation 40 \
        --modes grid halving-judge halving-valloss
    # the open-answer families (validation loss is no answer key there):
    python benchmarks/bench_adaptive.py --seeds 0 1 2 3 4 --modes grid halving-judge halving-valloss \
        --run-set 'data.synthetic.tasks=[any_order,any_letter,any_number]'

For each seed it runs, on the same data and seeds: (a) `grid`, the full grid with the blocked
tournament, (b) `asha`, the same grid under ASHA driven by judge_winrate against the baseline,
(c) `optuna`, Optuna TPE (+ASHA) over the same axes with at most half the grid's trainings,
(d) `halving-judge`, synchronous successive halving at rungs 1, 2, 3 (eta 2) whose rungs are
judged round robins, (e) `halving-valloss`, the same rounds ranked by validation loss; every
mode ends with the configured tournament over what it produced. It prints training epochs spent
(grid trainings only, the baseline's excluded; also as a fraction of the grid's), judge calls
(distinct single-order judgments, i.e. backend calls: nothing is ever asked twice), wall-clock,
the winner's true exact match, and its regret vs the best candidate of the full grid (same
seed); then the mean ± standard error over seeds.

Runs go through the real CLI in subprocesses (with the adaptive hooks applied, as in
tests/integration/test_adaptive.py). Expensive on 2 cores: keep sizes small.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OPTUNA_SPACE = """\
kind: optuna
epochs: {epochs}
params:
  lr: {{type: loguniform, low: 2.0e-6, high: 4.0e-4}}
  optimizer: {{type: choice, values: [sgd, adamw]}}
  scheduler: {{type: choice, values: [cosine, linear]}}
"""
MODES = ("grid", "asha", "optuna", "halving-judge", "halving-valloss")


def mode_flags(mode: str, work: Path, args: argparse.Namespace) -> list[str]:
    if mode == "grid":
        return []
    if mode == "asha":
        return ["--set", "search.scheduler=asha", "--set", "tournament.overlap=false"]
    if mode.startswith("halving"):
        rank_by = "judge" if mode == "halving-judge" else "val_loss"
        return ["--set", "search.scheduler=halving", "--set", f"search.halving.rank_by={rank_by}"]
    space = work / "optuna.yaml"
    space.write_text(OPTUNA_SPACE.format(epochs=args.epochs))
    return ["--space", str(space), "--set", "search.search=optuna", "--set", "search.scheduler=asha",
            "--set", f"search.num_samples={args.num_samples}", "--set", "tournament.overlap=false"]


def timed_run(mode: str, seed: int, work: Path, args: argparse.Namespace) -> tuple[Path, float]:
    """One run and its wall-clock; a finished run already in `work` (same name) is reused, so a
    later invocation can add modes without training the grid again."""
    run_dir, clock = work / "runs" / f"{mode}-s{seed}", work / "runs" / f"{mode}-s{seed}.seconds"
    if (run_dir / "report.json").is_file() and clock.is_file():
        return run_dir, float(clock.read_text())
    t0 = time.monotonic()
    run_one(mode, seed, work, args)
    clock.write_text(f"{time.monotonic() - t0:.1f}")
    return run_dir, float(clock.read_text())


def run_one(mode: str, seed: int, work: Path, args: argparse.Namespace) -> Path:
    name = f"{mode}-s{seed}"
    cmd = [sys.executable, "-m", "hpo.cli", "run", "--experiment", str(REPO / "experiments/tiny-cpu.yaml"),
           "--run-root", str(work / "runs"), "--run-name", name, "--set", f"train.seed={seed}",
           "--set", f"tournament.seed={seed}", "--set", f"data.synthetic.n_train={args.n_train}",
           "--set", f"data.synthetic.n_validation={args.n_validation}",
           "--set", "tracking.backend=none", *mode_flags(mode, work, args),
           *[flag for kv in args.run_set for flag in ("--set", kv)]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return work / "runs" / name


def measure(run_dir: Path, seconds: float) -> dict[str, Any]:
    rep = json.loads((run_dir / "report.json").read_text())
    epochs = sum(trained_epochs(p) for p in run_dir.glob("trials/*/events.jsonl")
                 if not p.parent.name.startswith("baseline"))
    with sqlite3.connect(run_dir / "verdicts.sqlite") as db:
        judged = db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
    ems = {c["candidate_id"]: c["exact_match"] for c in rep["candidates"] if "exact_match" in c}
    return {"epochs": epochs, "judge_calls": judged, "seconds": seconds,
            "winner": rep["winner"]["candidate_id"], "winner_em": ems.get(rep["winner"]["candidate_id"]),
            "best_em": max(ems.values()), "candidates": len(ems)}


def trained_epochs(events: Path) -> int:
    """Epochs a trial trained to their end (its `epoch_end` events)."""
    return sum(1 for line in events.read_text().splitlines()
               if line.strip() and json.loads(line).get("event") == "epoch_end")


def spread(values: list[float]) -> str:
    """Mean ± standard error of the mean (stdev / sqrt(n))."""
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {se:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-validation", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=5, help="the grid's epochs (pandalm80: 5)")
    ap.add_argument("--grid-epochs", type=int, default=80, help="the full grid's training epochs")
    ap.add_argument("--num-samples", type=int, default=8, help="Optuna trials (grid: 16)")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--work", type=Path, default=None, help="keep run folders here")
    ap.add_argument("--run-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra --set for every run, e.g. the open-answer families:"
                         " 'data.synthetic.tasks=[any_order,any_letter,any_number]'")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-adaptive-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in args.modes}
    for seed in args.seeds:
        grid_best = None
        for mode in args.modes:
            m = measure(*timed_run(mode, seed, work, args))
            grid_best = m["best_em"] if mode == "grid" else grid_best
            m["regret"] = (grid_best if grid_best is not None else m["best_em"]) - m["winner_em"]
            rows[mode].append(m)
            print(f"seed {seed} {mode:6s} {json.dumps(m)}", flush=True)
        print_table(rows, args.grid_epochs)  # after every seed: a cut-short bench still has one
    extra = f", --run-set {' '.join(args.run_set)}" if args.run_set else ""
    print(f"\nseeds {args.seeds}, n_train {args.n_train}, n_validation {args.n_validation}{extra};"
          f" runs in {work}")


def print_table(rows: dict[str, list[dict[str, Any]]], grid_epochs: int) -> None:
    """Mean ± standard error per mode; epochs also as a fraction of the full grid's."""
    print("\n| mode | seeds | training epochs | of the grid's | judge calls | wall-clock s"
          " | winner exact match | regret vs grid best |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, ms in rows.items():
        for m in ms:
            m["fraction"] = m["epochs"] / grid_epochs
        cols = [spread([float(m[k]) for m in ms]) for k in ("epochs", "fraction", "judge_calls",
                                                             "seconds", "winner_em", "regret")]
        print(f"| {mode} | {len(ms)} | " + " | ".join(cols) + " |", flush=True)


if __name__ == "__main__":
    main()
