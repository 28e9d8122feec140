"""Adaptive runs: train the anchor, search with the judge in the loop, then hand over.

Called from `RunSession._train()` when `search.search` is `optuna` or `search.scheduler`
is `asha`. Steps:
  1. train the anchor (the baseline) once; its answers are reused by every trial's reporter;
  2. run the searcher/scheduler, each trial reporting `judge_winrate` against the anchor;
  3. replace the session's plan and feed with the candidates actually produced: a trial
     stopped by ASHA keeps the checkpoints it reached (epochs never reached are not
     failures); a failed trial's checkpoints stay missing, as in a grid run.
The session then runs the tournament over those candidates, after the search.

Resume: `suggestions.jsonl` keeps every config the searcher proposed (written before its
trial starts) and `state.json` each trial's last win rate and whether it ended. A resumed
run skips ended trials (also those ASHA stopped), re-runs interrupted ones (they resume from
their stored epochs; stored judgments are not requested again), then warm-starts Optuna
with all of them and samples only the rest of the budget, numbering on.
"""

from __future__ import annotations

from typing import Any

from hpo.adaptive.reporter import AnchorReporterFactory
from hpo.adaptive.searchers import METRIC, make_scheduler, make_search_alg, read_suggestions
from hpo.adaptive.space import TRIAL_INDEX, AdaptiveSpace, load_adaptive_space
from hpo.config import ExperimentConfig
from hpo.controller import run_trials
from hpo.errors import ConfigError, HpoError
from hpo.pipeline import feed_from_disk
from hpo.plan import Plan
from hpo.search_space import SearchSpace
from hpo.types import Candidate, TrainingSpec

STATE_KEY = "adaptive_trials"  # state.json: {training_id: {"config", "judge_winrate", "ended"}}
SUGGESTIONS = "suggestions.jsonl"  # every config the searcher proposed, before its trial ran


def is_adaptive(cfg: ExperimentConfig) -> bool:
    return cfg.search.search != "grid" or cfg.search.scheduler != "none"


def make_adaptive_plan(cfg: ExperimentConfig) -> Plan:
    """`make_plan` that also accepts a `kind: optuna` space (for search.search: optuna)."""
    from hpo.config import lr_multiplier, resolve_resource
    from hpo.plan import make_plan
    from hpo.search_space import load_space

    if cfg.search.search != "optuna":
        plan = make_plan(cfg)
    else:
        mult = lr_multiplier(cfg)
        space = load_adaptive_space(resolve_resource(cfg.search.space), mult)
        base = load_space(resolve_resource(cfg.search.baseline), mult).candidates() \
            if cfg.search.baseline else []
        if len(base) > 1:
            raise ConfigError(f"{cfg.search.baseline}: a baseline must be one training with one checkpoint")
        plan = Plan(space, base[0] if base else None)
    validate_adaptive(cfg, plan)
    return plan


def validate_adaptive(cfg: ExperimentConfig, plan: Plan) -> None:
    """Checks that need the plan; call from pipeline.validate so nothing is written first."""
    if not is_adaptive(cfg):
        return
    if plan.baseline is None:
        raise ConfigError("adaptive search needs search.baseline: its answers are the anchor"
                          " that judge_winrate is measured against")
    optuna_space = isinstance(plan.space, AdaptiveSpace)
    if (cfg.search.search == "optuna") != optuna_space:
        raise ConfigError(f"{cfg.search.space}: search.search '{cfg.search.search}' needs a "
                          f"'{'kind: optuna' if cfg.search.search == 'optuna' else 'kind: grid'}' space")


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
    """Listeners around the session's: they record adaptive trials in state.json for resume."""

    def __init__(self, session: Any, recorder: SpecRecorder | None) -> None:
        self.session, self.recorder = session, recorder
        self.trials: dict[str, dict[str, Any]] = dict(session.rd.state().get(STATE_KEY, {}))

    def on_result(self, training_id: str, result: dict[str, Any]) -> None:
        entry = self.trials.setdefault(training_id, {"ended": False})
        if self.recorder is not None and training_id in self.recorder.configs:
            entry["config"] = self.recorder.configs[training_id]
        if METRIC in result:
            entry[METRIC] = float(result[METRIC])
            entry["epoch"] = int(result.get("epoch", 0))
        self._save()
        self.session.on_result(training_id, result)

    def on_end(self, training_id: str, error: str | None) -> None:
        entry = self.trials.setdefault(training_id, {})
        entry.update(ended=True, error=error)
        if self.recorder is not None and training_id in self.recorder.configs:
            entry["config"] = self.recorder.configs[training_id]
        self._save()
        self.session.on_end(training_id, error)

    def _save(self) -> None:
        self.session.state = self.session.rd.update_state(**{STATE_KEY: self.trials})


