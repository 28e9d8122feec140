"""Judge noise models that produce dense verdict tables (vectorised), for the strategy benchmark.

One single-order judgment ("which response is better, 1, 2 or Tie") follows `JudgeParams`:
with probability `position_bias` the judge says "1" whatever the answers; otherwise with
probability `tie_rate` it says "Tie"; otherwise it names the better answer with probability
`accuracy`. The two orders are combined with the strict policy (agree -> that side, anything
else -> tie). Every (pair, item) is judged once per table: asking again repeats the verdict.

Two models of what "the better answer" is:

* `independent_table` (the old `SimulatedJudge`): for every pair and item, a's answer is
  better with probability sigmoid((q_a - q_b) / temperature), drawn independently per pair.
  A candidate's answer to an item is a different answer in every match: optimistic.
* `correlated_table`: every candidate has ONE fixed answer per item, of quality
  z = q + spread * N(0, 1); the better answer is the one with the larger z, in every match
  where the two meet. The judge sees each answer's appeal z + judge_spread * N(0, 1), also
  fixed per answer: an answer that fools the judge fools it in every match it plays. A share
  `shared` of the judge's errors comes from that appeal; the rest are per (pair, item) errors,
  which also repeat whenever the same pair meets on the same item again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpo.testing.verdict_table import VerdictTable, antisymmetric


@dataclass(frozen=True)
class JudgeParams:
    """Single-order judge behaviour (see module docstring); measured, not chosen: see
    `judge_params_from_testset` and docs/tournament.md."""

    accuracy: float
    tie_rate: float
    position_bias: float


# Measured on PandaLM's 999-pair human-annotated test set (testset-v1.json) by
# `judge_params_from_testset`; tests/unit/tournament/test_noise.py recomputes them from the data.
PANDALM_7B = JudgeParams(accuracy=0.778, tie_rate=0.085, position_bias=0.008)
GPT35 = JudgeParams(accuracy=0.821, tie_rate=0.038, position_bias=0.016)


def paper_like_qualities(rng: np.random.Generator, trainings: int = 16, epochs: int = 5) -> np.ndarray:
    """Latent qualities: training effect + concave epoch curve + small checkpoint noise."""
    effect = rng.normal(0.0, 1.0, trainings)
    peak = rng.integers(2, epochs + 1, trainings)
    ep = np.arange(1, epochs + 1)
    curve = -0.15 * (ep[None, :] - peak[:, None]) ** 2
    return (effect[:, None] + curve + rng.normal(0.0, 0.05, (trainings, epochs))).ravel()


def _verdicts(rng: np.random.Generator, first_better: np.ndarray, params: JudgeParams,
              accuracy: float) -> np.ndarray:
    """One order: 1 = response 1 preferred, 2 = response 2, 0 = Tie (arrays like `first_better`)."""
    u = rng.random((3, *first_better.shape))
    right = np.where(first_better, 1, 2)
    named = np.where(u[0] < accuracy, right, 3 - right)
    named = np.where(u[1] < params.tie_rate, 0, named)
    return np.where(u[2] < params.position_bias, 1, named)


def _combine(a_better: np.ndarray, rng: np.random.Generator, params: JudgeParams,
             accuracy: float) -> np.ndarray:
    """Both orders (a shown first, then b first), strict policy, from a's view."""
    first = _verdicts(rng, a_better, params, accuracy)
    second = _verdicts(rng, ~a_better, params, accuracy)
    return np.where((first == 1) & (second == 2), 1,
                    np.where((first == 2) & (second == 1), -1, 0)).astype(np.int8)


def _table(q: np.ndarray, per_pair: np.ndarray) -> VerdictTable:
    n = len(q)
    upper = np.zeros((n, n, per_pair.shape[1]), dtype=np.int8)
    upper[np.triu_indices(n, 1)] = per_pair
    return VerdictTable([f"c{k:02d}" for k in range(n)], antisymmetric(upper), q.astype(float))


