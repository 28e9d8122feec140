"""benchmarks/bench_premise.py replays a run's own tournament on its stored answers: the same
strategy options and the candidates in the run's order. The strategies shuffle the list they
are given, so with a judge that ties everything (a judge blind to the task) the pick is the
tie-break and depends on that order; a replay over sorted ids played other blocks and picked
another candidate than the run it claimed to replay."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.bench_premise import run_order, run_strategies
from hpo.config.schema import load_config
from hpo.run.judge import make_strategy
from hpo.tournament.base import ItemOutcome

N_ITEMS = 4


class TieJudge:
    """A judge that cannot tell any two answers apart (every item a tie)."""

    def __init__(self) -> None:
        self.calls = 0

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        self.calls += 2 * len(items)
        return [0 for _ in items]

    @property
    def n_items(self) -> int:
        return N_ITEMS


def plan_order() -> list[str]:
    """40 ids in a plan-like order (grouped by training, not sorted)."""
    return [f"{opt}-lr{lr}-{sch}-ep{e}" for opt in ("sgd", "adamw") for lr in ("1e-04", "1e-03")
            for sch in ("cosine", "linear") for e in range(1, 6)]


def test_run_order_keeps_the_plan_order_without_baseline_or_missing() -> None:
    plan = plan_order()
    report = {"candidates": [{"candidate_id": c} for c in [*plan, "baseline-x"]]}
    available = set(plan) - {plan[3]} | {"baseline-x"}
    assert run_order(report, available, "baseline-x") == [c for c in plan if c != plan[3]]


def test_the_replay_picks_what_the_run_picked_with_a_blind_judge() -> None:
    cfg = load_config(None, {"tournament.seed": 3})
    plan = plan_order()
    report = {"candidates": [{"candidate_id": c} for c in plan]}
    run_winner = make_strategy(cfg).run(plan, TieJudge(), 3).winner
    replayed = run_strategies(cfg)["blocked"].run(run_order(report, set(plan), None), TieJudge(), 3).winner
    assert replayed == run_winner
    # the order matters here: sorted ids (what the benchmark used to pass) play other blocks
    assert make_strategy(cfg).run(sorted(plan), TieJudge(), 3).winner != run_winner
