"""A finished run's results outside the tool: `hpo report RUN --format table|csv|json|markdown`.

The leaderboard has one row per candidate in the tournament's order: its settings, how far it
got, its Bradley-Terry score fitted on the item outcomes of the matches it played (ties dropped,
as in `hpo.tournament.ranking`; with confidence bounds when the report carries them), its
result against the baseline (only the winner plays it), and the truth where the validation set
has reference answers. CSV suits a spreadsheet, JSON a script, Markdown a pull request or a
CI job summary; `table` is the terminal report.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

FORMATS = ("table", "csv", "json", "markdown")
COLUMNS = ("rank", "candidate", "optimizer", "lr", "scheduler", "epoch", "reached", "win_rounds",
           "bt_score", "bt_low", "bt_high", "baseline_win", "baseline_lose", "baseline_tie",
           "truth_exact_match", "truth_rank", "train_loss", "validation_loss", "missing")


def bt_scores(report: Mapping[str, Any]) -> dict[str, float]:
    """Bradley-Terry log-strengths from the played candidate matches' item counts."""
    from hpo.tournament.ranking import bradley_terry

    played = [m for m in report["matches"] if not m["forfeit"] and m.get("stage") != "baseline"]
    players = sorted({c for m in played for c in (m["a"], m["b"])})
    if not players:
        return {}
    counts: dict[tuple[str, str], list[float]] = {}
    for m in played:
        row = counts.setdefault((m["a"], m["b"]), [0.0, 0.0, 0.0])
        row[0], row[1], row[2] = row[0] + m["wins"], row[1] + m["losses"], row[2] + m["ties"]
    return {c: round(float(v), 4) for c, v in bradley_terry(counts, players).items()}


def leaderboard(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per candidate (see module doc); columns are COLUMNS, empty where unknown."""
    from hpo.reporting.report import standings

    by_id = {r["candidate_id"]: r for r in report["candidates"]}
    order = [*report["ranking"], *(c for c in by_id if c not in report["ranking"])]
    stand, scores = standings(report), bt_scores(report)
    bounds = report.get("bradley_terry") or {}  # {"low": {...}, "high": {...}} when present
    truth_rank = _truth_ranks(by_id.values())
    base = report.get("baseline") or {}
    rows = []
    for pos, cid in enumerate(order, 1):
        r = by_id.get(cid, {})
        vs_base = bool(base) and cid == report["winner"]["candidate_id"]
        rows.append({
            "rank": pos, "candidate": cid, "optimizer": r.get("optimizer"), "lr": r.get("lr"),
            "scheduler": r.get("scheduler"), "epoch": r.get("epoch"), "reached": stand.get(cid, ""),
            "win_rounds": r.get("win_rounds", 0), "bt_score": scores.get(cid),
            "bt_low": bounds.get("low", {}).get(cid), "bt_high": bounds.get("high", {}).get(cid),
            "baseline_win": base.get("win") if vs_base else None,
            "baseline_lose": base.get("lose") if vs_base else None,
            "baseline_tie": base.get("tie") if vs_base else None,
            "truth_exact_match": r.get("exact_match"), "truth_rank": truth_rank.get(cid),
            "train_loss": r.get("train_loss"), "validation_loss": r.get("validation_loss"),
            "missing": r.get("missing")})
    return rows


def _truth_ranks(rows: Any) -> dict[str, int]:
    scored = {r["candidate_id"]: r["exact_match"] for r in rows if "exact_match" in r}
    return {c: 1 + sum(v > em for v in scored.values()) for c, em in scored.items()}


def export(report: Mapping[str, Any], fmt: str, top: int = 10) -> str:
    """The report in `fmt` (one of FORMATS)."""
    if fmt == "table":
        from hpo.reporting.report import render

        return render(dict(report), top=top)
    rows = leaderboard(report)
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "json":
        return json.dumps(to_json(report, rows), indent=2)
    return to_markdown(report, rows)


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if row[k] is None else row[k] for k in COLUMNS} for row in rows)
    return out.getvalue()


def to_json(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"format": "hpo.leaderboard/v1", "experiment": report.get("experiment"),
            "strategy": report.get("strategy"), "judge": report.get("judge"),
            "winner": report["winner"], "baseline": report.get("baseline"),
            "truth": report.get("truth"), "confidence_set": report.get("winner_confidence_set"),
            "cost": report.get("cost"), "leaderboard": list(rows)}


def to_markdown(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """A heading, the winner and its match against the baseline, the leaderboard, the cost."""
    w, base = report["winner"], report.get("baseline")
    out = [f"## hpo: {report.get('experiment', '')}", "",
           f"**Winner:** `{w['candidate_id']}` ({w.get('optimizer')}, lr {w.get('lr')}, "
           f"{w.get('scheduler')}, epoch {w.get('epoch')}); strategy `{report.get('strategy')}`, "
           f"judge `{report.get('judge')}`"]
    if base:
        verdict = "beats" if base.get("winner_beats_baseline") else "does not beat"
        out += ["", f"**Against the baseline** `{base['candidate_id']}`: {base['win']} win / "
                   f"{base['lose']} lose / {base['tie']} tie: the winner {verdict} it"]
    cols = [c for c in COLUMNS if any(r[c] not in (None, "") for r in rows)]
    out += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_md(r[c]) for c in cols) + " |" for r in rows]
    cost = report.get("cost")
    if cost:
        g, j = cost["gpu_hours"], cost["judge"]
        out += ["", f"**Cost:** {cost['train_tokens']} tokens trained, {cost['generated_tokens']} "
                    f"generated; judge {j['calls']} calls ({j['from_store']} from the store); "
                    f"GPU-hours training {g['training']:.3f}, generation {g['generation']:.3f}, "
                    f"judging {g['judging']:.3f}"]
    return "\n".join(out) + "\n"


def _md(value: Any) -> str:
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")
