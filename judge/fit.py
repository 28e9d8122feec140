"""The declared policy for a prompt longer than the judge's context: truncate both responses.

PandaLM's prompt is fixed text plus the instruction, the input and two responses. When it
does not fit in `budget` tokens (context length minus the new tokens the mode needs), both
responses are capped at the same length, the longest cap that fits, so neither side gets
more room than the other; a response shorter than the cap is untouched. The instruction and
input are never cut (without them there is nothing to judge), so a prompt whose fixed part
alone is over budget cannot be fitted and `fit_request` returns None: the caller records an
INVALID that says why, never a silent one. Every cut is reported (which positions), so the
run can count truncations per candidate. Pure: the token counter is passed in.
"""

from __future__ import annotations

from collections.abc import Callable

from judge.prompt import build_prompt, strip_special_tokens
from judge.types import JudgeRequest

TokenCounter = Callable[[str], int]


def prompt_of(request: JudgeRequest) -> str:
    """The PandaLM prompt of one request."""
    return build_prompt(request.instruction, request.input, request.response1, request.response2)


def capped(request: JudgeRequest, cap: int) -> JudgeRequest:
    """`request` with both (cleaned) responses cut to at most `cap` characters."""
    r1, r2 = strip_special_tokens(request.response1), strip_special_tokens(request.response2)
    return JudgeRequest(request.instruction, request.input, r1[:cap], r2[:cap])


def fit_request(request: JudgeRequest, count: TokenCounter, budget: int) -> tuple[JudgeRequest, str] | None:
    """(request that fits, truncated positions) or None if even empty responses overflow.

    Returns the request unchanged with "" when it already fits. Otherwise binary-searches the
    largest common character cap for both responses whose prompt has <= `budget` tokens.
    """
    if count(prompt_of(request)) <= budget:
        return request, ""
    if count(prompt_of(capped(request, 0))) > budget:
        return None
    r1, r2 = strip_special_tokens(request.response1), strip_special_tokens(request.response2)
    lo, hi = 0, max(len(r1), len(r2))  # lo always fits; hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(prompt_of(capped(request, mid))) <= budget:
            lo = mid
        else:
            hi = mid
    cut = "".join(pos for pos, text in (("1", r1), ("2", r2)) if len(text) > lo)
    return capped(request, lo), cut
