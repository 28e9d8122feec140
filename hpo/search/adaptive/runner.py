"""Adaptive training: the train stage's plug-in for a search with the judge in the loop.

Chosen by `hpo.run.train.train_method` when `search.adaptive` is set (`search.search` is
`optuna` or `search.scheduler` is `asha`). Steps:
  1. train the anchor (the baseline) once; its answers are reused by every trial's reporter;
  2. run the searcher/scheduler, each trial reporting `judge_winrate` against the anchor;
  3. return the candidates actually produced: a trial stopped by ASHA keeps the checkpoints
     it reached (epochs never reached are not failures); a failed trial's checkpoints stay
     missing, as in a grid run.
The judge stage then runs the tournament over those candidates, after the search.

Resume: `suggestions.jsonl` keeps every config the searcher proposed (written before its
trial starts) and `state.json` each trial's last win rate and whether it ended. A resumed
run skips ended trials (also those ASHA stopped), re-runs interrupted ones (they resume from
their stored epochs; stored judgments are not requested again), then warm-starts Optuna
with all of them and samples only the rest of the budget, numbering on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.errors import HpoError
from hpo.rundir.answers import AnswerStore
from hpo.rundir.feed import CandidateFeed
from hpo.search.adaptive.reporter import AnchorReporterFactory
from hpo.search.adaptive.searchers import (
    METRIC,
    make_search_alg,
    make_trial_scheduler,
    read_suggestions,
)
from hpo.search.adaptive.space import TRIAL_INDEX, AdaptiveSpace
from hpo.search.method import TrainContext, Trained, feed_from_disk
from hpo.search.plan import Plan
from hpo.search.space import SearchSpace
from hpo.search.tuner import TrialOptions, alive_nodes, ensure_ray, run_trials
from hpo.types import Candidate, TrainingSpec

STATE_KEY = "adaptive_trials"  # state.json: {training_id: {"config", "judge_winrate", "ended"}}
SUGGESTIONS = "suggestions.jsonl"  # every config the searcher proposed, before its trial ran


class SpecRecorder:
    """`spec_from_config` that also remembers each sampled config (in the driver's copy)."""

    def __init__(self, space: AdaptiveSpace) -> None:
        self.space = space
        self.configs: dict[str, dict[str, Any]] = {}

    def __call__(self, config: dict[str, Any]) -> TrainingSpec:
        spec = self.space.spec_from_config(config)
        if spec.training_id not in self.configs:
            self.configs[spec.training_id] = {k: v.item() if hasattr(v, "item") else v
                                              for k, v in config.items()}
            self.space.add(spec)
        return spec


class EveryTraining(dict):  # type: ignore[type-arg]
    """A checkpoints map that gives every (not yet known) training the space's checkpoints."""

    def __init__(self, checkpoints: list[int]) -> None:
        super().__init__()
        self.checkpoints = list(checkpoints)

    def get(self, key: Any, default: Any = None) -> list[int]:
        return list(self.checkpoints)


class ProducedSpace(SearchSpace):
    """The trainings a search ran and exactly the candidates they produced (or lost)."""

    def __init__(self, trainings: list[TrainingSpec], checkpoints: list[int],
                 candidates: list[Candidate]) -> None:
        self._candidates = list(candidates)
        super().__init__(trainings, checkpoints)

    def candidates(self) -> list[Candidate]:
        return list(self._candidates)


class TrialLog:
    """Trial events around the run's: they record adaptive trials in state.json for resume."""

    def __init__(self, ctx: TrainContext, recorder: SpecRecorder | None) -> None:
        self.ctx, self.recorder = ctx, recorder
        self.trials: dict[str, dict[str, Any]] = dict(ctx.rd.state().get(STATE_KEY, {}))

    def on_result(self, training_id: str, result: dict[str, Any]) -> None:
        entry = self.trials.setdefault(training_id, {"ended": False})
        if self.recorder is not None and training_id in self.recorder.configs:
            entry["config"] = self.recorder.configs[training_id]
        if METRIC in result:
            entry[METRIC] = float(result[METRIC])
            entry["epoch"] = int(result.get("epoch", 0))
        self._save()
        self.ctx.events.on_result(training_id, result)

    def on_end(self, training_id: str, error: str | None) -> None:
        entry = self.trials.setdefault(training_id, {})
        entry.update(ended=True, error=error)
        if self.recorder is not None and training_id in self.recorder.configs:
            entry["config"] = self.recorder.configs[training_id]
        self._save()
        self.ctx.events.on_end(training_id, error)

    def on_tick(self) -> None:
        """Step-level progress passes through to the run's listener."""
        tick = getattr(self.ctx.events, "on_tick", None)
        if tick is not None:
            tick()

    def _save(self) -> None:
        self.ctx.rd.update_state(**{STATE_KEY: self.trials})


class AdaptiveTraining:
    """Anchor, then search, then the produced candidates (see module docstring)."""

    known_upfront = False  # the search decides the candidates: the tournament runs after it

    def train(self, ctx: TrainContext, plan: Plan, feed: CandidateFeed) -> Trained:
        anchor = plan.baseline
        if anchor is None:  # the plan stage rejects this; kept for direct callers
            raise HpoError("adaptive search needs search.baseline as its anchor")
        ctx.progress.total = _epoch_estimate(ctx.cfg, plan)
        _train_anchor(ctx, anchor)
        with anchor_reporters(ctx, anchor.candidate_id) as factory:
            if isinstance(plan.space, AdaptiveSpace):
                _search_optuna(ctx, plan.space, factory)
            else:
                _search_grid(ctx, plan.space, factory)
        trained = produced(plan, ctx.store, feed.missing_reasons())
        ids = [c.candidate_id for c in trained.plan.candidates]
        ctx.progress.say(f"search produced {sum(ctx.store.exists(i) for i in ids)} candidates from "
                         f"{len(plan.space.trainings)} trainings; the tournament runs over them now")
        return trained


@contextmanager
def anchor_reporters(ctx: TrainContext, anchor_id: str) -> Iterator[AnchorReporterFactory]:
    """The trials' report wrapper for the search. When trials may run on other nodes (`run.transport:
    ray`, or a cluster of several nodes sharing the run folder) they judge through an actor on
    this node, which alone opens the verdict store (never from another node, over a shared
    filesystem); it is ended when the search is over. On one node each trial opens it itself."""
    from hpo.search.adaptive.reporter import start_anchor_judge, stop_anchor_judge
    from hpo.trial.transport import remote_trials

    ensure_ray(ctx.cfg)
    if not remote_trials(ctx.cfg) and alive_nodes() < 2:
        yield AnchorReporterFactory(anchor_id)
        return
    judge = start_anchor_judge(ctx.cfg, ctx.rd.path, anchor_id)
    try:
        yield AnchorReporterFactory(anchor_id, remote=judge)
    finally:
        stop_anchor_judge(judge)


def _epoch_estimate(cfg: ExperimentConfig, plan: Plan) -> int:
    """Upper bound on checkpoint epochs, for progress lines (ASHA usually spends fewer)."""
    per = len(plan.space.checkpoints)
    n = cfg.search.num_samples if isinstance(plan.space, AdaptiveSpace) else len(plan.space.trainings)
    return n * per + 1


def _train_anchor(ctx: TrainContext, anchor: Candidate) -> None:
    if ctx.store.exists(anchor.candidate_id):
        return
    ctx.progress.say(f"training the anchor {anchor.training_id} (judge_winrate is measured against it)")
    outcome = run_trials(ctx.cfg, ctx.rd.path, [anchor.spec], {anchor.training_id: [anchor.epoch]},
                         ctx.events)
    if not ctx.store.exists(anchor.candidate_id):
        why = outcome.failed.get(anchor.training_id, "no answers were written")
        raise HpoError(f"the anchor training {anchor.training_id} failed: {why}")


def _search_grid(ctx: TrainContext, space: SearchSpace, factory: AnchorReporterFactory) -> None:
    """The grid's trainings under ASHA; trials that ended before (done or stopped) are skipped."""
    log = TrialLog(ctx, None)
    ended = {t for t, e in log.trials.items() if e.get("ended") and not e.get("error")}
    todo = [t for t in space.trainings if t.training_id not in ended]
    if not todo:
        return
    opts = TrialOptions(scheduler=make_trial_scheduler(ctx.cfg, _max_epochs(todo)), wrap_report=factory)
    run_trials(ctx.cfg, ctx.rd.path, todo, {t.training_id: list(space.checkpoints) for t in todo},
               log, opts)


def _max_epochs(trainings: list[TrainingSpec]) -> int:
    return max(t.epochs for t in trainings)


def _search_optuna(ctx: TrainContext, space: AdaptiveSpace, factory: AnchorReporterFactory) -> None:
    """Re-run interrupted trials, then sample the rest of the budget, warm-started."""
    cfg, log_path = ctx.cfg, ctx.rd / SUGGESTIONS
    recorder = SpecRecorder(space)
    log = TrialLog(ctx, recorder)
    suggested = read_suggestions(log_path)
    specs = [recorder(c) for c in suggested]
    interrupted = [s for s in specs if not log.trials.get(s.training_id, {}).get("ended")]
    if interrupted:
        ctx.progress.say(f"resuming {len(interrupted)} interrupted trials")
        resume = TrialOptions(scheduler=make_trial_scheduler(cfg, space.file.epochs), wrap_report=factory)
        run_trials(cfg, ctx.rd.path, interrupted, EveryTraining(space.checkpoints), log, resume)
    remaining = cfg.search.num_samples - len(suggested)
    if remaining <= 0:
        return
    history = [(c, log.trials[s.training_id][METRIC]) for c, s in zip(suggested, specs, strict=True)
               if METRIC in log.trials.get(s.training_id, {})]
    start = 1 + max((int(c.get(TRIAL_INDEX, -1)) for c in suggested), default=-1)
    search = TrialOptions(scheduler=make_trial_scheduler(cfg, space.file.epochs), wrap_report=factory,
                          search_alg=make_search_alg(cfg, space, start, history, log_path),
                          num_samples=remaining, param_space=space.param_space(),
                          spec_from_config=recorder)
    run_trials(cfg, ctx.rd.path, [], EveryTraining(space.checkpoints), log, search)


def produced(plan: Plan, store: AnswerStore, lost: dict[str, str]) -> Trained:
    """The candidates the search produced (and the failed ones, `lost`, as missing)."""
    space, anchor = plan.space, plan.baseline
    candidates = [c for t in space.trainings for c in t.candidates(list(space.checkpoints))
                  if store.exists(c.candidate_id) or c.candidate_id in lost]
    result = Plan(ProducedSpace(list(space.trainings), list(space.checkpoints), candidates), anchor)
    anchor_ids = [anchor.candidate_id] if anchor else []
    feed = feed_from_disk(store, [c.candidate_id for c in candidates] + anchor_ids)
    for cid, why in lost.items():
        feed.missing(cid, why)
    return Trained(result, feed)