def run_adaptive(session: Any) -> None:
    """Anchor, then search, then the produced plan/feed on `session` (see module docstring)."""
    cfg, plan = session.cfg, session.plan
    validate_adaptive(cfg, plan)
    session.progress.total = _epoch_estimate(cfg, plan)  # [i15 touch point] keep the one live view
    anchor: Candidate = plan.baseline
    _train_anchor(session, anchor)
    factory = AnchorReporterFactory(anchor.candidate_id)
    if isinstance(plan.space, AdaptiveSpace):
        _search_optuna(session, plan.space, factory)
    else:
        _search_grid(session, plan.space, factory)
    _hand_over(session, anchor)


def _epoch_estimate(cfg: ExperimentConfig, plan: Plan) -> int:
    """Upper bound on checkpoint epochs, for progress lines (ASHA usually spends fewer)."""
    per = len(plan.space.checkpoints)
    n = cfg.search.num_samples if isinstance(plan.space, AdaptiveSpace) else len(plan.space.trainings)
    return n * per + 1


def _train_anchor(session: Any, anchor: Candidate) -> None:
    if session.store.exists(anchor.candidate_id):
        return
    session.progress.say(f"training the anchor {anchor.training_id} (judge_winrate is measured against it)")
    outcome = run_trials(session.cfg, session.rd.path, [anchor.spec],
                         {anchor.training_id: [anchor.epoch]}, session.on_result, session.on_end)
    if not session.store.exists(anchor.candidate_id):
        why = outcome.failed.get(anchor.training_id, "no answers were written")
        raise HpoError(f"the anchor training {anchor.training_id} failed: {why}")


def _search_grid(session: Any, space: SearchSpace, factory: AnchorReporterFactory) -> None:
    """The grid's trainings under ASHA; trials that ended before (done or stopped) are skipped."""
    log = TrialLog(session, None)
    ended = {t for t, e in log.trials.items() if e.get("ended") and not e.get("error")}
    todo = [t for t in space.trainings if t.training_id not in ended]
    if not todo:
        return
    cfg = session.cfg
    run_trials(cfg, session.rd.path, todo, {t.training_id: list(space.checkpoints) for t in todo},
               log.on_result, log.on_end, scheduler=make_scheduler(cfg, _max_epochs(todo)),
               wrap_report=factory)


def _max_epochs(trainings: list[TrainingSpec]) -> int:
    return max(t.epochs for t in trainings)


def _search_optuna(session: Any, space: AdaptiveSpace, factory: AnchorReporterFactory) -> None:
    """Re-run interrupted trials, then sample the rest of the budget, warm-started."""
    cfg, log_path = session.cfg, session.rd / SUGGESTIONS
    recorder = SpecRecorder(space)
    log = TrialLog(session, recorder)
    suggested = read_suggestions(log_path)
    specs = [recorder(c) for c in suggested]
    interrupted = [s for s in specs if not log.trials.get(s.training_id, {}).get("ended")]
    if interrupted:
        session.progress.say(f"resuming {len(interrupted)} interrupted trials")
        run_trials(cfg, session.rd.path, interrupted, EveryTraining(space.checkpoints),
                   log.on_result, log.on_end, scheduler=make_scheduler(cfg, space.file.epochs),
                   wrap_report=factory)
    remaining = cfg.search.num_samples - len(suggested)
    if remaining <= 0:
        return
    history = [(c, log.trials[s.training_id][METRIC]) for c, s in zip(suggested, specs, strict=True)
               if METRIC in log.trials.get(s.training_id, {})]
    start = 1 + max((int(c.get(TRIAL_INDEX, -1)) for c in suggested), default=-1)
    search_alg = make_search_alg(cfg, space, start, history, log_path)
    run_trials(cfg, session.rd.path, [], EveryTraining(space.checkpoints), log.on_result,
               log.on_end, scheduler=make_scheduler(cfg, space.file.epochs), search_alg=search_alg,
               num_samples=remaining, param_space=space.param_space(), spec_from_config=recorder,
               wrap_report=factory)


def _hand_over(session: Any, anchor: Candidate) -> None:
    """The session's plan and feed become the produced candidates (and the failed ones)."""
    space, store = session.plan.space, session.store
    lost = session.feed.missing_reasons()
    produced = [c for t in space.trainings for c in t.candidates(list(space.checkpoints))
                if store.exists(c.candidate_id) or c.candidate_id in lost]
    session.plan = Plan(ProducedSpace(list(space.trainings), list(space.checkpoints), produced),
                        anchor)
    ids = [c.candidate_id for c in produced]
    session.feed = feed_from_disk(store, ids + [anchor.candidate_id])
    for cid, why in lost.items():
        session.feed.missing(cid, why)
    session.progress.say(f"search produced {sum(store.exists(i) for i in ids)} candidates from "
                         f"{len(space.trainings)} trainings; the tournament runs over them now")
