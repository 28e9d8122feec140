"""Score a judge on labelled held-out pairs (the split `hpo judge train` writes).

Each pair is judged in both orders and the two verdicts are combined by the judge's tie policy,
as a tournament does; accuracy, macro-F1 and kappa are against the pair's label, swap
consistency is over pairs whose two verdicts are valid, decisive accuracy is over pairs with
a winner (one answer right, one wrong), and accuracy per `meta` group (e.g.
corruption kind) shows where the judge errs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from judge.evaluate import (
    _OUTCOME_LABEL,
    _VERDICT_LABEL,
    EvalResult,
    compute_metrics,
    decisive_accuracy,
)
from judge.pairwise import PairwiseJudge
from judge.policy import combine
from judge.training.data import Pair
from judge.types import JudgeRequest, Verdict


def _swap_consistent(a: Verdict, b: Verdict) -> bool:
    return combine(a, b, "strict") != 0 or a == b == Verdict.TIE


def evaluate_pairs(pairs: Sequence[Pair], judge: PairwiseJudge) -> EvalResult:
    """Both-order metrics of `judge` on `pairs`; `extra` holds order-1 accuracy per group."""
    forward = [JudgeRequest(p.instruction, p.input, p.response1, p.response2) for p in pairs]
    swapped = [JudgeRequest(r.instruction, r.input, r.response2, r.response1) for r in forward]
    judged = judge.judge_requests(forward + swapped)
    v1 = [j.verdict for j in judged[: len(forward)]]
    v2 = [j.verdict for j in judged[len(forward):]]
    labels = [p.label for p in pairs]
    outcomes = [_OUTCOME_LABEL[combine(a, b, judge.policy)] for a, b in zip(v1, v2, strict=True)]
    result = compute_metrics(labels, outcomes)
    result.decisive_accuracy = decisive_accuracy(labels, outcomes)
    valid = [(a, b) for a, b in zip(v1, v2, strict=True) if Verdict.INVALID not in (a, b)]
    result.swap_consistency = sum(_swap_consistent(a, b) for a, b in valid) / len(valid) if valid else 0.0
    single = [_VERDICT_LABEL[v] for v in v1]
    result.order1_accuracy = compute_metrics(labels, single).accuracy
    invalid = sum(v == Verdict.INVALID for v in v1 + v2)
    result.invalid_rate = invalid / (2 * len(pairs))  # per single-order judgment
    groups: dict[str, list[bool]] = defaultdict(list)
    for p, o in zip(pairs, outcomes, strict=True):
        groups[p.meta or "all"].append(o == p.label)
    result.extra.update({f"accuracy[{k}]": f"{sum(v) / len(v):.3f} (n={len(v)})"
                         for k, v in sorted(groups.items())})
    return result
