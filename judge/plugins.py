"""A tiny lazy plug-in registry: name -> "module:attribute", imported on first use.

Each pluggable role (judge backends, tournament strategies, searchers, trackers) owns one
`Registry`. Imports are lazy so that choosing `reference` never imports vLLM, and a missing
optional dependency is reported with the pip command that fixes it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from judge.errors import ConfigError, MissingDependencyError


class Registry:
    """Maps plug-in names to lazily imported factories."""

    def __init__(self, role: str, entries: Mapping[str, str], extras: Mapping[str, str] | None = None):
        self.role = role
        self._entries = dict(entries)
        self._extras = dict(extras or {})

    def names(self) -> list[str]:
        return sorted(self._entries)

    def validate(self, name: str) -> str:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.role} '{name}'; valid: {', '.join(self.names())}")
        return name

    def load(self, name: str) -> Any:
        """Return the factory registered under `name` (imports its module now)."""
        target = self._entries[self.validate(name)]
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if missing and not missing.startswith(("hpo", "judge")):
                raise MissingDependencyError(missing, self._extras.get(name), f"{self.role} '{name}'") from exc
            raise
        return getattr(module, attr)

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.load(name)(*args, **kwargs)
