"""The gap-based lower bound on judge calls for finding the best candidate.

Ren, Liu and Shroff (ICML 2020, "The Sample Complexity of Best-k Items Selection from Pairwise
Comparisons") show that any algorithm that finds the best item with probability >= 1 - delta
needs, in expectation, order sum_i Delta_i^-2 (log(1/delta) + log log Delta_i^-1) comparisons,
Delta_i = p_{best,i} - 1/2 being the best item's edge over item i. We evaluate the leading term
sum_i Delta_i^-2 ln(1/delta) with constant 1 (the paper's bound holds up to a constant, so the
multiple we print is a yardstick for comparing strategies, not an absolute efficiency), in
item comparisons x 2 judge calls (both orders).

Here p_{best,i} is measured on the dense verdict table: the share of items the true best wins
against i, ties counting half. A pair that meets on every item gives at most n_items samples;
the bound ignores that cap, as the theory does.
"""

from __future__ import annotations

import math

import numpy as np

from hpo.testing.verdict_table import VerdictTable


def best_edges(table: VerdictTable) -> np.ndarray:
    """Delta_i = P(best wins an item against i) - 1/2, ties half, for every i != best."""
    best = int(np.argmax(table.value))
    row = table.outcome[best].astype(float)
    p = (row == 1).mean(axis=1) + 0.5 * (row == 0).mean(axis=1)
    return np.delete(p - 0.5, best)


def lower_bound_calls(table: VerdictTable, delta: float = 0.05) -> float:
    """sum_i Delta_i^-2 ln(1/delta) x 2 calls. A candidate the best does not beat on the table
    (Delta_i <= 0: no strategy can single out the best from this table's verdicts) is floored
    at Delta = 1 / (2 n_items), the smallest edge the table can show."""
    edges = np.maximum(best_edges(table), 1.0 / (2 * table.n_items))
    return float(2 * np.sum(edges**-2.0) * math.log(1 / delta))
