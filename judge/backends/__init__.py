"""Judge backends: one module per implementation of `judge.types.JudgeBackend`.

- `vllm`: HTTP client for a vLLM OpenAI-compatible server (the fast path for real judges).
- `hf`: in-process transformers, batched greedy generation (no server needed).
- `reference`: exact match + embedding similarity against known reference answers.

Modules are imported lazily by `judge.registry`, so choosing one never imports another's
heavy dependencies. This package only holds the few helpers the generative backends share.
"""

from __future__ import annotations

from judge.errors import ConfigError

MODES = ("verdict", "full")
# Verdict-only: PandaLM answers "1", "2" or "Tie" on the first line; a few tokens suffice.
VERDICT_MAX_TOKENS = 4
# Full: verdict, "### Reason: ..." and "### Reference: ..." (the reference's limit).
FULL_MAX_TOKENS = 512


def check_mode(mode: str) -> str:
    """Return `mode` if it is a known generation mode, else raise a one-line ConfigError."""
    if mode not in MODES:
        raise ConfigError(f"unknown judge mode '{mode}'; valid: {', '.join(MODES)}")
    return mode


def max_tokens_for(mode: str, max_new_tokens: int | None) -> int:
    """New-token budget: an explicit positive value wins, else the mode's default."""
    if max_new_tokens is not None:
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        return max_new_tokens
    return VERDICT_MAX_TOKENS if check_mode(mode) == "verdict" else FULL_MAX_TOKENS
