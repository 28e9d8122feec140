"""Parse PandaLM's generated evaluation into a Judgment.

The reference (`parse_pandalm_response` after `filter_special_token`) strips the text,
removes special tokens, and reads the first line: "1" or "2" names the better response,
"tie" in any case is a tie. The one deliberate difference: the reference maps anything
else to a tie, we map it to Verdict.INVALID, so a broken judge can never pass as indecisive.
We also strip the first line itself (so "1 " or "1\\r" still count); the reference would
call those ties by its fallback.
"""

from __future__ import annotations

import re

from judge.prompt import strip_special_tokens
from judge.types import Judgment, Probs, Verdict

_REASON = re.compile(r"### Reason:(.*?)(?=### Reference:|\Z)", re.DOTALL)
_REFERENCE = re.compile(r"### Reference:(.*)", re.DOTALL)


def parse_verdict(first_line: str) -> Verdict:
    """Map the first line of an evaluation to a Verdict (exact match, as the reference)."""
    line = first_line.strip()
    if line in ("1", "2"):
        return Verdict(line)
    if line.lower() == "tie":
        return Verdict.TIE
    return Verdict.INVALID


def verdict_from_probs(probs: Probs, top: float, tie_band: float = 0.0) -> Verdict:
    """The logprobs-mode verdict rule (docs/judge.md, "Verdicts from first-token probabilities").

    `probs` = (P("1"), P("2"), P(first token of "Tie")) from the full-vocabulary softmax at the
    first generated position; `top` = the largest probability over the whole vocabulary.
    1. max(probs) < top (greedy decoding would start with another token), or all three are
       zero -> INVALID: a judge that does not answer in PandaLM's format never looks decisive;
    2. renormalise over the three, q = p / sum(p); |q1 - q2| <= tie_band -> Tie (a close call);
    3. otherwise the argmax of (q1, q2, qTie); an exact draw for the maximum is a Tie.
    With tie_band = 0 this is exactly the first token greedy decoding emits, so `logprobs`
    and `verdict` agree whenever "1", "2" and "Tie" are single tokens.
    """
    total = sum(probs)
    if not total > 0 or max(probs) < top:
        return Verdict.INVALID
    q1, q2, qt = (p / total for p in probs)
    if abs(q1 - q2) <= tie_band:
        return Verdict.TIE
    best = max(q1, q2, qt)
    if qt == best:
        return Verdict.TIE
    return Verdict.RESPONSE1 if q1 == best else Verdict.RESPONSE2


def _section(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    return match.group(1).strip() if match else ""


def parse_judgment(text: str) -> Judgment:
    """Parse the continuation generated after the prompt's "### Evaluation:\\n".

    Keeps the raw text for audit; reason and reference are "" when their section is absent.
    """
    raw = text if isinstance(text, str) else ""
    clean = strip_special_tokens(raw)
    verdict = parse_verdict(clean.split("\n", 1)[0])
    return Judgment(
        verdict=verdict,
        raw=raw,
        reason=_section(_REASON, clean),
        reference=_section(_REFERENCE, clean),
    )
