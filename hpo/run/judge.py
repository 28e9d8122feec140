"""The judge stage: the tournament strategy over live candidates, then winner vs baseline.

It runs on its own thread so that it can judge while trials still train (`judge_in_background`):
a match starts as soon as both candidates' answers exist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from hpo.config.schema import ExperimentConfig
from hpo.data.synthetic import is_correct
from hpo.errors import TrialsFailedError
from hpo.run.inputs import Workspace
from hpo.run.live import ForfeitJudge, LiveAnswers
from hpo.run.outcome import TournamentOutcome
from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.search.method import Trained
from hpo.tournament.audit import Lookup, audit, build_table
from hpo.tournament.base import Hooks, Strategy, TournamentResult
from hpo.tournament.comparator import build_pairwise
from hpo.types import Example
from judge.pairwise import PairwiseJudge

T = TypeVar("T")


class Background(Generic[T]):
    """Runs `target()` on a daemon thread; `result()` joins it and re-raises its error here."""

    def __init__(self, target: Callable[[], T], name: str) -> None:
        self._value: list[T] = []  # one item once the target has returned
        self._error: list[BaseException] = []  # one item once it has raised
        self._thread = threading.Thread(target=self._wrap, args=(target,), name=name, daemon=True)
        self._thread.start()

    def _wrap(self, target: Callable[[], T]) -> None:
        try:
            self._value.append(target())
        except BaseException as exc:  # re-raised in the caller's thread
            self._error.append(exc)

    def error(self) -> BaseException | None:
        """The thread's error if it has failed already (without waiting)."""
        return self._error[0] if self._error else None

    def result(self) -> T:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._value[0]


def judge_in_background(cfg: ExperimentConfig, ws: Workspace, val: list[Example], entrants: Trained,
                        say: Callable[[str], None]) -> Background[TournamentOutcome]:
    """Start the judge stage on its own thread (it owns the verdict-store connection it opens)."""
    return Background(lambda: run_tournament(cfg, ws, val, entrants, say), "tournament")


def make_strategy(cfg: ExperimentConfig, hooks: Hooks | None = None) -> Strategy:
    """The configured strategy with the tournament options it declares (config loading has
    rejected any the user set that it does not take; unused defaults are left out). `hooks`:
    `on_eliminated(loser)` lets keep_weights: best prune at once, `losses(candidate)` is its
    validation loss; each strategy gets only the hooks it declares."""
    from hpo.tournament.registry import make_strategy, option_names
    from hpo.trial.weights import block_order

    tournament = cfg.tournament
    values = {"blocks": tournament.blocks, "early_decision": tournament.early_decision,
              "pipeline": tournament.pipeline, "order": block_order(cfg)}
    takes = option_names(tournament.strategy)
    return make_strategy(tournament.strategy, hooks, **{k: v for k, v in values.items() if k in takes})


def run_tournament(cfg: ExperimentConfig, ws: Workspace, val: list[Example], entrants: Trained,
                   say: Callable[[str], None]) -> TournamentOutcome:
    """The strategy over `entrants`' candidates, then its winner against the baseline."""
    from hpo.tournament.comparator import AnswerMatchJudge
    from hpo.tournament.confidence import ItemLog, winner_confidence_set
    from hpo.tournament.match import play_match

    feed, plan = entrants.feed, entrants.plan
    candidates = [c.candidate_id for c in plan.candidates]
    baseline_id = plan.baseline.candidate_id if plan.baseline else None
    pairwise = build_pairwise(cfg.judge, ws.backend, ws.rd / "verdicts.sqlite")
    answers = LiveAnswers(ws.store, feed)
    # ItemLog keeps every real item judgment (forfeits excluded) for the winner's confidence set
    log = ItemLog(AnswerMatchJudge(answers, val, pairwise))
    judge = ForfeitJudge(log, feed)
    from hpo.trial.weights import elimination_hook

    strategy = make_strategy(cfg, Hooks(
        on_eliminated=elimination_hook(cfg, ws.rd.path, [baseline_id] if baseline_id else []),
        losses=validation_losses(ws.store, feed)))
    say(f"tournament '{cfg.tournament.strategy}' over {len(candidates)} candidates"
        f" with judge '{cfg.judge.backend}' (starts as answers arrive)")
    result = strategy.run(candidates, judge, cfg.tournament.seed)
    if not feed.wait(result.winner):
        raise TrialsFailedError("no candidate produced answers: every training failed (see report of each trial in the run folder)")
    say(f"tournament winner {result.winner} after {result.calls} judge calls")
    confidence = winner_confidence_set(log.observations(), candidates, result.winner,
                                       judge.n_items, seed=cfg.tournament.seed) \
        if log.observations() else None  # a strategy that judged nothing (val_loss) shows none
    baseline = None
    if baseline_id and feed.wait(baseline_id):
        baseline = play_match(result.winner, baseline_id, judge, early_decision=False, stage="baseline")
        say(f"winner vs baseline: {baseline.wins} win / {baseline.losses} lose / {baseline.ties} tie")
    table = build_table(log.observations(), answers, val, stored_verdicts(pairwise), is_correct)
    return TournamentOutcome(
        result=result, baseline=baseline, forfeits=frozenset(judge.forfeits), confidence=confidence,
        audit=audit(table, deciding_match(result), None if baseline is None else (baseline.a, baseline.b)),
        judge_stats=pairwise.stats_dict())


def validation_losses(store: AnswerStore, feed: CandidateFeed) -> Callable[[str], float | None]:
    """A candidate's validation loss once its answers exist (None: it never arrives or has none)."""
    def loss(cid: str) -> float | None:
        if not feed.wait(cid):
            return None
        value = store.read(cid).metrics.get("validation_loss")
        return None if value is None else float(value)

    return loss


def stored_verdicts(pairwise: PairwiseJudge) -> Lookup | None:
    """Single-order judgments as the verdict store holds them (None: the judge keeps no store)."""
    store = pairwise.store
    if store is None:
        return None
    identity = pairwise.backend.identity
    return lambda requests: store.get_many(identity, requests)


def deciding_match(result: TournamentResult) -> tuple[str, str, str] | None:
    """(a, b, stage) of the match that decided the winner: the final, else the winner's last."""
    played = [m for m in result.matches if result.winner in (m.a, m.b)]
    finals = [m for m in played if m.stage == "final"] or played[-1:]
    return (finals[-1].a, finals[-1].b, finals[-1].stage or "match") if finals else None
