"""Contract tests as base classes (the pattern of optuna's `optuna/testing/pytest_storages.py`).

A plug-in's test module subclasses the contract of its role once per plug-in; pytest collects
the inherited `test_*` methods for each subclass.
`StrategyContract`: tournament strategies, run on `SimulatedJudge` (deterministic per seed, a
few ms): same seed, same result; no more judge calls than the strategy's own `max_calls`; the
winner heads the ranking; every candidate is ranked or accounted for as the strategy documents.
`BackendContract`: judge backends, built from their settings models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest

from hpo.testing.simulate import SimulatedJudge
from hpo.tournament.base import Hooks, Strategy, TournamentResult
from hpo.tournament.registry import STRATEGIES, make_strategy
from judge.backends import BackendInputs, BackendSettings
from judge.errors import ConfigError
from judge.registry import BACKENDS
from judge.types import JudgeBackend, JudgeRequest, Judgment, Verdict


class StrategyContract:
    """The tests every tournament strategy must pass; subclass with `name = "<strategy>"`.

    Override `hooks` for a strategy that needs the run's callbacks (`val_loss`: `losses`),
    `options` to test non-default options, and `accounted_for` when the strategy documents
    candidates it leaves out of its ranking."""

    name: ClassVar[str]
    n_candidates: ClassVar[int] = 9
    n_items: ClassVar[int] = 12
    seeds: ClassVar[tuple[int, ...]] = (0, 1, 2)

    def options(self) -> dict[str, Any]:
        """Keyword options for `make_strategy` (default: the strategy's defaults)."""
        return {}

    def hooks(self, judge: SimulatedJudge) -> Hooks:
        """The runtime hooks this strategy is built with (default: none)."""
        return Hooks()

    def accounted_for(self, result: TournamentResult, candidates: Sequence[str]) -> set[str]:
        """Candidates the strategy documents as absent from its ranking (default: none)."""
        return set()

    def judge(self, seed: int) -> SimulatedJudge:
        """A noisy simulated judge: evenly spaced qualities, position bias, ties."""
        return SimulatedJudge([0.3 * k for k in range(self.n_candidates)], self.n_items,
                              accuracy=0.85, position_bias=0.1, seed=seed)

    def play(self, seed: int) -> tuple[Strategy, SimulatedJudge, TournamentResult]:
        """A fresh strategy and judge, and the strategy's result over all candidates."""
        judge = self.judge(seed)
        strategy = make_strategy(self.name, self.hooks(judge), **self.options())
        return strategy, judge, strategy.run(judge.ids, judge, seed)

    def test_declares_its_options_and_hooks(self) -> None:
        factory = STRATEGIES.load(self.name)
        assert dataclasses.is_dataclass(factory.options_type), f"{self.name}: options_type"
        params = getattr(factory.options_type, "__dataclass_params__", None)
        assert params is not None and params.frozen, f"{self.name}: options not frozen"
        hook_names = {f.name for f in dataclasses.fields(Hooks)}
        assert set(factory.hooks) <= hook_names, f"{self.name}: unknown hooks {factory.hooks}"

    def test_is_a_strategy_named_as_registered(self) -> None:
        strategy, _, result = self.play(0)
        assert isinstance(strategy, Strategy)
        assert strategy.name == result.strategy == self.name

    def test_same_seed_same_result(self) -> None:
        for seed in self.seeds:
            first, second = self.play(seed)[2], self.play(seed)[2]
            assert (first.winner, first.ranking, first.calls, first.scores) == \
                (second.winner, second.ranking, second.calls, second.scores), seed
            assert played(first) == played(second), seed

    def test_calls_within_max_calls(self) -> None:
        for seed in self.seeds:
            strategy, judge, result = self.play(seed)
            bound = strategy.max_calls(self.n_candidates, self.n_items)
            assert judge.calls <= bound, (seed, judge.calls, bound)
            assert result.calls == judge.calls, (seed, result.calls, judge.calls)

    def test_winner_heads_the_ranking(self) -> None:
        for seed in self.seeds:
            result = self.play(seed)[2]
            assert result.winner in result.ranking and result.ranking[0] == result.winner, seed

    def test_every_candidate_ranked_or_accounted_for(self) -> None:
        for seed in self.seeds:
            _, judge, result = self.play(seed)
            assert len(set(result.ranking)) == len(result.ranking), f"duplicates: {result.ranking}"
            assert set(result.ranking) <= set(judge.ids), f"unknown ids: {result.ranking}"
            missing = set(judge.ids) - set(result.ranking) - self.accounted_for(result, judge.ids)
            assert not missing, f"{self.name} leaves out {sorted(missing)} (seed {seed})"


def played(result: TournamentResult) -> list[tuple[Any, ...]]:
    """The matches as played, without each match's own `calls`: matches played at once
    (`pipeline`, blocked's `order="training"`) share the judge's counter, so that split
    varies run to run (base.py: play_independent); the total `result.calls` is exact."""
    return [(m.a, m.b, m.wins, m.losses, m.ties, m.invalid, m.winner, m.items_judged,
             m.items_total, m.stage) for m in result.matches]


class BackendContract:
    """What every judge backend promises, as tests a backend gets by subclassing.

    A subclass names the backend (`backend_name`) and gives its settings, the run's inputs
    and a batch of requests; the backend is built the way a run builds it (the registry, from
    its settings model), once per class. `secrets` are texts (an API key the subclass put in
    the environment) that must never show in the backend's identity or repr. A backend whose
    verdicts may differ between calls sets `deterministic = False`, which skips the tests
    that compare two calls."""

    backend_name: ClassVar[str]
    deterministic: ClassVar[bool] = True
    secrets: ClassVar[tuple[str, ...]] = ()

    def settings(self) -> BackendSettings:
        raise NotImplementedError

    def inputs(self) -> BackendInputs:
        return BackendInputs()

    def requests(self) -> list[JudgeRequest]:
        raise NotImplementedError

    def build(self) -> JudgeBackend:
        return BACKENDS.build(self.backend_name, self.settings(), self.inputs())

    @pytest.fixture(scope="class")
    def backend(self) -> Iterator[JudgeBackend]:
        built = self.build()
        try:
            yield built
        finally:
            built.close()

    def test_the_registry_names_its_settings_model(self) -> None:
        assert BACKENDS.settings_model(self.backend_name) is type(self.settings())

    def test_one_verdict_per_request_in_order(self, backend: JudgeBackend) -> None:
        requests = self.requests()
        assert len(requests) >= 2, "give at least two requests"
        judged = backend.judge(requests)
        assert len(judged) == len(requests) and all(isinstance(j, Judgment) for j in judged)
        if self.deterministic:  # batched as one by one: each verdict is its own request's
            alone = [backend.judge([r])[0] for r in requests]
            assert [(j.verdict, j.raw) for j in judged] == [(j.verdict, j.raw) for j in alone]

    def test_a_verdict_is_1_2_tie_or_reported_invalid(self, backend: JudgeBackend) -> None:
        for judgment in backend.judge(self.requests()):
            assert judgment.verdict in set(Verdict)
            if judgment.verdict is Verdict.INVALID:  # reported with what the judge said, never a tie
                assert judgment.raw, judgment

    def test_same_input_same_verdict(self, backend: JudgeBackend) -> None:
        if not self.deterministic:
            pytest.skip(f"{self.backend_name} is not deterministic")
        first = [j.verdict for j in backend.judge(self.requests())]
        assert [j.verdict for j in backend.judge(self.requests())] == first

    def test_identity_names_the_judge_without_secrets(self, backend: JudgeBackend) -> None:
        assert isinstance(backend, JudgeBackend)
        assert isinstance(backend.identity, str) and backend.identity
        assert "http" not in backend.identity  # a store key never holds a server's address
        for text in (backend.identity, repr(backend)):
            assert not any(secret in text for secret in self.secrets), text

    def test_an_empty_batch_and_a_second_close(self) -> None:
        backend = self.build()
        assert backend.judge([]) == []
        backend.close()
        backend.close()

    def test_an_unknown_option_fails_naming_it(self) -> None:
        options = {**self.settings().model_dump(), "no_such_option": 1}
        with pytest.raises(ConfigError, match=f"'no_such_option' is not an option of judge backend "
                                              f"'{self.backend_name}'; valid: "):
            BACKENDS.parse_settings(self.backend_name, options)
