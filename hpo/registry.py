"""Lazy plug-in registries for `hpo`'s roles: the `Registry` of `judge.plugins`, the layer below."""

from __future__ import annotations

from judge.plugins import Registry

__all__ = ["Registry"]
