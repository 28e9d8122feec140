"""How far to trust the run's judge: agreement with the truth and the judge's biases.

Computed from the run's own judged items (a verdict table of `JudgedItem`s), not from the
judge card's held-out set, so a user sees what the judge did on *their* candidates.

Truth, where the validation set has reference answers, is exact match against them (the
same rule as the `exact_match` metric): an item's implied verdict is +1 when only `a`'s
answer is right, -1 when only `b`'s is, and a tie when both are right or both wrong.
Biases need no reference: the share of single-order verdicts won by the first position, the
rate of order conflicts (the two orders of one item disagree: the verdict flips when the
answers swap places, which the strict policy silently scores a tie), the tie rate, and the
preference for the longer answer among decisive verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hpo.types import Example
from judge.types import JudgeRequest, Judgment, Verdict


@dataclass(frozen=True)
class JudgedItem:
    """One judged (pair, validation item), in candidate `a`'s view (+1 a better, -1 b, 0 tie).

    `first` is the order with `a` as response 1, `second` the swapped order (None: that
    order's verdict is invalid or unknown); `outcome` is the run's verdict under its tie
    policy; `truth` is the verdict the references imply (None: no reference)."""

    a: str
    b: str
    item: int
    outcome: int
    first: int | None
    second: int | None
    len_a: int
    len_b: int
    truth: int | None = None


@dataclass(frozen=True)
class Agreement:
    """The judge against the truth on `items` judged items that have a reference.

    `decisive`: items where the truth separates the pair (one answer right, one wrong);
    `separated`: of those, how many the judge decided either way; `right_direction` /
    `wrong_direction`: for the truth's winner / for its loser. `recall` = right_direction /
    decisive. `false_separations`: items the truth calls a tie that the judge decided."""

    items: int
    agree: int
    decisive: int
    separated: int
    right_direction: int
    wrong_direction: int
    false_separations: int

    @property
    def rate(self) -> float | None:
        return self.agree / self.items if self.items else None

    @property
    def recall(self) -> float | None:
        return self.right_direction / self.decisive if self.decisive else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "agreement": self.rate, "decisive_recall": self.recall}


@dataclass(frozen=True)
class Bias:
    """The judge's habits on the run's items, reference or not (rates None when undefined).

    `first_position_win_rate`: of the decisive single-order verdicts, the share naming
    response 1 (0.5 for an even-handed judge);
    `order_conflict_rate`: share of items with both orders valid whose two verdicts disagree
    about the candidate; `tie_rate` / `single_order_tie_rate`: ties among the run's item
    verdicts / among single-order verdicts; `longer_answer_win_rate`: of decisive item
    verdicts between answers of different length, the share the longer answer won;
    `mean_answer_length`: characters per answer, per candidate, over its judged items."""

    items: int
    single_verdicts: int
    first_position_win_rate: float | None
    order_conflict_rate: float | None
    tie_rate: float | None
    single_order_tie_rate: float | None
    decisive_unequal_length: int
    longer_answer_win_rate: float | None
    mean_answer_length: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def truth_verdict(right_a: bool, right_b: bool) -> int:
    """The verdict the references imply: the right answer wins; both or neither = tie."""
    return int(right_a) - int(right_b)


def agreement(items: Sequence[JudgedItem]) -> Agreement | None:
    """`Agreement` over the items that have a truth; None when none has."""
    known = [it for it in items if it.truth is not None]
    if not known:
        return None
    decisive = [it for it in known if it.truth]
    return Agreement(
        items=len(known), agree=sum(it.outcome == it.truth for it in known),
        decisive=len(decisive), separated=sum(it.outcome != 0 for it in decisive),
        right_direction=sum(it.outcome == it.truth for it in decisive),
        wrong_direction=sum(it.outcome == -(it.truth or 0) for it in decisive),
        false_separations=sum(it.outcome != 0 for it in known if not it.truth))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def bias(items: Sequence[JudgedItem]) -> Bias:
    """`Bias` over every judged item."""
    # in a's view the first order's +1 is a position-1 win; the second order's -1 is one
    singles = [v for it in items for v in (it.first, None if it.second is None else -it.second)
               if v is not None]
    both = [it for it in items if it.first is not None and it.second is not None]
    unequal = [it for it in items if it.outcome and it.len_a != it.len_b]
    longer_won = sum((it.outcome > 0) == (it.len_a > it.len_b) for it in unequal)
    return Bias(
        items=len(items), single_verdicts=len(singles),
        first_position_win_rate=_share(sum(v > 0 for v in singles), sum(v != 0 for v in singles)),
        order_conflict_rate=_share(sum(it.first != it.second for it in both), len(both)),
        tie_rate=_share(sum(it.outcome == 0 for it in items), len(items)),
        single_order_tie_rate=_share(sum(v == 0 for v in singles), len(singles)),
        decisive_unequal_length=len(unequal),
        longer_answer_win_rate=_share(longer_won, len(unequal)),
        mean_answer_length=mean_lengths(items))


def mean_lengths(items: Sequence[JudgedItem]) -> dict[str, float]:
    """Mean answer length per candidate over its judged items (each answer counted once)."""
    seen: dict[tuple[str, int], int] = {}
    for it in items:
        seen[(it.a, it.item)] = it.len_a
        seen[(it.b, it.item)] = it.len_b
    totals: dict[str, list[int]] = {}
    for (cid, _), n in seen.items():
        totals.setdefault(cid, []).append(n)
    return {cid: sum(ns) / len(ns) for cid, ns in sorted(totals.items())}


@dataclass(frozen=True)
class JudgeAudit:
    """The report's judge section: biases always; agreement with the truth overall, on the
    match that decided the winner (`final`, its stage named in `final_stage`) and on the
    winner-vs-baseline match, each None where there is no truth or no such match."""

    bias: Bias
    overall: Agreement | None
    final: Agreement | None
    final_stage: str | None
    baseline: Agreement | None

    def to_dict(self) -> dict[str, Any]:
        def opt(a: Agreement | None) -> dict[str, Any] | None:
            return None if a is None else a.to_dict()

        return {"bias": self.bias.to_dict(), "agreement": {
            "overall": opt(self.overall), "final": opt(self.final), "final_stage": self.final_stage,
            "baseline": opt(self.baseline)}}


def of_pair(items: Sequence[JudgedItem], pair: tuple[str, str] | None) -> list[JudgedItem]:
    """The items judged between the two candidates of `pair` (either order)."""
    if pair is None:
        return []
    want = frozenset(pair)
    return [it for it in items if frozenset((it.a, it.b)) == want]


def audit(items: Sequence[JudgedItem], final: tuple[str, str, str] | None,
          baseline: tuple[str, str] | None) -> JudgeAudit:
    """The judge section from the run's verdict table; `final` = (a, b, stage) of the match
    that decided the winner, `baseline` = (winner, baseline)."""
    final_items = of_pair(items, final[:2] if final else None)
    base_items = of_pair(items, baseline)
    return JudgeAudit(bias(items), agreement(items),
                      agreement(final_items) if final_items else None,
                      final[2] if final else None,
                      agreement(base_items) if base_items else None)


Lookup = Callable[[Sequence[JudgeRequest]], Sequence[Judgment | None]]
_FIRST = {Verdict.RESPONSE1: 1, Verdict.RESPONSE2: -1, Verdict.TIE: 0}  # a is response 1


def _view(judgment: Judgment | None, swapped: bool) -> int | None:
    """One stored order's verdict in a's view (None: invalid or not stored)."""
    if judgment is None or judgment.verdict not in _FIRST:
        return None
    v = _FIRST[judgment.verdict]
    return -v if swapped else v


def exact(answer: str, example: Example) -> bool:
    """Exact match with the reference (whitespace-stripped)."""
    return answer.strip() == (example.output or "").strip()


def build_table(observations: Sequence[tuple[str, str, int, int]],
                answers: Mapping[str, Sequence[str]], examples: Sequence[Example],
                lookup: Lookup | None,
                right: Callable[[str, Example], bool] = exact) -> list[JudgedItem]:
    """The verdict table of a run: its item outcomes (a, b, item, outcome in a's view), each
    with both orders' raw verdicts from the verdict store (`lookup`; None: not kept), the
    answers' lengths and, where the example has a reference, the verdict `right` implies (the
    run passes the rule of its `exact_match` metric, which checks open-answer items)."""
    requests: list[JudgeRequest] = []
    for a, b, i, _ in observations:
        ex = examples[i]
        requests += [JudgeRequest(ex.instruction, ex.input, answers[a][i], answers[b][i]),
                     JudgeRequest(ex.instruction, ex.input, answers[b][i], answers[a][i])]
    found = list(lookup(requests)) if lookup is not None and requests else [None] * len(requests)
    table = []
    for k, (a, b, i, outcome) in enumerate(observations):
        ans_a, ans_b, ref = answers[a][i], answers[b][i], examples[i].output
        table.append(JudgedItem(a, b, i, outcome, _view(found[2 * k], False),
                                _view(found[2 * k + 1], True), len(ans_a), len(ans_b),
                                None if ref is None else truth_verdict(right(ans_a, examples[i]),
                                                                       right(ans_b, examples[i]))))
    return table


@dataclass(frozen=True)
class Pick:
    """One selector's candidate with its validation loss and, where references exist, its
    truth: exact match, true rank (1 = best) and regret (best exact match minus its own)."""

    candidate_id: str
    validation_loss: float | None
    exact_match: float | None
    true_rank: int | None
    regret: float | None


@dataclass(frozen=True)
class ValLossPick:
    """The lowest-validation-loss candidate beside the judge's pick, and whether they agree."""

    val_loss: Pick
    judge: Pick
    agree: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pick(cid: str, rows: Mapping[str, Mapping[str, Any]]) -> Pick:
    row = rows.get(cid, {})
    scored = [float(r["exact_match"]) for r in rows.values() if "exact_match" in r]
    em = row.get("exact_match")
    loss = row.get("validation_loss")
    return Pick(cid, None if loss is None else float(loss), None if em is None else float(em),
                None if em is None else 1 + sum(v > em for v in scored),
                None if em is None else max(scored) - float(em))


def val_loss_pick(candidates: Sequence[Mapping[str, Any]], judge_pick: str) -> ValLossPick | None:
    """The validation-loss pick (lowest loss, ties to the lower id) beside `judge_pick`, from
    the report's candidate rows; None when no candidate has a validation loss."""
    rows = {str(r["candidate_id"]): r for r in candidates}
    losses = {c: float(r["validation_loss"]) for c, r in rows.items() if r.get("validation_loss") is not None}
    if not losses:
        return None
    best = min(sorted(losses), key=lambda c: losses[c])
    return ValLossPick(_pick(best, rows), _pick(judge_pick, rows), best == judge_pick)
