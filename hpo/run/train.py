"""The train stage: the plan's trainings as Ray Tune trials, by a pluggable `TrainMethod`.

The grid method lives here; adaptive search (a searcher/scheduler with a per-epoch judge
reporter) is the plug-in `hpo.adaptive.runner.AdaptiveTraining`, chosen when
`search.adaptive` is set; synchronous successive halving (`search.scheduler: halving`) is
`hpo.adaptive.halving.HalvingTraining`.
"""

from __future__ import annotations

from hpo.answers import AnswerStore
from hpo.config import ExperimentConfig
from hpo.feed import CandidateFeed
from hpo.plan import Plan
from hpo.train_plugin import TrainContext, Trained, TrainMethod
from hpo.tuner import TrialOptions, run_trials


def train_method(cfg: ExperimentConfig) -> TrainMethod:
    """The grid as planned, or the adaptive plug-in."""
    if cfg.search.scheduler == "halving":
        from hpo.adaptive.halving import HalvingTraining

        return HalvingTraining()
    if cfg.search.adaptive:
        from hpo.adaptive.runner import AdaptiveTraining

        return AdaptiveTraining()
    return GridTraining()


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
