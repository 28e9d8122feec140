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
from judge.types import Judgment, Verdict

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
