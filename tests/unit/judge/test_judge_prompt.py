"""The judge prompt must be byte-identical to PandaLM's `build_pandalm_prompt`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judge.prompt import build_prompt, build_training_target, strip_special_tokens

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "pandalm"

# Independent re-statement of the reference template, from pandalm/utils/pandalm_inference.py.
HEAD_WITH_INPUT = (
    "Below are two responses for a given task. The task is defined by the Instruction with an "
    "Input that provides further context. Evaluate the responses and generate a reference "
    "answer for the task.\n\n### Instruction:\n"
)
HEAD_NO_INPUT = (
    "Below are two responses for a given task. The task is defined by the Instruction. Evaluate "
    "the responses and generate a reference answer for the task.\n\n### Instruction:\n"
)
TOKENS = ["<unk>", "<pad>", "<s>", "</s>", "[PAD]", "<|endoftext|>", "[UNK]", "[CLS]", "[MASK]",
          "<|startofpiece|>", "<|endofpiece|>", "[gMASK]", "[sMASK]"]


def expected_clean(text: object) -> str:
    out = str(text).strip()
    for tok in TOKENS:
        out = out.replace(tok, "")
    return out.strip()


def expected_prompt(instruction: str, inp: str, r1: object, r2: object) -> str:
    body = ("### Response 1:\n" + expected_clean(r1) + "\n\n### Response 2:\n" + expected_clean(r2)
            + "\n\n### Evaluation:\n")
    if inp:
        return HEAD_WITH_INPUT + instruction + "\n\n### Input:\n" + inp + "\n\n" + body
    return HEAD_NO_INPUT + instruction + "\n\n" + body


def test_golden_with_input() -> None:
    got = build_prompt("Translate.", "Bonjour", " Hello</s>", "Hi")
    assert got == (
        "Below are two responses for a given task. The task is defined by the Instruction with an "
        "Input that provides further context. Evaluate the responses and generate a reference "
        "answer for the task.\n\n### Instruction:\nTranslate.\n\n### Input:\nBonjour\n\n"
        "### Response 1:\nHello\n\n### Response 2:\nHi\n\n### Evaluation:\n")


def test_golden_no_input() -> None:
    got = build_prompt("Say hi.", "", "hi", "<s>hello")
    assert got == (
        "Below are two responses for a given task. The task is defined by the Instruction. "
        "Evaluate the responses and generate a reference answer for the task.\n\n"
        "### Instruction:\nSay hi.\n\n### Response 1:\nhi\n\n### Response 2:\nhello\n\n"
        "### Evaluation:\n")


def test_instruction_and_input_are_not_cleaned() -> None:
    got = build_prompt(" do <s> it ", " x ", "a", "b")
    assert "### Instruction:\n do <s> it \n\n### Input:\n x \n\n" in got


@pytest.mark.parametrize(("raw", "clean"), [
    ("  <s>Hello</s>  ", "Hello"),
    (" <s> hi ", "hi"),
    ("[PAD][PAD]ok", "ok"),
    ("a<|endoftext|>b", "ab"),
    ("x [gMASK][sMASK][CLS][MASK][UNK]<unk><pad>", "x"),
    ("<|startofpiece|>p<|endofpiece|>", "p"),
    ("<S> and <pad >", "<S> and <pad >"),  # case- and spelling-exact, like the reference
    ("<unk>", ""),
    ("line1\n\nline2\n", "line1\n\nline2"),
])
def test_strip_special_tokens(raw: str, clean: str) -> None:
    assert strip_special_tokens(raw) == clean


def test_boolean_responses_are_coerced_like_python_str() -> None:
    got = build_prompt("Is it?", "", True, False)  # type: ignore[arg-type]
    assert "### Response 1:\nTrue\n\n### Response 2:\nFalse\n\n" in got


def test_training_target() -> None:
    assert build_training_target("2", "Shorter.", "Hi.") == "2\n\n### Reason: Shorter.\n\n### Reference: Hi.\n"


def test_every_testset_item_matches_reference_template() -> None:
    path = DATA / "testset-v1.json"
    if not path.exists():
        pytest.skip("PandaLM test set not present")
    items = json.loads(path.read_text(encoding="utf-8"))
    assert len(items) == 999
    with_input = 0
    for it in items:
        got = build_prompt(it["instruction"], it["input"], it["response1"], it["response2"])
        assert got == expected_prompt(it["instruction"], it["input"], it["response1"], it["response2"])
        with_input += bool(it["input"])
    assert 0 < with_input < len(items)  # both variants were exercised
