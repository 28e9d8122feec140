"""Measure a judge against PandaLM's human-annotated pairwise test set.

Labels: 0 tie, 1 response 1 better, 2 response 2 better; the label is the majority of the
three annotators. With no majority (all three differ) the reference
(`data/compute_metrics.py`) takes the first-counted vote, i.e. annotator1's, and so do we
(testset-v1 has no such item). Invalid predictions are kept as their own value (-1): they
count as wrong for accuracy, as a miss of the true class for recall, never as a false
positive of any class, and are reported as `invalid_rate`. The reference instead maps
GPT-3.5's "garbage" to a tie; `invalid_as_tie=True` reproduces its numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

from judge.errors import ConfigError
from judge.pairwise import PairwiseJudge
from judge.policy import combine
from judge.records import read_records
from judge.types import JudgeRequest, Verdict

INVALID = -1
CLASSES = (0, 1, 2)
CLASS_NAMES = {0: "tie", 1: "1", 2: "2"}
_VERDICT_LABEL = {Verdict.TIE: 0, Verdict.RESPONSE1: 1, Verdict.RESPONSE2: 2, Verdict.INVALID: INVALID}
_OUTCOME_LABEL = {1: 1, -1: 2, 0: 0, None: INVALID}
_ANNOTATORS = ("annotator1", "annotator2", "annotator3")


def load_testset(path: Path) -> list[dict[str, Any]]:
    """PandaLM test-set items (instruction, input, response1, response2, annotator1..3)."""
    items = read_records(path, "test set", ConfigError)
    needed = ("instruction", "input", "response1", "response2", *_ANNOTATORS)
    for i, item in enumerate(items):
        missing = [k for k in needed if k not in item]
        if missing:
            raise ConfigError(f"test set {path} item {i} lacks {', '.join(missing)}")
        bad = next((k for k in _ANNOTATORS if _label(item[k]) is None), None)
        if bad is not None:
            raise ConfigError(f"test set {path} item {i}: {bad} is {item[bad]!r}, not a label 0, 1 or 2")
        _check_idx(item, f"test set {path} item {i}")
    return items


def _label(vote: Any) -> int | None:
    """An annotator's vote as 0/1/2 (an int, or its digit as a string), else None."""
    if isinstance(vote, bool):
        return None
    text = vote.strip() if isinstance(vote, str) else vote
    return {0: 0, 1: 1, 2: 2, "0": 0, "1": 1, "2": 2}.get(text) if isinstance(text, int | str) else None


def _check_idx(entry: dict[str, Any], where: str) -> None:
    """An `idx`, when present, is an integer: entries are matched to test items by it."""
    idx = entry.get("idx")
    if idx is not None and (isinstance(idx, bool) or not isinstance(idx, int)):
        raise ConfigError(f"{where}: idx {idx!r} is not an integer")


def majority_label(votes: Sequence[int]) -> int:
    """Majority of the annotators' votes; on a full split, the first vote (as the reference)."""
    counts = Counter(int(v) for v in votes)
    return max(counts, key=lambda v: counts[v])  # max keeps the first of equal counts


def verdict_label(entry: dict[str, Any]) -> int:
    """One verdict-file entry -> 0/1/2, or INVALID. Handles both released formats."""
    if "pandalm_result" in entry:
        value = str(entry["pandalm_result"]).strip()
        return int(value) if value in ("0", "1", "2") else INVALID
    if "gpt_result" in entry:
        value = str(entry["gpt_result"]).strip()
        return {"1": 1, "2": 2, "tie": 0}.get(value.lower(), INVALID)
    raise ConfigError(f"verdict entry {entry.get('idx', '?')} has neither pandalm_result nor gpt_result")


def load_verdicts(path: Path, testset: Sequence[dict[str, Any]]) -> list[int]:
    """Predictions aligned with `testset` by `idx` (by position when a file has no idx)."""
    entries = read_records(path, "verdicts file", ConfigError)
    for i, entry in enumerate(entries):
        _check_idx(entry, f"verdicts file {path} entry {i}")
    if all("idx" in e for e in entries) and all("idx" in t for t in testset):
        by_idx = {e["idx"]: e for e in entries}
        missing = [t["idx"] for t in testset if t["idx"] not in by_idx]
        if missing:
            raise ConfigError(f"verdicts file {path} lacks idx {missing[:5]} of the test set")
        entries = [by_idx[t["idx"]] for t in testset]
    elif len(entries) < len(testset):
        raise ConfigError(f"verdicts file {path} has {len(entries)} entries for {len(testset)} items")
    return [verdict_label(e) for e in entries[: len(testset)]]


