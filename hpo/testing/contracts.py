"""Contract tests as base classes (the pattern of optuna's `optuna/testing/pytest_storages.py`).

A plug-in's test module subclasses the contract of its role once per plug-in; pytest collects
the inherited `test_*` methods for each subclass. `BackendContract`: judge backends, built from
their settings models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from judge.backends import BackendInputs, BackendSettings
from judge.errors import ConfigError
from judge.registry import BACKENDS
from judge.types import JudgeBackend, JudgeRequest, Judgment, Verdict


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
