"""The grid method: every planned training once, as Ray Tune trials (`search.search: grid`).

`hpo.run.train.train_method` picks it unless the config asks for adaptive search
(`hpo.search.adaptive.runner`) or successive halving (`hpo.search.adaptive.halving`).
"""

from __future__ import annotations

from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.search.method import TrainContext, Trained
from hpo.search.plan import Plan
from hpo.search.tuner import TrialOptions, run_trials


class GridTraining:
    """Every planned training, once; a resumed run skips trainings whose answers all exist."""

    known_upfront = True

    def train(self, ctx: TrainContext, plan: Plan, feed: CandidateFeed) -> Trained:
        done = answers_complete(ctx.store, plan)
        todo = [t for t in plan.trainings if t.training_id not in done]
        ctx.progress.total = sum(len(plan.checkpoints()[t.training_id]) for t in todo)
        if done:
            ctx.progress.say(f"resuming: {len(done)} trainings already complete, {len(todo)} to run")
        if todo:
            run_trials(ctx.cfg, ctx.rd.path, todo, plan.checkpoints(), ctx.events,
                       TrialOptions(stop=ctx.stop))
        feed.close("no answers were produced for this checkpoint")
        return Trained(plan, feed)


def answers_complete(store: AnswerStore, plan: Plan) -> set[str]:
    """Trainings whose every checkpoint already has answers (a resume skips them)."""
    done = set()
    for training_id, epochs in plan.checkpoints().items():
        spec = plan.training(training_id)
        if all(store.exists(spec.candidate_id(e)) for e in epochs):
            done.add(training_id)
    return done