@dataclass
class EvalResult:
    """Agreement of a judge with the human majority label."""

    n: int
    accuracy: float
    precision: float  # macro over tie/1/2
    recall: float
    f1: float
    per_class_f1: dict[str, float]
    kappa: float
    invalid_rate: float
    swap_consistency: float | None = None  # both orders: valid pairs naming the same answer
    order1_accuracy: float | None = None  # both orders: accuracy of the first order alone
    decisive_accuracy: float | None = None  # items labelled 1 or 2: share called that way
    extra: dict[str, Any] = field(default_factory=dict)

    def as_table(self) -> str:
        rows = [("items", str(self.n)), ("accuracy", f"{self.accuracy:.4f}"),
                ("macro precision", f"{self.precision:.4f}"), ("macro recall", f"{self.recall:.4f}"),
                ("macro F1", f"{self.f1:.4f}"),
                *((f"F1 {name}", f"{v:.4f}") for name, v in self.per_class_f1.items()),
                ("Cohen's kappa", f"{self.kappa:.4f}"), ("invalid rate", f"{self.invalid_rate:.4f}")]
        if self.swap_consistency is not None:
            rows.append(("swap consistency", f"{self.swap_consistency:.4f}"))
        if self.order1_accuracy is not None:
            rows.append(("accuracy, order 1 only", f"{self.order1_accuracy:.4f}"))
        if self.decisive_accuracy is not None:
            rows.append(("decisive accuracy", f"{self.decisive_accuracy:.4f}"))
        rows += [(k, str(v)) for k, v in self.extra.items()]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def compute_metrics(labels: Sequence[int], predictions: Sequence[int],
                    invalid_as_tie: bool = False) -> EvalResult:
    """Metrics of `predictions` (0/1/2/INVALID) against `labels` (0/1/2), via scikit-learn."""
    if len(labels) != len(predictions) or not labels:
        raise ConfigError(f"need as many predictions as labels (got {len(predictions)}, {len(labels)})")
    y_true = list(labels)
    n_invalid = sum(p == INVALID for p in predictions)
    y_pred = [0 if invalid_as_tie and p == INVALID else p for p in predictions]
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=list(CLASSES),
                                                 average=None, zero_division=0)
    return EvalResult(
        n=len(y_true), accuracy=float(accuracy_score(y_true, y_pred)),
        precision=float(p.mean()), recall=float(r.mean()), f1=float(f.mean()),
        per_class_f1={CLASS_NAMES[c]: float(v) for c, v in zip(CLASSES, f, strict=True)},
        kappa=float(cohen_kappa_score(y_true, y_pred)), invalid_rate=n_invalid / len(y_true))


def decisive_accuracy(labels: Sequence[int], predictions: Sequence[int]) -> float | None:
    """Accuracy on the items whose label names a winner (1 or 2): where one answer is right
    and the other wrong, how often the judge says so, in the right direction. A tie or an
    invalid prediction is a miss. None when no item is decisive. Overall accuracy hides this:
    a judge that says Tie to everything scores a third on a balanced set, 0 here."""
    decisive = [(label, p) for label, p in zip(labels, predictions, strict=True) if label in (1, 2)]
    return sum(label == p for label, p in decisive) / len(decisive) if decisive else None


def testset_labels(testset: Sequence[dict[str, Any]]) -> list[int]:
    return [majority_label([t[a] for a in _ANNOTATORS]) for t in testset]


def evaluate_verdicts(testset: Sequence[dict[str, Any]], verdicts_path: Path,
                      invalid_as_tie: bool = False) -> EvalResult:
    """Score a released verdicts file (PandaLM-7B or GPT-3.5 format) against the test set."""
    return compute_metrics(testset_labels(testset), load_verdicts(verdicts_path, testset),
                           invalid_as_tie)


def evaluate_judge(testset: Sequence[dict[str, Any]], judge: PairwiseJudge,
                   both_orders: bool = False, invalid_as_tie: bool = False) -> EvalResult:
    """Judge every item in its given order (and swapped, with `both_orders`), then score it.

    With both orders the prediction is the judge's tie policy applied to the pair, which
    is what a tournament uses; swap consistency is over items whose two orders are valid.
    """
    forward = [JudgeRequest(t["instruction"], t["input"], t["response1"], t["response2"])
               for t in testset]
    swapped = [JudgeRequest(r.instruction, r.input, r.response2, r.response1) for r in forward]
    judged = judge.judge_requests(forward + swapped if both_orders else forward)
    v1 = [j.verdict for j in judged[: len(forward)]]
    labels = testset_labels(testset)
    if not both_orders:
        return compute_metrics(labels, [_VERDICT_LABEL[v] for v in v1], invalid_as_tie)
    v2 = [j.verdict for j in judged[len(forward):]]
    outcomes = [combine(a, b, judge.policy) for a, b in zip(v1, v2, strict=True)]
    result = compute_metrics(labels, [_OUTCOME_LABEL[o] for o in outcomes], invalid_as_tie)
    result.decisive_accuracy = decisive_accuracy(labels, [_OUTCOME_LABEL[o] for o in outcomes])
    valid = [(a, b) for a, b in zip(v1, v2, strict=True) if Verdict.INVALID not in (a, b)]
    same = sum(combine(a, b, "strict") != 0 or a == b == Verdict.TIE for a, b in valid)
    result.swap_consistency = same / len(valid) if valid else 0.0
    order1 = compute_metrics(labels, [_VERDICT_LABEL[v] for v in v1], invalid_as_tie)
    result.order1_accuracy = order1.accuracy
    return result
