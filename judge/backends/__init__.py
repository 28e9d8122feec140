"""Judge backends: one module per implementation of `judge.types.JudgeBackend`.

- `vllm`: HTTP client for a vLLM OpenAI-compatible server (the fast path for real judges).
- `hf`: in-process transformers, batched greedy generation (no server needed).
- `reference`: exact match + embedding similarity against known reference answers.

Each backend owns its settings: a `BackendSettings` model (the options a user writes beside
`backend`) in its module, or in a light sibling when the module imports heavy dependencies
at the top (`hf_settings` for `hf`), and builds itself from them (`from_settings`). Modules
are imported lazily by `judge.registry`, so choosing one never imports another's heavy
dependencies. Adding a backend: one module, one line in `judge.registry`.
This package holds those two seams and the few helpers the generative backends share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from judge.errors import ConfigError


class BackendSettings(BaseModel):
    """Base of every backend's settings model: unknown options refused, values checked,
    no NaN or infinity (`.inf` passes `gt=0`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _as_given(name: str) -> str:
    return name


@dataclass(frozen=True)
class BackendInputs:
    """What a run hands a backend besides its settings; none of it is a user's option.

    `references`: (instruction, input) -> gold answer, from the validation data (`reference`);
    `tie_band`: the run's tie band, shared with the soft policy (generative backends, logprobs);
    `resolve_model`: how the caller names local models (`hpo` passes its aliases), for `hf`."""

    references: Mapping[tuple[str, str], str] = field(default_factory=dict)
    tie_band: float = 0.0
    resolve_model: Callable[[str], str] = _as_given

# verdict: greedy, stop at the first newline; full: greedy up to 512 tokens (verdict, reason,
# reference); logprobs: one forward pass, first-token P("1"), P("2"), P("Tie");
# faithful: PandaLM's reference decoding (FAITHFUL below), for reproducing released verdicts.
MODES = ("verdict", "full", "logprobs", "faithful")
# Verdict-only: PandaLM answers "1", "2" or "Tie" on the first line; a few tokens suffice.
VERDICT_MAX_TOKENS = 4
# Full: verdict, "### Reason: ..." and "### Reference: ..." (the reference's limit).
FULL_MAX_TOKENS = 512
# WeOpenML/PandaLM pandalm/utils/pandalm_inference.py: GenerationConfig(temperature=0, top_p=1,
# top_k=1, num_beams=4, early_stopping=True, repetition_penalty=1.2), max_new_tokens=512.
FAITHFUL = {"num_beams": 4, "early_stopping": True, "repetition_penalty": 1.2}
_DEFAULT_TOKENS = {"verdict": VERDICT_MAX_TOKENS, "full": FULL_MAX_TOKENS, "logprobs": 1,
                   "faithful": FULL_MAX_TOKENS}


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
    return _DEFAULT_TOKENS[check_mode(mode)]


def check_tie_band(tie_band: float) -> float:
    """Return `tie_band` if it is in [0, 1), else raise a one-line ConfigError."""
    if not 0 <= tie_band < 1:
        raise ConfigError(f"judge tie_band must be in [0, 1), got {tie_band}")
    return float(tie_band)


def decoding_tag(mode: str, max_tokens: int, tie_band: float = 0.0) -> str:
    """Everything about decoding that changes a verdict, as one identity fragment.

    Part of every generative backend's `identity`, so the verdict store never serves a
    judgment made with other decoding (see judge/store.py)."""
    if mode == "logprobs":
        return f"logprobs:band={tie_band:g}"
    if mode == "faithful":
        return f"faithful:beams=4:rep=1.2:early:max={max_tokens}"
    return f"{mode}:greedy:max={max_tokens}"


def prompt_budget(context: int, mode: str, max_tokens: int) -> int:
    """Tokens a prompt may use in a `context`-token window: the context minus the room kept
    for new tokens, at most a quarter of the context (the verdict is the first token; a long
    reason may hit the context limit, a prompt is never cut to nothing for it)."""
    return context - (0 if mode == "logprobs" else min(max_tokens, context // 4))
