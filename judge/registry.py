"""Judge backends by name, each with its settings model. Imports are lazy: choosing
`reference` never imports vLLM's client, and reading an `hf` config never imports torch.

Adding a backend: its module (the backend with a `from_settings` classmethod, and its
`BackendSettings` model) and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from judge.backends import BackendInputs, BackendSettings
from judge.errors import ConfigError
from judge.plugins import Registry
from judge.types import JudgeBackend


class BackendRegistry(Registry):
    """name -> (backend class, settings model), both "module:attribute" imported on first use."""

    def __init__(self, entries: Mapping[str, tuple[str, str]], extras: Mapping[str, str] | None = None):
        super().__init__("judge backend", {name: backend for name, (backend, _) in entries.items()}, extras)
        self._settings = Registry("judge backend", {name: model for name, (_, model) in entries.items()}, extras)

    def settings_model(self, name: str) -> type[BackendSettings]:
        """The options `name` takes, as a pydantic model (validates the name first)."""
        return cast(type[BackendSettings], self._settings.load(name))

    def parse_settings(self, name: str, options: Mapping[str, Any]) -> BackendSettings:
        """`options` as `name`'s settings; an option it does not take is a one-line ConfigError
        naming it, the backend and the options it takes."""
        model = self.settings_model(name)
        unknown = sorted(set(options) - set(model.model_fields))
        if unknown:
            raise ConfigError(f"'{unknown[0]}' is not an option of judge backend '{name}';"
                              f" valid: {', '.join(model.model_fields) or '(none)'}")
        return model.model_validate(dict(options))

    def build(self, name: str, settings: BackendSettings, inputs: BackendInputs) -> JudgeBackend:
        """The backend `name` built from its settings and the run's inputs."""
        model = self.settings_model(name)
        if not isinstance(settings, model):
            raise ConfigError(f"judge backend '{name}' takes {model.__name__}, got {type(settings).__name__}")
        return cast(JudgeBackend, self.load(name).from_settings(settings, inputs))


BACKENDS = BackendRegistry({
    "vllm": ("judge.backends.vllm:VLLMJudge", "judge.backends.vllm:VllmSettings"),
    "hf": ("judge.backends.hf:HFJudge", "judge.backends.hf_settings:HfSettings"),
    "reference": ("judge.backends.reference:ReferenceJudge", "judge.backends.reference:ReferenceSettings"),
})
