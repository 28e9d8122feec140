"""Which judge ran, and how good it was measured to be, for the run's report.

A judge folder written by `hpo judge train` holds `judge_card.json` with its recipe and its
held-out figures; the report quotes them so a reader knows how far to trust the verdicts. The
`reference` backend is named for what it is: an oracle that reads the gold answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpo.config.schema import JudgeConfig

ORACLE = ("oracle: exact match with the gold answer, then MiniLM similarity to it "
          "(not an LLM; it sees the answer key)")


def judge_summary(cfg: JudgeConfig) -> dict[str, Any]:
    """{backend, model, description, held-out figures when the judge folder has a card}."""
    model = cfg.option("model")
    out: dict[str, Any] = {"backend": cfg.backend, "model": model}
    if cfg.backend == "reference":
        return out | {"description": ORACLE}
    card_path = Path(model or "") / "judge_card.json"
    if not model or not card_path.is_file():
        return out | {"description": "LLM judge (no judge_card.json: accuracy not measured here)"}
    try:
        card = json.loads(card_path.read_text())
        held = card["heldout_eval"]
    except (OSError, ValueError, KeyError):
        return out | {"description": "LLM judge (unreadable judge_card.json)"}
    return out | {"description": f"LLM judge trained by `hpo judge train` (recipe {card.get('recipe')}, "
                                 f"{card.get('parameters')} parameters)",
                  "heldout_pairs": held.get("n"), "heldout_accuracy": held.get("accuracy"),
                  "heldout_swap_consistency": held.get("swap_consistency"),
                  "heldout_invalid_rate": held.get("invalid_rate")}


def describe(summary: dict[str, Any] | None) -> str:
    """One report line: the judge and, for a trained one, its held-out figures."""
    if not summary:
        return ""
    line = f"judge: {summary['backend']}" + (f" {summary['model']}" if summary.get("model") else "")
    line += f" ({summary['description']})"
    if summary.get("heldout_accuracy") is not None:
        line += (f"; measured on {summary['heldout_pairs']} held-out pairs: accuracy "
                 f"{summary['heldout_accuracy']:.3f}, swap consistency "
                 f"{summary['heldout_swap_consistency']:.3f}, invalid {summary['heldout_invalid_rate']:.3f}")
    return line
