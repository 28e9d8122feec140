"""The decide stage: the tournament's outcome and the candidates' evidence as one report value.

`build_report` is pure: it reads answers' metrics but writes nothing (the record stage does).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.errors import EXIT_OK, EXIT_PARTIAL, EXIT_WORSE_THAN_BASELINE
from hpo.reporting.card import judge_summary
from hpo.run.outcome import TournamentOutcome
from hpo.rundir.answers import AnswerStore
from hpo.search.method import Trained
from hpo.search.plan import Plan
from hpo.tournament.audit import val_loss_pick
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


def match_dict(m: MatchRecord, forfeited: bool) -> dict[str, Any]:
    return {**asdict(m), "forfeit": forfeited}


def build_report(cfg: ExperimentConfig, trained: Trained, store: AnswerStore,
                 outcome: TournamentOutcome) -> dict[str, Any]:
    """report.json's content (format `hpo.report/v1`): the one place the judge stage's
    outcome becomes the report's plain, JSON-ready form."""
    plan, feed, result = trained.plan, trained.feed, outcome.result
    missing = {k: v for k, v in feed.missing_reasons().items() if k != (plan.baseline.candidate_id if plan.baseline else None)}
    rows = candidate_rows(plan, store, result, missing)
    base = outcome.baseline
    winner_spec = {c.candidate_id: c.spec for c in plan.candidates}[result.winner]
    judge_stats = dict(outcome.judge_stats)
    return {
        "format": REPORT_FORMAT, "experiment": cfg.name, "strategy": result.strategy,
        "judge": cfg.judge.backend, "policy": cfg.judge.policy,
        "judge_card": judge_summary(cfg.judge),
        "winner": {"candidate_id": result.winner, "epoch": int(result.winner.rsplit("-ep", 1)[1]),
                   **winner_spec.to_dict()},
        "ranking": [c for c in result.ranking if c not in missing],
        "matches": [match_dict(m, outcome.forfeited(m)) for m in result.matches],
        "baseline": None if base is None else {
            "candidate_id": base.b, "win": base.wins, "lose": base.losses, "tie": base.ties,
            "invalid": base.invalid, "winner_beats_baseline": base.wins > base.losses},
        "truth": truth(rows, result.winner),
        "judge_audit": outcome.audit.to_dict(),
        "val_loss_pick": pick.to_dict() if (pick := val_loss_pick(rows, result.winner)) else None,
        "winner_confidence_set": None if outcome.confidence is None else outcome.confidence.to_dict(),
        "missing": missing,
        "judge_calls": result.calls,
        "judge_calls_saved_by_early_decision": sum((m.items_total - m.items_judged) * 2
                                                   for m in outcome.played()),
        "judge_stats": judge_stats,
        "cost": run_cost(cfg, store, judge_stats),
        "candidates": rows,
    }


def run_cost(cfg: ExperimentConfig, store: AnswerStore, judge_stats: dict[str, Any]) -> dict[str, Any]:
    """The cost summary (`hpo.reporting.cost`) from the run folder's trials and the judge's counters."""
    from hpo.reporting.cost import cost_summary
    from hpo.search.cluster import judge_gpus, trial_gpus

    return cost_summary(store.dir.parent / "trials", trial_gpus(cfg), judge_stats, judge_gpus(cfg))


def exit_code(report: dict[str, Any], fail_if_worse_than_baseline: bool) -> int:
    """0 complete, 3 partial (some candidates missing), 4 worse than the baseline when asked."""
    base = report.get("baseline") or {}
    if fail_if_worse_than_baseline and base and not base.get("winner_beats_baseline"):
        return EXIT_WORSE_THAN_BASELINE
    return EXIT_PARTIAL if report["missing"] else EXIT_OK
