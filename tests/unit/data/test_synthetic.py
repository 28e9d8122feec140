"""The synthetic suite: deterministic, disjoint splits, exact answers per family, scoring."""

from __future__ import annotations

import pytest

from hpo.data import synthetic
from hpo.errors import ConfigError
from hpo.types import Example

TASKS = ["reverse", "uppercase", "add", "sort", "count"]


def test_same_seed_same_examples_and_other_seed_differs() -> None:
    a = synthetic.generate(TASKS, 200, 50, seed=3)
    b = synthetic.generate(TASKS, 200, 50, seed=3)
    c = synthetic.generate(TASKS, 200, 50, seed=4)
    assert a == b
    assert a[0] != c[0]


def test_train_and_validation_are_disjoint_and_ids_unique() -> None:
    train, val = synthetic.generate(TASKS, 3000, 300, seed=0)
    train_keys = {(e.instruction, e.input) for e in train}
    assert not train_keys & {(e.instruction, e.input) for e in val}
    assert len({(e.instruction, e.input) for e in val}) == 300
    ids = [e.id for e in train + val]
    assert len(set(ids)) == len(ids)


def _check(e: Example) -> None:
    task = e.meta["task"]
    if task == "reverse":
        assert e.output == e.input[::-1]
    elif task == "uppercase":
        assert e.output == e.input.upper()
    elif task == "add":
        a, b = map(int, e.input.split())
        assert e.output == str(a + b)
    elif task == "sort":
        assert e.output == "".join(sorted(e.input))
    else:
        letter = e.instruction.split("'")[1]
        assert e.output == str(e.input.count(letter))


def test_every_family_has_exact_answers_and_short_inputs() -> None:
    train, val = synthetic.generate(TASKS, 500, 100, seed=1)
    for e in train + val:
        _check(e)
        if e.meta["task"] != "add":
            assert 3 <= len(e.input) <= 6 and set(e.input) <= set(synthetic.ALPHABET)
    assert {e.meta["task"] for e in val} == set(TASKS)
    assert sum(e.meta["task"] == "sort" for e in val) == 20  # families are balanced


def test_task_subset_and_unknown_task() -> None:
    train, _ = synthetic.generate(["add"], 10, 5, seed=0)
    assert {e.meta["task"] for e in train} == {"add"}
    with pytest.raises(ConfigError, match="unknown synthetic task.*'multiply'"):
        synthetic.generate(["reverse", "multiply"], 10, 5, seed=0)


def test_exact_match_and_per_task_accuracy() -> None:
    exs = [Example("Reverse the string.", "abc", "cba", "1", {"task": "reverse"}),
           Example("Add the numbers.", "1 2", "3", "2", {"task": "add"}),
           Example("Add the numbers.", "2 2", "4", "3", {"task": "add"}),
           Example("Free text", "", None, "4")]
    preds = [" cba\n", "3", "5", "anything"]
    assert synthetic.exact_match(preds, exs) == pytest.approx(2 / 3)  # the unscored item is skipped
    assert synthetic.per_task_accuracy(preds, exs) == {"add": 0.5, "reverse": 1.0}
    with pytest.raises(ValueError):
        synthetic.exact_match(["x"], exs)
