"""Round robin, knockout, the robust strategies' budgets, the registry, and the adapters."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hpo.errors import ConfigError
from hpo.testing.simulate import SimulatedJudge
from hpo.tournament.base import Strategy
from hpo.tournament.comparator import AnswerMatchJudge
from hpo.tournament.ranking import bradley_terry
from hpo.tournament.registry import STRATEGIES, make_strategy, option_names
from hpo.tournament.strategies.blocked import worst_case_calls
from hpo.tournament.strategies.knockout import bracket_order
from hpo.types import Example
from judge.types import ComparisonItem


def sim(n: int, items: int = 30, seed: int = 0, temperature: float = 1.0) -> SimulatedJudge:
    return SimulatedJudge([0.25 * i for i in range(n)], items, accuracy=0.85,
                          position_bias=0.1, seed=seed, temperature=temperature)


def test_round_robin_plays_every_pair_once() -> None:
    judge = sim(7)
    result = make_strategy("round_robin").run(judge.ids, judge, seed=3)
    pairs = {frozenset((m.a, m.b)) for m in result.matches}
    assert len(result.matches) == len(pairs) == 7 * 6 // 2
    assert result.scores[result.winner] == max(result.scores.values())
    assert sum(result.scores.values()) == 21


def test_knockout_with_byes_for_five() -> None:
    judge = sim(5)
    result = make_strategy("knockout").run(judge.ids, judge, seed=0)
    assert len(result.matches) == 4  # N - 1 matches whatever the byes
    assert [m.stage for m in result.matches] == ["round 1", "round 2", "round 2", "round 3"]
    assert result.matches[-1].winner == result.winner
    assert bracket_order(8) == [1, 8, 4, 5, 2, 7, 3, 6]


@pytest.mark.parametrize("name", ["blocked", "round_robin", "knockout", "playoff", "halving",
                                  "racing"])
def test_ranking_is_a_permutation_with_the_winner_first(name: str) -> None:
    judge = sim(11, seed=2)
    strategy = make_strategy(name, **({"blocks": 3} if "blocks" in option_names(name) else {}))
    assert isinstance(strategy, Strategy) and strategy.name == name
    result = strategy.run(judge.ids, judge, seed=5)
    assert result.ranking[0] == result.winner
    assert sorted(result.ranking) == sorted(judge.ids)
    assert result.calls == judge.calls
    assert strategy.run(judge.ids, sim(11, seed=2), seed=5).winner == result.winner  # deterministic


@pytest.mark.parametrize("name", ["playoff", "halving", "racing"])
@pytest.mark.parametrize(("temperature", "seed"), [(0.1, 0), (1.0, 1), (3.0, 2), (3.0, 3)])
def test_robust_strategies_stay_within_blocked_budget(name: str, temperature: float, seed: int) -> None:
    judge = sim(24, items=20, seed=seed, temperature=temperature)
    result = make_strategy(name).run(judge.ids, judge, seed=seed)
    assert result.calls <= worst_case_calls(24, 20)
    small = sim(24, items=20, seed=seed, temperature=temperature)
    if name in ("halving", "racing"):
        assert make_strategy(name, budget=500).run(small.ids, small, seed=seed).calls <= 500
    else:  # playoff's blocked first stage alone may cost the worst case
        with pytest.raises(ConfigError, match="below blocked's worst case"):
            make_strategy(name, budget=500).run(small.ids, small, seed=seed)


def test_unknown_strategy_or_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="beat_the_mean, blocked, dts, halving, knockout, playoff, racing, round_robin, rucb, val_loss"):
        make_strategy("swizz")
    with pytest.raises(ConfigError, match="'blocked' takes no option 'colour'; its options: early_decision"):
        make_strategy("blocked", colour="red")
    with pytest.raises(ConfigError, match="'knockout' takes no option 'blocks'"):
        make_strategy("knockout", blocks=3)
    with pytest.raises(ConfigError):
        make_strategy("halving", budget="lots")
    assert STRATEGIES.names() == ["beat_the_mean", "blocked", "dts", "halving", "knockout",
                                "playoff", "racing", "round_robin", "rucb", "val_loss"]


def test_racing_records_its_matches_and_spends_on_the_contenders() -> None:
    judge = sim(24, items=20, seed=4, temperature=1.0)
    result = make_strategy("racing", contenders=6).run(judge.ids, judge, seed=4)
    assert result.calls == sum(m.calls for m in result.matches) == worst_case_calls(24, 20)
    race = [m for m in result.matches if m.stage.startswith("race")]
    assert race and all(m.items_judged == m.items_total for m in race)  # no early decision
    assert {p for m in race for p in (m.a, m.b)} >= {result.winner}
    assert sorted(result.ranking) == sorted(judge.ids) and set(result.scores) == set(judge.ids)
    again = make_strategy("racing", contenders=6).run(judge.ids, sim(24, 20, 4, 1.0), seed=4)
    assert again.ranking == result.ranking and len(again.matches) == len(result.matches)
    with pytest.raises(ConfigError, match="racing needs"):
        make_strategy("racing", width=0)


def test_racing_finds_a_clear_best_at_low_noise() -> None:
    judge = sim(30, items=40, seed=1, temperature=0.1)
    assert make_strategy("racing").run(judge.ids, judge, seed=1).winner == judge.true_best


def test_simulated_judge_is_deterministic_and_counts_first_asks_only() -> None:
    judge = sim(4, items=12)
    first = judge.judge("c00", "c03", range(12))
    assert judge.calls == 24
    assert judge.judge("c03", "c00", range(12)) == [None if v is None else -v for v in first]
    assert judge.calls == 24
    assert sim(4, items=12).judge("c00", "c03", range(12)) == first
    assert judge.true_best == "c03"


def test_simulated_judge_invalid_rate_and_noise_free_limit() -> None:
    judge = SimulatedJudge([0.0, 1.0], 200, accuracy=1.0, seed=0, temperature=0.0,
                           invalid_rate=0.2)
    out = judge.judge("c01", "c00", range(200))
    assert 0 < out.count(None) < 100
    assert set(out) == {1, None}  # a perfect judge on a noise-free gap: c01 wins every valid item


def test_bradley_terry_orders_by_item_wins() -> None:
    counts = {("a", "b"): (30, 10, 5, 0), ("b", "c"): (30, 10, 0, 1), ("a", "c"): (35, 5, 0, 0)}
    strength = bradley_terry(counts, ["a", "b", "c", "d"])
    assert strength["a"] > strength["b"] > strength["c"]
    assert strength["d"] == 0.0  # never judged: the prior keeps it at the average player


class FakePairwise:
    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[ComparisonItem] = []

    def compare(self, items: Sequence[ComparisonItem], pair: tuple[str, str] | None = None) -> list[int | None]:
        self.seen += list(items)
        self.calls += 2 * len(items)
        return [1 if len(i.answer_a) > len(i.answer_b) else -1 for i in items]


def test_answer_match_judge_builds_items_and_mirrors_calls() -> None:
    examples = [Example("say hi", "", id="v0"), Example("add", "1+1", id="v1")]
    pairwise = FakePairwise()
    judge = AnswerMatchJudge({"x": ["hello", "2"], "y": ["hi", "22"]}, examples, pairwise)
    assert judge.n_items == 2
    assert judge.judge("x", "y", [1, 0]) == [-1, 1]
    assert pairwise.seen == [ComparisonItem("add", "1+1", "2", "22"),
                             ComparisonItem("say hi", "", "hello", "hi")]
    assert judge.calls == 4
    short = AnswerMatchJudge({"x": ["a", "b"], "y": ["a"]}, examples, pairwise)
    with pytest.raises(ConfigError, match="'y' has 1 answers"):
        short.judge("x", "y", [0])
    with pytest.raises(KeyError):
        judge.judge("x", "nobody", [0])
    assert judge.calls == 4  # nothing was sent for the failed lookups
