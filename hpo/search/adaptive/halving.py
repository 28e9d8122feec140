"""Synchronous successive halving over the grid's trainings, decided by the judge (or the loss).

Chosen by `hpo.run.train.train_method` for `search.scheduler: halving`. Rounds, driven here:
  1. round r trains every live training up to the rung epoch e_r (a trial resumes from its
     stored epochs and a Ray Tune scheduler stops it once it reports e_r; the first round also
     trains the baseline, which only meets the winner after the final tournament);
  2. the live trainings' epoch-e_r checkpoints meet in a round robin, both orders, with the
     configured tie policy, through the run's verdict store (`verdicts.sqlite`: nothing is asked
     twice), on all validation items or a seeded sample (`search.halving.items`); they are ranked
     by Bradley-Terry over the item outcomes (`rank_by: val_loss`: by validation loss, no judge);
  3. the best ceil(n / eta) go on, the rest stop; the decision is stored in state.json;
  4. the last round trains the survivors to their last epoch.
Every checkpoint a stopped training reached is a candidate; the judge stage then runs the
configured tournament over all of them, as after a grid.

Resume: a round whose decision is stored is skipped; the current one retrains nothing whose
answers exist (trials resume from their stored state) and its rung matches are answered by
the verdict store, so an interrupted round continues where it stopped.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from hpo.config.schema import ExperimentConfig
from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.search.adaptive.rungs import Round, schedule, survivors
from hpo.search.adaptive.runner import produced
from hpo.search.method import TrainContext, Trained
from hpo.search.plan import Plan
from hpo.search.tuner import TrialOptions, run_trials
from hpo.types import Candidate, TrainingSpec

STATE_KEY = "halving"  # state.json: {"decisions": [Decision as a dict, ...]}


@dataclass(frozen=True)
class Decision:
    """One rung's outcome: who was compared at `epoch`, their ranking, who goes on."""

    round: int
    epoch: int
    compared: list[str]  # training ids whose epoch-`epoch` answers exist
    ranking: list[str]  # training ids, best first
    kept: list[str]
    scores: dict[str, float]
    judge_calls: int


class RungStop(FIFOScheduler):  # type: ignore[misc]
    """A Ray Tune scheduler that stops each trial once it reports its round's last epoch.

    Trials report synchronously (the trainable waits for the driver after each report), so a
    stopped trial has trained exactly up to `until[training_id]` and stored its state."""

    def __init__(self, until: dict[str, int]) -> None:
        super().__init__()
        self.until = dict(until)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        limit = self.until.get(str(trial.config.get("spec_id")), 1 << 30)
        done = int(result.get("epoch", 0)) >= limit
        return str(TrialScheduler.STOP if done else TrialScheduler.CONTINUE)


class RoundEvents:
    """The run's trial listener, except that a training's end is passed on only when it is
    really over: it failed, reached its last epoch, or a rung stopped it (`stopped`)."""

    def __init__(self, ctx: TrainContext, plan: Plan) -> None:
        self.ctx, self.plan = ctx, plan
        self.reached: dict[str, int] = {}
        self.failed: set[str] = set()

    def on_result(self, training_id: str, result: dict[str, Any]) -> None:
        self.reached[training_id] = max(self.reached.get(training_id, 0), int(result.get("epoch", 0)))
        self.ctx.events.on_result(training_id, result)

    def on_end(self, training_id: str, error: str | None) -> None:
        if error:
            self.failed.add(training_id)
        if error or self.reached.get(training_id, 0) >= self.plan.training(training_id).epochs:
            self.ctx.events.on_end(training_id, error)

    def on_tick(self) -> None:
        tick = getattr(self.ctx.events, "on_tick", None)
        if tick is not None:
            tick()

    def stopped(self, training_ids: Sequence[str]) -> None:
        """A rung stopped these trainings: their runs end here."""
        for training_id in training_ids:
            if training_id not in self.failed:
                self.ctx.events.on_end(training_id, None)


class HalvingTraining:
    """Rounds of training and judged rungs, then the candidates produced (module docstring)."""

    known_upfront = False  # the rungs decide how far each training goes

    def train(self, ctx: TrainContext, plan: Plan, feed: CandidateFeed) -> Trained:
        h = ctx.cfg.search.halving
        trainings = list(plan.space.trainings)
        epochs = max(t.epochs for t in trainings)
        rounds = schedule(len(trainings), h.rungs, epochs, h.eta)
        ctx.progress.total = planned_checkpoints(rounds, list(plan.space.checkpoints)) + bool(plan.baseline)
        events = RoundEvents(ctx, plan)
        decisions = stored_decisions(ctx)
        live = [t.training_id for t in trainings]
        for rnd in rounds:
            live = self._round(ctx, plan, rnd, live, events, decisions)
        return produced(plan, ctx.store, feed.missing_reasons())

    def _round(self, ctx: TrainContext, plan: Plan, rnd: Round, live: list[str],
               events: RoundEvents, decisions: dict[int, Decision]) -> list[str]:
        """Train `live` up to the round's epoch, then (at a rung) keep the best; the survivors."""
        if rnd.index in decisions:  # decided before an interruption: its training is done
            return list(decisions[rnd.index].kept)
        extra = [plan.baseline] if rnd.index == 0 and plan.baseline else []
        train_round(ctx, plan, rnd, live, extra, events)
        if not rnd.decides:
            return live
        decision = decide(ctx, plan, rnd, [t for t in live if t not in events.failed])
        save_decision(ctx, decision)
        events.stopped([t for t in live if t not in decision.kept])
        ctx.progress.say(f"halving round {rnd.index + 1} at epoch {rnd.epoch}: kept "
                         f"{len(decision.kept)} of {len(decision.compared)} ({', '.join(decision.kept)})")
        return list(decision.kept)


