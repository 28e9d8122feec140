"""Per-candidate answers side by side, as an MLflow table on the parent run.

One row per validation item (its id, instruction, input, and reference answer where the data
has one), one column per candidate: the winner first, then the baseline, then the rest in
tournament order. A user reads what the candidates actually wrote for the same item without
opening 80 answer files. Candidates whose answers file is missing or damaged are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.data.loaders import read_jsonl
from hpo.errors import ConfigError
from hpo.rundir.answers import AnswerStore
from hpo.tracking.base import Tracker

ARTIFACT = "tables/answers.json"


def answer_columns(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(column name, candidate id): `winner: <id>`, `baseline: <id>`, then every other candidate."""
    winner = report["winner"]["candidate_id"]
    cols = [(f"winner: {winner}", winner)]
    if report.get("baseline"):
        base = report["baseline"]["candidate_id"]
        cols.append((f"baseline: {base}", base))
    rest = [*report["ranking"], *(r["candidate_id"] for r in report["candidates"])]
    taken = {cid for _, cid in cols}
    return cols + [(cid, cid) for cid in dict.fromkeys(rest) if cid not in taken]


def answer_rows(run_dir: Path, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The table's rows (see module doc); [] when the run folder has no validation set."""
    path = Path(run_dir) / "data" / "validation.jsonl"
    if not path.is_file():
        return []
    items = read_jsonl(path)
    store = AnswerStore(Path(run_dir))
    outputs = {name: got for name, cid in answer_columns(report)
               if (got := _answers(store, cid)) is not None and len(got) == len(items)}
    with_input = any(ex.input for ex in items)
    with_reference = any(ex.output is not None for ex in items)
    rows = []
    for i, ex in enumerate(items):
        row: dict[str, Any] = {"item": ex.id, "instruction": ex.instruction}
        row |= {"input": ex.input} if with_input else {}
        row |= {"reference": ex.output or ""} if with_reference else {}
        rows.append(row | {name: answers[i] for name, answers in outputs.items()})
    return rows


def _answers(store: AnswerStore, candidate_id: str) -> list[str] | None:
    """A candidate's answers, or None when its file is absent or damaged (the table goes on)."""
    try:
        return store.read(candidate_id).answers if store.exists(candidate_id) else None
    except ConfigError:
        return None


def log_answer_table(tracker: Tracker, parent: str, run_dir: Path, report: Mapping[str, Any]) -> None:
    """The answers side by side as `tables/answers.json` on the parent run."""
    rows = answer_rows(run_dir, report)
    if rows:
        tracker.log_table(parent, rows, ARTIFACT)
