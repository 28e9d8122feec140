"""Judge backends by name. Imports are lazy: choosing `reference` never imports vLLM."""

from __future__ import annotations

from judge.plugins import Registry

BACKENDS = Registry(
    "judge backend",
    {
        "vllm": "judge.backends.vllm:VLLMJudge",
        "hf": "judge.backends.hf:HFJudge",
        "reference": "judge.backends.reference:ReferenceJudge",
    },
    extras={},
)
