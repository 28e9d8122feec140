"""Crash-safe file writes for `hpo`: the implementation lives in `judge.atomic`, the layer below."""

from __future__ import annotations

from judge.atomic import atomic_write_json, atomic_write_text, storage_error

__all__ = ["atomic_write_json", "atomic_write_text", "storage_error"]