def train_round(ctx: TrainContext, plan: Plan, rnd: Round, live: list[str],
                extra: list[Candidate], events: RoundEvents) -> None:
    """The live trainings (and `extra`, run to their end) that have not yet reached the round's
    epoch, as trials that stop there; those that have are not started at all."""
    checkpoints = plan.checkpoints()
    specs = [plan.training(t) for t in live]
    todo = [s for s in specs if not reached(ctx.store, s, checkpoints[s.training_id], rnd.epoch)]
    todo += [c.spec for c in extra if not ctx.store.exists(c.candidate_id)]
    if not todo:
        return
    ctx.progress.say(f"halving round {rnd.index + 1}: {len(todo)} trainings up to epoch {rnd.epoch}")
    until = {s.training_id: min(rnd.epoch, s.epochs) for s in specs}
    run_trials(ctx.cfg, ctx.rd.path, todo, {s.training_id: checkpoints[s.training_id] for s in todo},
               events, TrialOptions(scheduler=RungStop(until)))


def planned_checkpoints(rounds: Sequence[Round], checkpoints: list[int]) -> int:
    """Checkpoints the rounds produce: each round's live trainings, at the checkpoint epochs
    after the previous round's epoch up to its own (for the progress count)."""
    total, reached_epoch = 0, 0
    for r in rounds:
        total += r.live * sum(1 for e in checkpoints if reached_epoch < e <= r.epoch)
        reached_epoch = r.epoch
    return total


def reached(store: AnswerStore, spec: TrainingSpec, checkpoints: list[int], epoch: int) -> bool:
    """Every checkpoint up to `epoch` has its answers: the training got there before."""
    return all(store.exists(spec.candidate_id(e)) for e in checkpoints if e <= epoch)


def decide(ctx: TrainContext, plan: Plan, rnd: Round, live: list[str]) -> Decision:
    """Rank the live trainings' epoch-`rnd.epoch` checkpoints and keep the best `rnd.keep`."""
    ids = {plan.training(t).candidate_id(rnd.epoch): t for t in live}
    compared = {c: t for c, t in ids.items() if ctx.store.exists(c)}
    if ctx.cfg.search.halving.rank_by == "val_loss":
        scores, calls = loss_scores(ctx.store, list(compared)), 0
    else:
        scores, calls = judged_scores(ctx.cfg, ctx.rd.path, list(compared), rnd)
    ranking = sorted(compared, key=lambda c: (-scores[c], c))
    kept = [compared[c] for c in survivors(ranking, min(rnd.keep, len(ranking)))] if ranking else []
    return Decision(rnd.index, rnd.epoch, [compared[c] for c in compared],
                    [compared[c] for c in ranking], kept,
                    {compared[c]: round(scores[c], 6) for c in ranking}, calls)


def loss_scores(store: AnswerStore, candidates: list[str]) -> dict[str, float]:
    """Minus each checkpoint's validation loss (higher is better; no loss ranks last)."""
    def score(cid: str) -> float:
        value = store.read(cid).metrics.get("validation_loss")
        return -float(value) if value is not None and value == value else float("-inf")

    return {c: score(c) for c in candidates}


def judged_scores(cfg: ExperimentConfig, run_dir: Path, candidates: list[str],
                  rnd: Round) -> tuple[dict[str, float], int]:
    """Bradley-Terry strengths from a round robin of `candidates`, and the judge calls it cost."""
    from hpo.search.adaptive.rung_match import round_robin_scores

    if len(candidates) < 2:
        return dict.fromkeys(candidates, 0.0), 0
    sample = rung_items(cfg, run_dir, rnd.index)
    return round_robin_scores(cfg, run_dir, candidates, sample)


def rung_items(cfg: ExperimentConfig, run_dir: Path, round_index: int) -> list[int] | None:
    """The validation items every match of a rung is judged on: a seeded sample, or all (None)."""
    from hpo.data import read_jsonl

    n = len(read_jsonl(run_dir / "data" / "validation.jsonl"))
    k = cfg.search.halving.items
    if k is None or k >= n:
        return None
    rng = random.Random(cfg.tournament.seed * 1009 + round_index)
    return sorted(rng.sample(range(n), k))


def stored_decisions(ctx: TrainContext) -> dict[int, Decision]:
    """The rungs decided before an interruption, by round."""
    rows = ctx.rd.state().get(STATE_KEY, {}).get("decisions", [])
    return {int(r["round"]): Decision(**r) for r in rows}


def save_decision(ctx: TrainContext, decision: Decision) -> None:
    rows = [asdict(d) for d in stored_decisions(ctx).values() if d.round != decision.round]
    ctx.rd.update_state(**{STATE_KEY: {"decisions": [*rows, asdict(decision)]}})
