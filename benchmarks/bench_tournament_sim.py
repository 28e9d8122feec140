"""Benchmark: our tournament strategies against outside dueling-bandit baselines, per noise model.

Setup like the PandaLM paper: 80 candidates = 16 trainings x 5 epoch checkpoints (qualities
correlated within a training), 170 validation items, every item judged in both orders (strict
policy). The single-order judge is PandaLM-7B as measured on PandaLM's human-annotated test set
(`benchmarks/judge_params_pandalm.py`: accuracy 0.778, tie rate 0.085, position bias 0.008).
Noise models (`hpo.testing.noise`), one table each:

* independent: every pair's item outcomes drawn independently (the old simulator);
* correlated: fixed answers per candidate and item, judge errors tied to answers and repeated
  wherever the same pair meets on the same item again;
* replay: a dense verdict table from a real run (`--replay TABLE.npz`, built by
  `benchmarks/build_verdict_table.py`); the true best is the Bradley-Terry best of the table.

Every strategy gets the same judge model and the same budget, blocked's worst case
((N-1) x items x 2 calls); the baselines (RUCB, DTS, Beat-the-Mean) keep their own stopping
rules. Rows: mean judge calls, P(true best) +- its standard error, mean regret (latent quality
lost; BT strength lost in a replay), and calls as a multiple of the gap-based lower bound
(`hpo.testing.lower_bound`, constant 1, delta 0.05), averaged over seeds.

Run: python benchmarks/bench_tournament_sim.py [--reps 200] [--models independent correlated]
     [--replay table.npz] [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import TextIO

import numpy as np

from hpo.testing.lower_bound import lower_bound_calls
from hpo.testing.noise import (
    PANDALM_7B,
    correlated_table,
    independent_table,
    paper_like_qualities,
)
from hpo.testing.verdict_table import TableJudge, VerdictTable
from hpo.tournament.registry import make_strategy

STRATEGY_SETUPS = {  # label -> (registry name, options)
    "blocked (paper)": ("blocked", {"early_decision": False}),
    "blocked+early": ("blocked", {}),
    "knockout+early": ("knockout", {}),
    "playoff": ("playoff", {}),
    "halving": ("halving", {}),
    "racing": ("racing", {}),
    "RUCB [Zoghi+14]": ("rucb", {}),
    "DTS [Wu&Liu16]": ("dts", {}),
    "Beat-the-Mean [Yue&Joachims11]": ("beat_the_mean", {}),
}


@dataclass
class Cell:
    calls: list[int] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)
    regret: list[float] = field(default_factory=list)
    multiple: list[float] = field(default_factory=list)

    def add(self, calls: int, hit: bool, regret: float, multiple: float) -> None:
        self.calls.append(calls)
        self.hits.append(hit)
        self.regret.append(regret)
        self.multiple.append(multiple)

    def row(self, label: str) -> str:
        p = float(np.mean(self.hits))
        se = float(np.sqrt(p * (1 - p) / len(self.hits)))
        return (f"| {label} | {np.mean(self.calls):,.0f} | {p:.3f} ± {se:.3f} | "
                f"{np.mean(self.regret):.3f} | {np.mean(self.multiple):.2f} |")


@lru_cache(maxsize=1)
def load_replay(path: str) -> VerdictTable:
    """The replay table, read once per process (every repetition plays on the same one)."""
    return VerdictTable.load(path)


def make_table(model: str, rep: int, items: int, replay: str | None) -> VerdictTable:
    """Repetition `rep`'s table: a fresh simulation per seed, or the one replay table."""
    if model == "replay":
        assert replay is not None
        return load_replay(replay)
    makers: dict[str, Callable[..., VerdictTable]] = {"independent": independent_table,
                                                      "correlated": correlated_table}
    return makers[model](paper_like_qualities(np.random.default_rng(rep)), items, PANDALM_7B, rep)


Outcome = tuple[int, bool, float, float]  # calls, hit, regret, calls / lower bound


def run_rep(model: str, labels: list[str], rep: int, items: int,
            replay: str | None) -> dict[str, Outcome]:
    """Every strategy once on repetition `rep`'s table (strategy seed = rep)."""
    table = make_table(model, rep, items, replay)
    bound = lower_bound_calls(table)
    out: dict[str, Outcome] = {}
    for label in labels:
        name, options = STRATEGY_SETUPS[label]
        result = make_strategy(name, **options).run(table.ids, TableJudge(table), seed=rep)
        regret = table.regret(result.winner)  # a hit: any candidate of the best value (replays tie)
        out[label] = (result.calls, regret <= 1e-12, regret, result.calls / bound)
    return out


def run_model(model: str, labels: list[str], reps: int, items: int, replay: str | None,
              jobs: int = 1) -> dict[str, Cell]:
    """All repetitions, `jobs` at a time in worker processes (seeded per repetition, so the
    numbers do not depend on `jobs`)."""
    cells = {label: Cell() for label in labels}
    began = time.perf_counter()
    work = partial(run_rep, model, labels, items=items, replay=replay)
    with ProcessPoolExecutor(jobs) if jobs > 1 else nullcontext() as pool:
        results = pool.map(work, range(reps)) if pool else map(work, range(reps))
        for done, outcome in enumerate(results, start=1):
            for label, (calls, hit, regret, multiple) in outcome.items():
                cells[label].add(calls, hit, regret, multiple)
            if done % 10 == 0:
                print(f"  {model}: {done}/{reps} seeds, {time.perf_counter() - began:.0f} s",
                      file=sys.stderr, flush=True)
            if done % 25 == 0 and done < reps:  # partial tables, for long runs
                print_table(f"{model}, first {done} seeds", cells, sys.stderr)
    return cells


def print_table(title: str, cells: dict[str, Cell], out: TextIO = sys.stdout) -> None:
    print(f"\n### {title}\n", file=out)
    print("| strategy | mean judge calls | P(true best) ± se | mean regret | calls / lower bound |",
          file=out)
    print("|---|---|---|---|---|", file=out)
    for label, cell in cells.items():
        print(cell.row(label), file=out)
    out.flush()


def title(model: str, reps: int, items: int, replay: str | None) -> str:
    if model == "replay":
        table = load_replay(str(replay))
        return (f"replay of {replay} ({reps} seeds, {len(table.ids)} candidates x {table.n_items} "
                f"items, the run's real judge; true best {table.true_best})")
    return f"{model} ({reps} seeds, {items} items, judge PandaLM-7B as measured)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--items", type=int, default=170)
    parser.add_argument("--models", nargs="+", default=["independent", "correlated", "replay"],
                        choices=["independent", "correlated", "replay"])
    parser.add_argument("--replay", help="dense verdict table (.npz) for the replay model")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in this many processes")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGY_SETUPS),
                        choices=list(STRATEGY_SETUPS), metavar="LABEL")
    args = parser.parse_args()
    began = time.perf_counter()
    for model in args.models:
        if model == "replay" and not args.replay:
            print("\n### replay\n\nno verdict table given (--replay TABLE.npz); build one with "
                  "benchmarks/build_verdict_table.py from a real run judged by the trained judge")
            continue
        cells = run_model(model, args.strategies, args.reps, args.items, args.replay, args.jobs)
        print_table(title(model, args.reps, args.items, args.replay), cells)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