def independent_table(q: np.ndarray, n_items: int, params: JudgeParams, seed: int, *,
                      temperature: float = 1.0) -> VerdictTable:
    """Independent item noise per pair (see module docstring)."""
    rng = np.random.default_rng((seed, 1))
    lo, hi = np.triu_indices(len(q), 1)
    p = 1.0 / (1.0 + np.exp(-(q[lo] - q[hi]) / temperature))
    a_better = rng.random((len(lo), n_items)) < p[:, None]
    return _table(q, _combine(a_better, rng, params, params.accuracy))


def correlated_table(q: np.ndarray, n_items: int, params: JudgeParams, seed: int, *,
                     spread: float = 1.2, shared: float = 0.5) -> VerdictTable:
    """Fixed answers, answer-level judge errors (see module docstring). `shared` in [0, 1] is
    the share of the judge's wrong verdicts that come from answer appeal."""
    rng = np.random.default_rng((seed, 2))
    z = q[:, None] + spread * rng.standard_normal((len(q), n_items))
    eta = rng.standard_normal(z.shape)
    lo, hi = np.triu_indices(len(q), 1)
    truth = z[lo] > z[hi]
    judge_spread = _calibrate(z, eta, lo, hi, truth, shared * (1 - params.accuracy))
    appeal = z + judge_spread * eta
    seen = appeal[lo] > appeal[hi]
    agree = float(np.mean(seen == truth))
    # per-call accuracy against the appeal order so that the overall accuracy is params.accuracy
    acc = min(1.0, (params.accuracy - (1 - agree)) / max(2 * agree - 1, 1e-9))
    return _table(q, _combine(seen, rng, params, acc))


def _calibrate(z: np.ndarray, eta: np.ndarray, lo: np.ndarray, hi: np.ndarray,
               truth: np.ndarray, target: float) -> float:
    """Judge spread whose appeal order disagrees with the truth on a `target` share of items."""
    if target <= 0:
        return 0.0
    low, high = 0.0, 8.0 * float(z.std()) + 1.0
    for _ in range(25):
        mid = (low + high) / 2
        appeal = z + mid * eta
        wrong = float(np.mean((appeal[lo] > appeal[hi]) != truth))
        low, high = (mid, high) if wrong < target else (low, mid)
    return (low + high) / 2


def fit_judge_params(counts: np.ndarray) -> JudgeParams:
    """Maximum-likelihood JudgeParams from single-order verdict counts on items with a strict
    human label: `counts[h, v]` for human label h (0: response 1 better, 1: response 2 better)
    and verdict v (0: "1", 1: "2", 2: "Tie"). Grid search at 0.01, refined at 0.001."""
    best = _grid_search(counts, np.arange(0.005, 1, 0.01), np.arange(0.0, 0.5, 0.01))
    fine = [np.clip(np.arange(x - 0.01, x + 0.0105, 0.001), 0.0005, 0.9995) for x in best]
    acc, tie, bias = _grid_search_3(counts, *fine)
    return JudgeParams(round(acc, 3), round(tie, 3), round(max(bias, 0.0), 3))


def _grid_search(counts: np.ndarray, grid: np.ndarray, biases: np.ndarray) -> tuple[float, ...]:
    return _grid_search_3(counts, grid, grid, biases)


def _grid_search_3(counts: np.ndarray, accs: np.ndarray, ties: np.ndarray,
                   biases: np.ndarray) -> tuple[float, float, float]:
    acc, tie, bias = np.meshgrid(accs, ties, np.clip(biases, 0, None), indexing="ij")
    ll = _loglik(counts, acc, tie, bias)
    k = int(np.argmax(ll))
    return float(acc.flat[k]), float(tie.flat[k]), float(bias.flat[k])


def _loglik(counts: np.ndarray, acc: np.ndarray, tie: np.ndarray, bias: np.ndarray) -> np.ndarray:
    named = (1 - bias) * (1 - tie)
    probs = [  # [h][v]
        [bias + named * acc, named * (1 - acc), (1 - bias) * tie],
        [bias + named * (1 - acc), named * acc, (1 - bias) * tie],
    ]
    return sum(counts[h, v] * np.log(np.maximum(probs[h][v], 1e-300))
               for h in range(2) for v in range(3))
