"""The PandaLM judge prompt, byte-identical to the reference implementation.

Reference: WeOpenML/PandaLM, `pandalm/utils/pandalm_inference.py`,
`PandaLMBatchInferenceProvider.build_pandalm_prompt` and `filter_special_token`.
PandaLM-7B was fine-tuned on exactly this text, so any drift (a space, a newline) changes
its verdicts. Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import re
from typing import Any

# The reference's `self.pattern`, verbatim: special tokens of LLaMA, GPT-2, BERT and GLM.
SPECIAL_TOKENS = re.compile(
    r"<unk>|<pad>|<s>|</s>|\[PAD\]|<\|endoftext\|>|\[UNK\]|\[CLS\]|\[MASK\]"
    r"|<\|startofpiece\|>|<\|endofpiece\|>|\[gMASK\]|\[sMASK\]"
)

_PREAMBLE_WITH_INPUT = (
    "Below are two responses for a given task. The task is defined by the Instruction with an "
    "Input that provides further context. Evaluate the responses and generate a reference "
    "answer for the task.\n\n"
)
_PREAMBLE_NO_INPUT = (
    "Below are two responses for a given task. The task is defined by the Instruction. "
    "Evaluate the responses and generate a reference answer for the task.\n\n"
)


def as_text(value: Any) -> str:
    """Coerce a field to text the way reference Python would print it (`True` -> "True").

    A few PandaLM test-set responses are JSON booleans; `None` (a missing input) becomes "".
    """
    return "" if value is None else value if isinstance(value, str) else str(value)


def strip_special_tokens(text: str) -> str:
    """Strip whitespace, remove special tokens, strip again (reference `filter_special_token`)."""
    return SPECIAL_TOKENS.sub("", as_text(text).strip()).strip()


def build_prompt(instruction: str, input: str, response1: str, response2: str) -> str:
    """The PandaLM prompt for one single-order comparison, ending in "### Evaluation:\\n".

    Like the reference, only the responses are cleaned; instruction and input are used as
    given, and an empty input selects the no-Input preamble.
    """
    resp1, resp2 = strip_special_tokens(response1), strip_special_tokens(response2)
    instruction, input = as_text(instruction), as_text(input)
    rsp = f"### Response 1:\n{resp1}\n\n### Response 2:\n{resp2}"
    if input:
        head = f"{_PREAMBLE_WITH_INPUT}### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n"
    else:
        head = f"{_PREAMBLE_NO_INPUT}### Instruction:\n{instruction}\n\n"
    return f"{head}{rsp}\n\n### Evaluation:\n"


def build_training_target(result: str, reason: str, reference: str) -> str:
    """The reference's training output sequence: verdict, then reason and reference answer."""
    return f"{result}\n\n### Reason: {reason}\n\n### Reference: {reference}\n"
