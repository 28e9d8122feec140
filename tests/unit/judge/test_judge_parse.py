"""Parsing PandaLM's evaluation text: the reference's first-line rule, INVALID instead of tie."""

from __future__ import annotations

import pytest

from judge.parse import parse_judgment
from judge.types import Verdict


@pytest.mark.parametrize(("text", "verdict"), [
    ("1", Verdict.RESPONSE1),
    ("2", Verdict.RESPONSE2),
    ("Tie", Verdict.TIE),
    ("tie", Verdict.TIE),
    ("TIE\n\n### Reason: same", Verdict.TIE),
    ("\n  2\n\n### Reason: x", Verdict.RESPONSE2),
    ("<s>1</s>", Verdict.RESPONSE1),
    ("1 \r\nrest", Verdict.RESPONSE1),
    ("Tie.", Verdict.INVALID),
    ("Response 1", Verdict.INVALID),
    ("12", Verdict.INVALID),
    ("3", Verdict.INVALID),
    ("0", Verdict.INVALID),
    ("1.", Verdict.INVALID),
    ("", Verdict.INVALID),
    ("   \n\n", Verdict.INVALID),
    ("</s>", Verdict.INVALID),
    ("garbage\n1", Verdict.INVALID),
])
def test_verdicts(text: str, verdict: Verdict) -> None:
    assert parse_judgment(text).verdict is verdict


def test_reason_and_reference_sections() -> None:
    text = "2\n\n### Reason: Response 2 is shorter.\nAnd clear.\n\n### Reference: Hi there.\n</s>"
    got = parse_judgment(text)
    assert got.verdict is Verdict.RESPONSE2
    assert got.reason == "Response 2 is shorter.\nAnd clear."
    assert got.reference == "Hi there."
    assert got.raw == text


def test_missing_sections_are_empty() -> None:
    got = parse_judgment("1\n\n### Reference: only ref")
    assert (got.reason, got.reference) == ("", "only ref")
    assert parse_judgment("Tie").reason == ""


def test_invalid_keeps_raw_text() -> None:
    got = parse_judgment("I think both are fine.")
    assert got.verdict is Verdict.INVALID and got.raw == "I think both are fine."
