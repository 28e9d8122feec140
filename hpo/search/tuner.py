"""The train stage's engine: trainings as Ray Tune trials, per-epoch results streamed back.

The tuner only schedules: what a trial does lives in `hpo.trial`, what a result means
is decided by the `TrialEvents` listener (the run's recorder), which logs and feeds the tournament.
Adaptive search plugs in through `TrialOptions` (searcher, scheduler, per-epoch reporter).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ray import tune

from hpo.config.schema import ExperimentConfig
from hpo.config.secrets import redact, secret_values
from hpo.types import TrainingSpec

SECRETS_KEY = "hpo_secrets"  # a trial's live secrets beside its redacted config, never in it


class TrialEvents(Protocol):
    """Receives trial events in the driver: each checkpoint epoch's result, and each end.
    A listener may also have `on_tick()`, called at each turn of Tune's loop (progress tails)."""

    def on_result(self, training_id: str, result: dict[str, Any]) -> None: ...

    def on_end(self, training_id: str, error: str | None) -> None: ...


ReportWrapper = Callable[[Callable[[dict[str, Any]], None], TrainingSpec, Path, ExperimentConfig],
                         Any]


def trainable(config: dict[str, Any], wrap_report: ReportWrapper | None = None) -> None:
    """The Ray Tune function trainable: one training, reporting once per checkpoint epoch.

    `wrap_report` lets a searcher add to each epoch's report (e.g. the judge win rate against
    an anchor); the wrapper may hold reports back and must flush them in `close()`.
    """
    from hpo.trial.workers import run_trial  # N workers via Ray Train when workers_per_trial > 1

    cfg = ExperimentConfig.model_validate(config["cfg"])
    spec = TrainingSpec.from_dict(config["spec"])
    run_dir = Path(config["run_dir"])

    def report(metrics: dict[str, Any]) -> None:
        tune.report(dict(metrics))

    wrapped = wrap_report(report, spec, run_dir, with_secrets(config)) if wrap_report else None
    run_trial(spec, list(config["checkpoints"]), run_dir, cfg, report=wrapped or report)
    if wrapped is not None:
        wrapped.close()


@dataclass
class TrialOutcome:
    """Per training: None when it finished, else the last error (after Ray Tune's retries)."""

    errors: dict[str, str | None] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        return {k: v for k, v in self.errors.items() if v is not None}


class _Relay(tune.Callback):  # type: ignore[misc]
    """Forwards trial events to the driver's listeners (runs in the driver process).

    Ray pickles callbacks into its experiment snapshot; listeners hold locks and stores, so
    they are dropped on pickling (a restored snapshot gets an inert relay).
    """

    def __init__(self, events: TrialEvents | None = None, outcome: TrialOutcome | None = None,
                 trial_id: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.events, self.outcome, self.trial_id = events, outcome, trial_id

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (_Relay, ())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **kw: Any) -> None:
        if self.events and self.trial_id:
            self.events.on_result(self.trial_id(trial.config), result)

    def on_step_end(self, iteration: int, trials: list, **kw: Any) -> None:
        """Each turn of Tune's loop: listeners that tail trial progress get a look."""
        tick = getattr(self.events, "on_tick", None)
        if tick is not None:
            tick()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **kw: Any) -> None:
        self._ended(trial, None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **kw: Any) -> None:
        self._ended(trial, _error_line(trial))

    def _ended(self, trial: Any, error: str | None) -> None:
        if self.events and self.trial_id and self.outcome is not None:
            self.outcome.errors[self.trial_id(trial.config)] = error
            self.events.on_end(self.trial_id(trial.config), error)


class _StopAfterCheckpoint(tune.stopper.Stopper):  # type: ignore[misc]
    """Ends each trial at its next result (its checkpoint is stored by then)
    once `stop()` is true. Pickled into Ray's snapshot as an inert stopper (like _Relay)."""

    def __init__(self, stop: Callable[[], bool] | None = None) -> None:
        self.stop = stop

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (_StopAfterCheckpoint, ())

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return bool(self.stop and self.stop())

    def stop_all(self) -> bool:
        return False


