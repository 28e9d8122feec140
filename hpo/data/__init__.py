"""Instruction data: loaders for every supported source, the synthetic suite, and the prompt template.

The prompt template is the Alpaca one (with and without input). It lives here, beside the data,
because every role that turns an `Example` into model text (tokenizer training, training,
generation) must use exactly the same text.
"""

from __future__ import annotations

from hpo.data.loaders import load_examples, read_jsonl, write_jsonl
from hpo.data.synthetic import exact_match, per_task_accuracy
from hpo.types import Example

PREAMBLE_INPUT = ("Below is an instruction that describes a task, paired with an input that provides "
                  "further context. Write a response that appropriately completes the request.")
PREAMBLE_NO_INPUT = ("Below is an instruction that describes a task. "
                     "Write a response that appropriately completes the request.")
INSTRUCTION_HEADER = "\n\n### Instruction:\n"
INPUT_HEADER = "\n\n### Input:\n"
RESPONSE_HEADER = "\n\n### Response:\n"
# Fixed pieces of the template; the tiny tokenizer makes each one a single special token.
PROMPT_PIECES = (PREAMBLE_INPUT, PREAMBLE_NO_INPUT, INSTRUCTION_HEADER, INPUT_HEADER, RESPONSE_HEADER)


def format_prompt(example: Example) -> str:
    """The Alpaca prompt for `example`, ending right where the response starts."""
    if example.input:
        return (PREAMBLE_INPUT + INSTRUCTION_HEADER + example.instruction + INPUT_HEADER
                + example.input + RESPONSE_HEADER)
    return PREAMBLE_NO_INPUT + INSTRUCTION_HEADER + example.instruction + RESPONSE_HEADER


__all__ = ["PROMPT_PIECES", "exact_match", "format_prompt", "load_examples", "per_task_accuracy",
           "read_jsonl", "write_jsonl"]
