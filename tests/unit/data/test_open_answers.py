"""Open-answer families: many correct answers, one stored reference, a checker decides."""

from __future__ import annotations

import pytest

from hpo.data import synthetic
from hpo.tournament.audit import JudgedItem, build_table
from hpo.types import Example

OPEN = ["any_order", "any_letter", "any_number"]


def test_open_families_generate_with_a_reference_the_checker_accepts() -> None:
    train, val = synthetic.generate(OPEN, 300, 60, seed=0)
    assert {e.meta["task"] for e in val} == set(OPEN)
    assert all(synthetic.is_correct(e.output or "", e) for e in train + val)
    assert "any_order" not in synthetic.TASKS  # the judge's training pairs stay as they were


@pytest.mark.parametrize(("instruction", "inp", "answer", "right"), [
    ("Give the letters of the string in any order.", "abca", "aabc", True),
    ("Give the letters of the string in any order.", "abca", "abca", True),
    ("Give the letters of the string in any order.", "abca", "abc", False),
    ("Name a letter that occurs in the string.", "abca", "c", True),
    ("Name a letter that occurs in the string.", "abca", "d", False),
    ("Name a letter that occurs in the string.", "abca", "ab", False),
    ("Write a number from the first to the second.", "12 17", "17", True),
    ("Write a number from the first to the second.", "12 17", "18", False),
    ("Write a number from the first to the second.", "12 17", "x", False),
    ("Reverse the string.", "abc", " cba ", True),  # closed families: exact match, as before
    ("Reverse the string.", "abc", "abc", False),
])
def test_checker_decides_correctness(instruction: str, inp: str, answer: str, right: bool) -> None:
    ex = Example(instruction, inp, "cba" if instruction.startswith("Reverse") else "stored-reference")
    assert synthetic.is_correct(answer, ex) is right


def test_metric_and_judge_audit_use_the_checker_not_the_stored_reference() -> None:
    ex = Example("Give the letters of the string in any order.", "abc", "bca", meta={"task": "any_order"})
    assert synthetic.exact_match(["cab"], [ex]) == 1.0  # right, though not the stored reference
    assert synthetic.per_task_accuracy(["ab"], [ex]) == {"any_order": 0.0}
    table = build_table([("A", "B", 0, 0)], {"A": ["abc"], "B": ["xyz"]}, [ex], None,
                        right=synthetic.is_correct)
    assert table == [JudgedItem("A", "B", 0, 0, None, None, 3, 3, 1)]
