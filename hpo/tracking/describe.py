"""The parent run's description in MLflow (`mlflow.note.content`, shown on the run's page).

Markdown that explains the run on its own: the winner and its settings, the match against the
baseline, the winner's confidence set, the judge and its figures, the leaderboard and the cost
summary (`hpo.reporting.export.to_markdown`), and the command that runs the same experiment again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

NOTE_TAG = "mlflow.note.content"
MAX_NOTE = 8000  # MLflow's tag value limit (longer values are cut)
TOP = 20  # leaderboard rows in the note; the rest: hpo report RUN --format markdown


def description(report: Mapping[str, Any], run_dir: Path) -> str:
    """The Markdown note for a finished run's parent (see module doc)."""
    from hpo.reporting.card import describe
    from hpo.reporting.export import leaderboard, to_markdown

    rows = leaderboard(report)
    text = to_markdown(report, rows[:TOP]).rstrip("\n").split("\n")
    conf = report.get("winner_confidence_set")
    extra = []
    if conf:
        others = [c for c in conf["members"] if c != conf["winner"]]
        extra.append(f"**Confidence ({conf['level']:.0%}, {conf['method']}):** " + (
            "the winner is clearly best" if not others else
            f"not clearly best: {', '.join(f'`{c}`' for c in others)} cannot be told apart from it"))
    judge = describe(report.get("judge_card"))
    if judge:
        extra.append(f"**Judge:** {judge.removeprefix('judge: ')}; {report.get('judge_calls', 0)} calls")
    if len(rows) > TOP:
        extra.append(f"Leaderboard: top {TOP} of {len(rows)} below; all with "
                     f"`hpo report {Path(run_dir).resolve()} --format markdown`")
    extra.append(f"**Run it again:** `hpo run -e {Path(run_dir).resolve() / 'config.yaml'} "
                 f"--run-name {Path(run_dir).name}-again` (secrets are not stored: give them again)")
    at = 1 + max(i for i, line in enumerate(text) if line.startswith(("**Winner", "**Against")))
    paragraphs = [line for e in extra for line in ("", e)]
    return "\n".join([*text[:at], *paragraphs, *text[at:]])[:MAX_NOTE] + "\n"