def _error_line(trial: Any) -> str:
    """The last line of a failed trial's error file: the exception, not the whole traceback."""
    path = getattr(trial, "error_file", None) or ""
    try:
        lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "trial failed"
    except OSError:
        return "trial failed"


def ensure_ray(cfg: ExperimentConfig) -> None:
    """Join a Ray cluster, or start a private one, once per driver process: `--address`, else
    the job's RAY_ADDRESS, else a Ray started on this machine with `ray start --head` (joined,
    never doubled: two Rays on one node would hand out the same GPUs; Ray also refuses num_cpus
    when joining), else a private Ray sized for `max_concurrent` trials."""
    import ray

    from hpo.search import cluster
    from hpo.trial.workers import prepare_env, ray_cpus

    if ray.is_initialized():
        return
    prepare_env()
    keep_keys_out_of_runtime_env()
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    address = cluster.cluster_address(cfg) or cluster.local_cluster()
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=ray_cpus(cfg), include_dashboard=False,
                 log_to_driver=False, configure_logging=False)


def keep_keys_out_of_runtime_env() -> None:
    """Ray Tune copies the driver's AWS keys into every trial actor's runtime_env, which Ray's
    runtime-env agent then logs in clear (runtime_env_agent.log). Trials read them from their
    node's environment instead: inherited on a private Ray, set on each node of a cluster."""
    from ray.tune.execution import class_cache

    class_cache.ENV_VARS_TO_PROPAGATE = {name for name in class_cache.ENV_VARS_TO_PROPAGATE
                                         if not name.startswith("AWS_")}


def join_cluster(cfg: ExperimentConfig) -> str | None:
    """Join the run's cluster (if any) before anything is written, and fix `run.transport` from
    its node count. Returns the line that says what was decided, or None without a cluster."""
    from hpo.search import cluster

    address = cluster.cluster_address(cfg) or cluster.local_cluster()
    if address is None:
        cluster.resolve_transport(cfg, None)
        return None
    ensure_ray(cfg)
    nodes = alive_nodes()
    how = "auto: " if cfg.run.transport == "auto" else ": "
    return f"run.transport{how}{cluster.resolve_transport(cfg, nodes)} (the Ray cluster at {address} has {nodes} node(s))"


def alive_nodes() -> int:
    """Nodes of the joined Ray cluster that are alive (0 when not connected)."""
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive")) if ray.is_initialized() else 0


@dataclass(frozen=True)
class TrialOptions:
    """How a batch of trials is driven: a grid of known specs (the default) or a searcher.

    With `search_alg`, `param_space` holds its distributions and `spec_from_config` turns a
    sampled config into a TrainingSpec; listeners then receive that spec's training id.
    `wrap_report` adds to each epoch's report (e.g. the judge win rate against an anchor).
    `stop()` true: each trial ends at its next reported checkpoint (already stored), e.g.
    when the judge is gone past its deadline in overlap mode (the run is then resumable).
    """

    scheduler: Any = None
    search_alg: Any = None
    num_samples: int = 1
    param_space: dict[str, Any] | None = None
    spec_from_config: Callable[[dict[str, Any]], TrainingSpec] | None = None
    wrap_report: ReportWrapper | None = None
    stop: Callable[[], bool] | None = None


GRID = TrialOptions()


