"""The tournament phase of a run: strategy over live candidates, then winner vs baseline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpo.answers import AnswerStore
from hpo.config import ExperimentConfig
from hpo.errors import TrialsFailedError
from hpo.feed import CandidateFeed
from hpo.judging import build_pairwise
from hpo.live import ForfeitJudge, LiveAnswers
from hpo.rundir import RunDir
from hpo.types import Example


def make_strategy(cfg: ExperimentConfig, on_eliminated: Callable[[str], None] | None = None) -> Any:
    from hpo.session import accepted_kwargs
    from hpo.tournament.registry import STRATEGIES, make_strategy

    kwargs = {"blocks": cfg.tournament.blocks, "early_decision": cfg.tournament.early_decision,
              "on_eliminated": on_eliminated}  # [i10 touch point] keep_weights: best
    options = accepted_kwargs(STRATEGIES.load(cfg.tournament.strategy), kwargs)
    return make_strategy(cfg.tournament.strategy, **options)


def run_tournament(cfg: ExperimentConfig, rd: RunDir, store: AnswerStore, feed: CandidateFeed,
                   val: list[Example], backend: Any, candidates: list[str],
                   baseline_id: str | None, say: Callable[[str], None]) -> dict[str, Any]:
    """Runs in its own thread: it owns the verdict-store connection it opens."""
    from hpo.tournament.answers_judge import AnswerMatchJudge
    from hpo.tournament.match import play_match

    pairwise = build_pairwise(cfg.judge, backend, rd / "verdicts.sqlite")
    judge = ForfeitJudge(AnswerMatchJudge(LiveAnswers(store, feed), val, pairwise), feed)
    from hpo.trial.weights import elimination_hook  # [i10 touch point]

    strategy = make_strategy(cfg, elimination_hook(cfg, rd.path, [baseline_id] if baseline_id else []))
    say(f"tournament '{cfg.tournament.strategy}' over {len(candidates)} candidates"
        f" with judge '{cfg.judge.backend}' (starts as answers arrive)")
    result = strategy.run(candidates, judge, cfg.tournament.seed)
    if not feed.wait(result.winner):
        raise TrialsFailedError("no candidate produced answers: every training failed (see report of each trial in the run folder)")
    say(f"tournament winner {result.winner} after {result.calls} judge calls")
    baseline = None
    if baseline_id and feed.wait(baseline_id):
        baseline = play_match(result.winner, baseline_id, judge, early_decision=False, stage="baseline")
        say(f"winner vs baseline: {baseline.wins} win / {baseline.losses} lose / {baseline.ties} tie")
    stats = pairwise.stats_dict() if hasattr(pairwise, "stats_dict") else {}
    return {"result": result, "baseline": baseline, "forfeits": judge.forfeits,
            "judge_stats": {**stats, "calls": pairwise.calls,
                            "cache_hits": getattr(pairwise, "cache_hits", 0)}}
