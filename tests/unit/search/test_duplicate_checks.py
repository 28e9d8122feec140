"""Duplicate-id checks are linear: a large space or data file is checked in well under a second.

On 40,000 ids a check that counts each id in the whole list (quadratic) takes tens of seconds;
a linear one takes milliseconds. The bound (2 s) is generous for linear, far below quadratic.
"""

from __future__ import annotations

import time

import pytest

from hpo.config.schema import DataConfig
from hpo.data.loaders import load_examples
from hpo.errors import ConfigError
from hpo.search.space import SearchSpace
from hpo.types import TrainingSpec

N = 40_000
BOUND_S = 2.0


def test_search_space_duplicate_check_is_linear() -> None:
    specs = [TrainingSpec("adamw", 1e-5, "cosine", 1, tag=f"t{i}") for i in range(N)]
    started = time.perf_counter()
    space = SearchSpace(specs, [1])
    assert time.perf_counter() - started < BOUND_S
    assert len(space.candidates()) == N


def test_search_space_names_its_duplicates() -> None:
    specs = [TrainingSpec("adamw", 1e-5, "cosine", 1, tag=f"t{i % 3}") for i in range(5)]
    with pytest.raises(ConfigError, match="duplicate candidate ids: t0-adamw-lr1e-05-cosine-ep1, "
                                          "t1-adamw-lr1e-05-cosine-ep1"):
        SearchSpace(specs, [1])


def test_data_duplicate_id_check_is_linear(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = [f'{{"id": {i}, "instruction": "i{i}", "output": "o"}}' for i in range(N)]
    rows.append(rows[-1])  # the only duplicate is the last pair: every earlier id is counted
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(rows) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=f"duplicate example id '{N - 1}'"):
        load_examples(str(path), DataConfig(), "train")
    assert time.perf_counter() - started < BOUND_S
