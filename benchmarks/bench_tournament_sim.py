"""Benchmark: tournament strategies on a simulated judge (calls used and P(pick true best)).

Setup like the PandaLM paper: 80 candidates = 16 trainings x 5 epoch checkpoints, with
qualities correlated within a training (a training effect plus an epoch curve that peaks at a
training-specific epoch), judged on 170 validation items in both orders (strict policy), by a
judge that is right 85% of the time per order and says "response 1" 10% of the time.
Noise level = the item-level temperature: P(a's answer better on an item) =
sigmoid((q_a - q_b) / temperature).

Run: python benchmarks/bench_tournament_sim.py [--reps 100] [--items 170]
P(best) standard error = sqrt(p(1-p)/reps): about 0.05 at 100 reps.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hpo.tournament.registry import make_strategy
from hpo.tournament.simulate import SimulatedJudge

STRATEGY_SETUPS = {  # label -> (registry name, options)
    "blocked (paper)": ("blocked", {"early_decision": False}),
    "blocked+early": ("blocked", {}),
    "knockout+early": ("knockout", {}),
    "playoff": ("playoff", {}),
    "halving": ("halving", {}),
    "racing": ("racing", {}),
}


def paper_like_qualities(rng: np.random.Generator, trainings: int = 16, epochs: int = 5) -> np.ndarray:
    """Latent qualities: training effect + concave epoch curve + small checkpoint noise."""
    effect = rng.normal(0.0, 1.0, trainings)
    peak = rng.integers(2, epochs + 1, trainings)
    ep = np.arange(1, epochs + 1)
    curve = -0.15 * (ep[None, :] - peak[:, None]) ** 2
    return (effect[:, None] + curve + rng.normal(0.0, 0.05, (trainings, epochs))).ravel()


def run_cell(label: str, temperature: float, reps: int, items: int) -> tuple[float, float]:
    """(mean calls, P(winner is the true best)) over `reps` seeded repetitions."""
    name, options = STRATEGY_SETUPS[label]
    strategy = make_strategy(name, **options)
    calls, hits = [], 0
    for rep in range(reps):
        qualities = paper_like_qualities(np.random.default_rng(rep))
        judge = SimulatedJudge(qualities.tolist(), items, accuracy=0.85, position_bias=0.1, seed=rep,
                               temperature=temperature)
        result = strategy.run(judge.ids, judge, seed=rep)
        calls.append(result.calls)
        hits += result.winner == judge.true_best
    return float(np.mean(calls)), hits / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--items", type=int, default=170)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.1, 1.0, 2.0, 3.0, 5.0])
    args = parser.parse_args()
    began = time.perf_counter()
    labels = list(STRATEGY_SETUPS)
    print(f"80 candidates, {args.items} items, {args.reps} reps; cells: mean calls / P(best)")
    print("| temperature | " + " | ".join(labels) + " | halving / racing vs blocked P(best) |")
    print("|---" * (len(labels) + 2) + "|")
    for temp in args.temperatures:
        cells = {label: run_cell(label, temp, args.reps, args.items) for label in labels}
        base = cells["blocked (paper)"][1]
        ratios = [cells[k][1] / base if base else float("inf") for k in ("halving", "racing")]
        row = " | ".join(f"{c:.0f} / {p:.2f}" for c, p in cells.values())
        print(f"| {temp:g} | {row} | {ratios[0]:.2f} / {ratios[1]:.2f} |")
    print(f"total {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