def run_trials(cfg: ExperimentConfig, run_dir: Path, specs: Sequence[TrainingSpec],
               checkpoints: dict[str, list[int]], events: TrialEvents,
               opts: TrialOptions = GRID) -> TrialOutcome:
    """Run one Ray Tune trial per spec (grid) or per sample (searcher), with retries.

    When trials run through Ray (`run.transport`), they get their inputs from the object
    store and send their answers back in their reports; only this driver writes the run folder.
    """
    from hpo.search.cluster import trial_resources
    from hpo.trial import transport

    ensure_ray(cfg)
    inputs = transport.pack_inputs(run_dir) if transport.remote_trials(cfg) else None
    if inputs is not None:
        events = Received(transport.Receiver(run_dir, events.on_result), events.on_end,
                          getattr(events, "on_tick", None))
    outcome = TrialOutcome()
    by_id = {s.training_id: s for s in specs}
    fn = trial_function(cfg, run_dir, by_id, checkpoints, opts)
    if inputs is not None:
        fn = tune.with_parameters(fn, hpo_inputs=inputs)
    storage_path, name = transport.storage(cfg, run_dir)
    tuner = tune.Tuner(
        tune.with_resources(fn, trial_resources(cfg)),
        param_space=opts.param_space or {"spec_id": tune.grid_search(list(by_id))},
        tune_config=tune.TuneConfig(num_samples=opts.num_samples, reuse_actors=True,
                                    max_concurrent_trials=cfg.search.max_concurrent,
                                    scheduler=opts.scheduler, search_alg=opts.search_alg),
        run_config=tune.RunConfig(
            name=name, storage_path=storage_path, verbose=0,
            failure_config=tune.FailureConfig(max_failures=cfg.resources.max_failures),
            callbacks=[_Relay(events, outcome, spec_lookup(by_id, opts.spec_from_config))],
            stop=_StopAfterCheckpoint(opts.stop) if opts.stop else None),
    )
    tuner.fit()
    return outcome


@dataclass(frozen=True)
class Received:
    """Trial events whose results pass through the driver-side transport receiver first."""

    on_result: Callable[[str, dict[str, Any]], None]
    on_end: Callable[[str, str | None], None]
    on_tick: Callable[[], None] | None = None


def spec_lookup(by_id: dict[str, TrainingSpec],
                from_config: Callable[[dict[str, Any]], TrainingSpec] | None
                ) -> Callable[[dict[str, Any]], str]:
    """A trial config -> its training id (a searcher's config, or the grid's spec id)."""
    def training_id(config: dict[str, Any]) -> str:
        return from_config(config).training_id if from_config else str(config["spec_id"])
    return training_id


def with_secrets(config: dict[str, Any]) -> ExperimentConfig:
    """The trial's config with the live secrets put back, for the judge a searcher's report
    wrapper builds; training gets the redacted one, so nothing it writes or hands on has them."""
    from hpo.config.schema import set_dotted

    data = copy.deepcopy(config["cfg"])
    for dotted, value in config.get(SECRETS_KEY, {}).items():
        set_dotted(data, dotted, value)
    return ExperimentConfig.model_validate(data)


def trial_function(cfg: ExperimentConfig, run_dir: Path, by_id: dict[str, TrainingSpec],
                   checkpoints: dict[str, list[int]], opts: TrialOptions) -> Callable[..., None]:
    """The function trainable. It is pickled to the workers, so it captures only plain data
    and the two callables it needs, never the searcher or scheduler. Ray stores the param
    space on disk: trials get the config redacted, and the secrets it held (the judge URL's
    password) only through this closure, which Ray keeps in memory (hpo.config.secrets)."""
    from hpo.trial import transport

    dump = cfg.model_dump(mode="json")
    base = {"cfg": redact(dump), "run_dir": str(run_dir.resolve())}
    secrets = secret_values(dump)
    from_config, wrap_report = opts.spec_from_config, opts.wrap_report

    def _fn(config: dict[str, Any], hpo_inputs: Any = None) -> None:
        spec = from_config(config) if from_config else by_id[config["spec_id"]]
        epochs = checkpoints.get(spec.training_id, list(range(1, spec.epochs + 1)))
        full = {**base, **config, "spec": spec.to_dict(), "checkpoints": epochs, SECRETS_KEY: secrets}
        if hpo_inputs is not None:  # trials through Ray: nothing from the driver's disk
            transport.run_remote(full, hpo_inputs, wrap_report, trainable)
        else:
            trainable(full, wrap_report)
    return _fn
