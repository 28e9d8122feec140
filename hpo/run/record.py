"""The record stage: the decision's evidence on disk and in the tracker.

report.json, plots, verdicts.jsonl, the MLflow parent run's params/metrics/tags/artifacts,
pruned weights, and the terminal tables.
"""

from __future__ import annotations

import json
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.rundir.layout import RunDir
from hpo.tracking.base import Tracker
from judge.atomic import atomic_write_json, atomic_write_text


def record(cfg: ExperimentConfig, rd: RunDir, report: dict[str, Any], tracker: Tracker,
           parent_id: str) -> None:
    """Write and log the decision; the run is `finished` from here on."""
    from hpo.reporting.report import render

    atomic_write_json(rd / "report.json", report)
    plots = make_plots(rd, report)
    export_verdicts(rd)
    log_parent(tracker, parent_id, rd, report, plots)
    if cfg.tracking.register_winner:
        register(cfg, rd, tracker, parent_id, report["winner"]["candidate_id"])
    rd.update_state(status="finished")
    prune_weights(cfg, rd, report["winner"]["candidate_id"])
    print(render(report, all_matches=False))
    print(f"\nrun folder: {rd.path}\nMLflow: {tracker.run_url(parent_id)} (open with: hpo ui)")


def register(cfg: ExperimentConfig, rd: RunDir, tracker: Tracker, parent_id: str, winner: str) -> None:
    """`--register-winner`: the winner's weights as a new version of the registered model."""
    import time

    from hpo.tracking.register import register_winner

    t0 = time.perf_counter()
    name = str(cfg.tracking.register_winner)
    version = register_winner(tracker, parent_id, rd / "weights" / winner, name)
    print(f"registered {winner} as MLflow model {name} version {version} ({time.perf_counter() - t0:.1f} s)")


def make_plots(rd: RunDir, report: dict[str, Any]) -> list[Any]:
    from hpo.reporting.plots import plot_win_matrix, plot_win_rounds
    from hpo.tournament.base import MatchRecord

    out = rd.inside(rd / "plots")
    out.mkdir(exist_ok=True)
    scores = {r["candidate_id"]: r["win_rounds"] for r in report["candidates"]}
    meta = {r["candidate_id"]: r for r in report["candidates"]}
    fields = MatchRecord.__dataclass_fields__
    matches = [MatchRecord(**{k: v for k, v in m.items() if k in fields})
               for m in report["matches"] if not m["forfeit"]]
    plots = [plot_win_rounds(scores, meta, out / "win_rounds.png", report["experiment"])]
    return plots + ([plot_win_matrix(matches, out / "win_matrix.png")] if matches else [])


def export_verdicts(rd: RunDir) -> None:
    """All raw judgments as JSONL next to the sqlite store, for audit and MLflow."""
    from judge.store import VerdictStore

    path = rd / "verdicts.sqlite"
    if not path.exists():
        return
    store = VerdictStore(path)
    try:
        lines = [json.dumps(row, default=str) for row in store.all_rows()]
    finally:
        store.close()
    atomic_write_text(rd / "verdicts.jsonl", "\n".join(lines) + ("\n" if lines else ""))


def log_parent(tracker: Tracker, run_id: str, rd: RunDir, report: dict[str, Any], plots: list[Any]) -> None:
    w = report["winner"]
    tracker.log_params(run_id, {f"winner.{k}": v for k, v in w.items()})
    metrics = {"judge_calls": report["judge_calls"], "missing_candidates": len(report["missing"]),
               "judge_calls_saved": report["judge_calls_saved_by_early_decision"]}
    if report["truth"]:
        metrics.update({k: v for k, v in report["truth"].items() if isinstance(v, (int, float))})
    if report["baseline"]:
        metrics.update({f"baseline_{k}": report["baseline"][k] for k in ("win", "lose", "tie")})
    for cid, counts in report["judge_stats"].get("per_candidate", {}).items():  # judge errors
        metrics.update({f"judge_{kind}.{cid}": n for kind, n in counts.items()})
    conf = report.get("winner_confidence_set")
    if conf:
        metrics["winner_confidence_set_size"] = len(conf["members"])
    metrics.update(judge_audit_metrics(report))
    if report.get("cost"):
        from hpo.reporting.cost import cost_metrics

        metrics.update(cost_metrics(report["cost"]))
    tracker.log_metrics(run_id, metrics)
    tags = {"hpo.winner": w["candidate_id"], "hpo.status": "partial" if report["missing"] else "complete"}
    if conf:
        tags["hpo.winner_confidence_set"] = ", ".join(conf["members"])[:4000]
    if report.get("val_loss_pick"):
        tags["hpo.val_loss_pick"] = report["val_loss_pick"]["val_loss"]["candidate_id"]
    if report["missing"]:
        tags["hpo.missing"] = ", ".join(sorted(report["missing"]))[:4000]
    tracker.set_tags(run_id, tags)
    for path in [rd / "report.json", rd / "verdicts.jsonl", *plots]:
        if path.exists():
            tracker.log_artifact(run_id, path)
    tracker.end_run(run_id, "FINISHED")


def judge_audit_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The judge's agreement with the truth (per scope), its biases and the validation-loss
    pick as MLflow metrics; undefined rates (no such items) are left out."""
    audit = report.get("judge_audit") or {}
    out: dict[str, Any] = {}
    for scope, agreement in (audit.get("agreement") or {}).items():
        if isinstance(agreement, dict):
            out |= {f"judge_truth.{scope}.{k}": v for k, v in agreement.items()}
    bias = dict(audit.get("bias") or {})
    out |= {f"judge_bias.{k}": v for k, v in bias.items()}
    out |= {f"judge_bias.mean_answer_length.{c}": n for c, n in bias.get("mean_answer_length", {}).items()}
    pick = report.get("val_loss_pick")
    if pick:
        out |= {f"val_loss_pick.{k}": v for k, v in pick["val_loss"].items()}
        out["val_loss_pick.agrees_with_judge"] = int(pick["agree"])
    return {k: float(v) for k, v in out.items() if isinstance(v, (int, float))}


def prune_weights(cfg: ExperimentConfig, rd: RunDir, winner: str) -> None:
    """`keep_weights: best` keeps every checkpoint's weights until the decision, then the winner's."""
    import shutil

    weights = rd / "weights"
    if cfg.train.keep_weights != "best" or not weights.is_dir():
        return
    for path in weights.iterdir():
        if path.name != winner:
            shutil.rmtree(rd.inside(path), ignore_errors=True)
