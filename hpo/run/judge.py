"""The judge stage: the tournament strategy over live candidates, then winner vs baseline.

It runs on its own thread so that it can judge while trials still train (`judge_in_background`):
a match starts as soon as both candidates' answers exist.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from hpo.config import ExperimentConfig
from hpo.errors import TrialsFailedError
from hpo.judging import build_pairwise
from hpo.run.inputs import Workspace
from hpo.run.live import ForfeitJudge, LiveAnswers
from hpo.train_plugin import Trained
from hpo.types import Example


class Background:
    """Runs `target()` on a daemon thread; `result()` joins it and re-raises its error here."""

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        self._box: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._wrap, args=(target,), name=name, daemon=True)
        self._thread.start()

    def _wrap(self, target: Callable[[], Any]) -> None:
        try:
            self._box["result"] = target()
        except BaseException as exc:  # re-raised in the caller's thread
            self._box["error"] = exc

    def error(self) -> BaseException | None:
        """The thread's error if it has failed already (without waiting)."""
        return self._box.get("error")

    def result(self) -> Any:
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["result"]


def judge_in_background(cfg: ExperimentConfig, ws: Workspace, val: list[Example],
                        entrants: Trained, say: Callable[[str], None]) -> Background:
    """Start the judge stage on its own thread (it owns the verdict-store connection it opens)."""
    return Background(lambda: run_tournament(cfg, ws, val, entrants, say), "tournament")


def accepted_kwargs(factory: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The subset of `kwargs` a plug-in's constructor accepts."""
    params = inspect.signature(factory).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def make_strategy(cfg: ExperimentConfig, on_eliminated: Callable[[str], None] | None = None) -> Any:
    """The configured strategy; `on_eliminated(loser)` lets keep_weights: best prune at once."""
    from hpo.tournament.registry import STRATEGIES, make_strategy
    from hpo.trial.weights import block_order

    kwargs = {"blocks": cfg.tournament.blocks, "early_decision": cfg.tournament.early_decision,
              "pipeline": cfg.tournament.pipeline, "on_eliminated": on_eliminated,
              "order": block_order(cfg)}
    options = accepted_kwargs(STRATEGIES.load(cfg.tournament.strategy), kwargs)
    return make_strategy(cfg.tournament.strategy, **options)


def run_tournament(cfg: ExperimentConfig, ws: Workspace, val: list[Example], entrants: Trained,
                   say: Callable[[str], None]) -> dict[str, Any]:
    """The strategy over `entrants`' candidates, then its winner against the baseline."""
    from hpo.tournament.answers_judge import AnswerMatchJudge
    from hpo.tournament.confidence import ItemLog, winner_confidence_set
    from hpo.tournament.match import play_match

    feed, plan = entrants.feed, entrants.plan
    candidates = [c.candidate_id for c in plan.candidates]
    baseline_id = plan.baseline.candidate_id if plan.baseline else None
    pairwise = build_pairwise(cfg.judge, ws.backend, ws.rd / "verdicts.sqlite")
    # ItemLog keeps every real item judgment (forfeits excluded) for the winner's confidence set
    log = ItemLog(AnswerMatchJudge(LiveAnswers(ws.store, feed), val, pairwise))
    judge = ForfeitJudge(log, feed)
    from hpo.trial.weights import elimination_hook

    strategy = make_strategy(cfg, elimination_hook(cfg, ws.rd.path, [baseline_id] if baseline_id else []))
    say(f"tournament '{cfg.tournament.strategy}' over {len(candidates)} candidates"
        f" with judge '{cfg.judge.backend}' (starts as answers arrive)")
    result = strategy.run(candidates, judge, cfg.tournament.seed)
    if not feed.wait(result.winner):
        raise TrialsFailedError("no candidate produced answers: every training failed (see report of each trial in the run folder)")
    say(f"tournament winner {result.winner} after {result.calls} judge calls")
    confidence = winner_confidence_set(log.observations(), candidates, result.winner,
                                       judge.n_items, seed=cfg.tournament.seed)
    baseline = None
    if baseline_id and feed.wait(baseline_id):
        baseline = play_match(result.winner, baseline_id, judge, early_decision=False, stage="baseline")
        say(f"winner vs baseline: {baseline.wins} win / {baseline.losses} lose / {baseline.ties} tie")
    stats = pairwise.stats_dict() if hasattr(pairwise, "stats_dict") else {}
    return {"result": result, "baseline": baseline, "forfeits": judge.forfeits,
            "confidence": confidence.to_dict(),
            "judge_stats": {**stats, "calls": pairwise.calls,
                            "cache_hits": getattr(pairwise, "cache_hits", 0)}}
