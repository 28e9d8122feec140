"""The decision and its evidence: report.json, plots, MLflow parent run, terminal tables."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from hpo.answers import AnswerStore
from hpo.atomic import atomic_write_json, atomic_write_text
from hpo.config import ExperimentConfig
from hpo.feed import CandidateFeed
from hpo.judge_card import judge_summary
from hpo.plan import Plan
from hpo.rundir import RunDir
from hpo.tournament.base import MatchRecord, TournamentResult

REPORT_FORMAT = "hpo.report/v1"


def candidate_rows(plan: Plan, store: AnswerStore, result: TournamentResult,
                   missing: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for c in plan.candidates:
        row: dict[str, Any] = {"candidate_id": c.candidate_id, "training_id": c.training_id,
                               "epoch": c.epoch, "lr": c.spec.lr, "optimizer": c.spec.optimizer,
                               "scheduler": c.spec.scheduler, "win_rounds": result.scores.get(c.candidate_id, 0)}
        if c.candidate_id in missing:
            row["missing"] = missing[c.candidate_id]
        else:
            row.update({k: v for k, v in store.read(c.candidate_id).metrics.items()
                        if k in ("exact_match", "train_loss", "validation_loss")})
        rows.append(row)
    return rows


def truth(rows: list[dict[str, Any]], winner: str) -> dict[str, Any] | None:
    """On data with exact answers: the winner's true rank (1 = best) and regret."""
    scored = {r["candidate_id"]: r["exact_match"] for r in rows if "exact_match" in r}
    if winner not in scored:
        return None
    best_id = max(scored, key=lambda k: scored[k])
    w = scored[winner]
    return {"winner_exact_match": w, "winner_true_rank": 1 + sum(v > w for v in scored.values()),
            "n_ranked": len(scored), "best_candidate": best_id, "best_exact_match": scored[best_id],
            "regret": scored[best_id] - w}


def match_dict(m: MatchRecord, forfeits: set[tuple[str, str]]) -> dict[str, Any]:
    return {**asdict(m), "forfeit": (m.a, m.b) in forfeits}


def build_report(cfg: ExperimentConfig, plan: Plan, store: AnswerStore, feed: CandidateFeed,
                 tourney: dict[str, Any]) -> dict[str, Any]:
    result: TournamentResult = tourney["result"]
    missing = {k: v for k, v in feed.missing_reasons().items() if k != (plan.baseline.candidate_id if plan.baseline else None)}
    forfeits = set(tourney["forfeits"])
    rows = candidate_rows(plan, store, result, missing)
    base: MatchRecord | None = tourney["baseline"]
    winner_spec = next(c.spec for c in plan.candidates if c.candidate_id == result.winner)
    played = [m for m in result.matches if (m.a, m.b) not in forfeits]
    return {
        "format": REPORT_FORMAT, "experiment": cfg.name, "strategy": result.strategy,
        "judge": cfg.judge.backend, "policy": cfg.judge.policy,
        "judge_card": judge_summary(cfg.judge),
        "winner": {"candidate_id": result.winner, "epoch": int(result.winner.rsplit("-ep", 1)[1]),
                   **winner_spec.to_dict()},
        "ranking": [c for c in result.ranking if c not in missing],
        "matches": [match_dict(m, forfeits) for m in result.matches],
        "baseline": None if base is None else {
            "candidate_id": base.b, "win": base.wins, "lose": base.losses, "tie": base.ties,
            "invalid": base.invalid, "winner_beats_baseline": base.wins > base.losses},
        "truth": truth(rows, result.winner),
        "missing": missing,
        "judge_calls": result.calls,
        "judge_calls_saved_by_early_decision": sum((m.items_total - m.items_judged) * 2 for m in played),
        "judge_stats": tourney["judge_stats"],
        "candidates": rows,
    }


def finish(cfg: ExperimentConfig, rd: RunDir, plan: Plan, store: AnswerStore, feed: CandidateFeed,
           tourney: dict[str, Any], tracker: Any, parent_id: str) -> dict[str, Any]:
    from hpo.report import render

    report = build_report(cfg, plan, store, feed, tourney)
    atomic_write_json(rd / "report.json", report)
    plots = make_plots(rd, report)
    export_verdicts(rd)
    log_parent(tracker, parent_id, rd, report, plots)
    rd.update_state(status="finished")
    prune_weights(cfg, rd, report["winner"]["candidate_id"])
    print(render(report, all_matches=False))
    print(f"\nrun folder: {rd.path}\nMLflow: {tracker.run_url(parent_id)} (open with: hpo ui)")
    return report


def make_plots(rd: RunDir, report: dict[str, Any]) -> list[Any]:
    from hpo.plots import plot_win_matrix, plot_win_rounds
    from hpo.tournament.base import MatchRecord

    out = rd.inside(rd / "plots")
    out.mkdir(exist_ok=True)
    scores = {r["candidate_id"]: r["win_rounds"] for r in report["candidates"]}
    meta = {r["candidate_id"]: r for r in report["candidates"]}
    fields = MatchRecord.__dataclass_fields__
    matches = [MatchRecord(**{k: v for k, v in m.items() if k in fields})
               for m in report["matches"] if not m["forfeit"]]
    return [plot_win_rounds(scores, meta, out / "win_rounds.png", report["experiment"]),
            plot_win_matrix(matches, out / "win_matrix.png")]


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


def log_parent(tracker: Any, run_id: str, rd: RunDir, report: dict[str, Any], plots: list[Any]) -> None:
    w = report["winner"]
    tracker.log_params(run_id, {f"winner.{k}": v for k, v in w.items()})
    metrics = {"judge_calls": report["judge_calls"], "missing_candidates": len(report["missing"]),
               "judge_calls_saved": report["judge_calls_saved_by_early_decision"]}
    if report["truth"]:
        metrics.update({k: v for k, v in report["truth"].items() if isinstance(v, (int, float))})
    if report["baseline"]:
        metrics.update({f"baseline_{k}": report["baseline"][k] for k in ("win", "lose", "tie")})
    tracker.log_metrics(run_id, metrics)
    tags = {"hpo.winner": w["candidate_id"], "hpo.status": "partial" if report["missing"] else "complete"}
    if report["missing"]:
        tags["hpo.missing"] = ", ".join(sorted(report["missing"]))[:4000]
    tracker.set_tags(run_id, tags)
    for path in [rd / "report.json", rd / "verdicts.jsonl", *plots]:
        if path.exists():
            tracker.log_artifact(run_id, path)
    tracker.end_run(run_id, "FINISHED")


def prune_weights(cfg: ExperimentConfig, rd: RunDir, winner: str) -> None:
    """`keep_weights: best` keeps every checkpoint's weights until the decision, then the winner's."""
    import shutil

    weights = rd / "weights"
    if cfg.train.keep_weights != "best" or not weights.is_dir():
        return
    for path in weights.iterdir():
        if path.name != winner:
            shutil.rmtree(rd.inside(path), ignore_errors=True)
