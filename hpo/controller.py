"""Runs trainings as Ray Tune trials and streams their per-epoch results back to the driver.

The controller only schedules: what a trial does lives in `hpo.trial`, what a result means
is decided by the listener (the run orchestrator), which logs and feeds the tournament.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune

from hpo.config import ExperimentConfig
from hpo.types import TrainingSpec

ResultListener = Callable[[str, dict[str, Any]], None]
EndListener = Callable[[str, str | None], None]


ReportWrapper = Callable[[Callable[[dict[str, Any]], None], TrainingSpec, Path, ExperimentConfig],
                         Any]


def trainable(config: dict[str, Any], wrap_report: ReportWrapper | None = None) -> None:
    """The Ray Tune function trainable: one training, reporting once per checkpoint epoch.

    `wrap_report` lets a searcher add to each epoch's report (e.g. the judge win rate against
    an anchor); the wrapper may hold reports back and must flush them in `close()`.
    """
    from hpo.trial.workers import run_trial  # [i10 touch point] N workers via Ray Train

    cfg = ExperimentConfig.model_validate(config["cfg"])
    spec = TrainingSpec.from_dict(config["spec"])
    run_dir = Path(config["run_dir"])

    def report(metrics: dict[str, Any]) -> None:
        tune.report(dict(metrics))

    wrapped = wrap_report(report, spec, run_dir, cfg) if wrap_report else None
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

    def __init__(self, on_result: ResultListener | None = None, on_end: EndListener | None = None,
                 outcome: TrialOutcome | None = None,
                 trial_id: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.on_result, self.on_end, self.outcome, self.trial_id = on_result, on_end, outcome, trial_id

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (_Relay, ())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **kw: Any) -> None:
        if self.on_result and self.trial_id:
            self.on_result(self.trial_id(trial.config), result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **kw: Any) -> None:
        self._ended(trial, None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **kw: Any) -> None:
        self._ended(trial, _error_line(trial))

    def _ended(self, trial: Any, error: str | None) -> None:
        if self.on_end and self.trial_id and self.outcome is not None:
            self.outcome.errors[self.trial_id(trial.config)] = error
            self.on_end(self.trial_id(trial.config), error)


def _error_line(trial: Any) -> str:
    """The last line of a failed trial's error file: the exception, not the whole traceback."""
    path = getattr(trial, "error_file", None) or ""
    try:
        lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "trial failed"
    except OSError:
        return "trial failed"


def ensure_ray(cfg: ExperimentConfig) -> None:
    """Start a local Ray (or join `--address`) once per driver process."""
    import ray

    from hpo.trial.workers import prepare_env, ray_cpus  # [i10 touch point]

    if ray.is_initialized():
        return
    prepare_env()
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if cfg.resources.address:
        ray.init(address=cfg.resources.address, log_to_driver=False)
    else:
        ray.init(num_cpus=ray_cpus(cfg), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)


def run_trials(cfg: ExperimentConfig, run_dir: Path, specs: Sequence[TrainingSpec],
               checkpoints: dict[str, list[int]], on_result: ResultListener,
               on_end: EndListener, scheduler: Any = None, search_alg: Any = None,
               num_samples: int = 1, param_space: dict[str, Any] | None = None,
               spec_from_config: Callable[[dict[str, Any]], TrainingSpec] | None = None,
               wrap_report: ReportWrapper | None = None) -> TrialOutcome:
    """Run one Ray Tune trial per spec (grid) or per sample (searcher), with retries.

    With a searcher, `param_space` holds its distributions and `spec_from_config` turns a
    sampled config into a TrainingSpec; listeners then receive that spec's training id.
    """

    ensure_ray(cfg)
    outcome = TrialOutcome()
    space = param_space or {
        "spec_id": tune.grid_search([s.training_id for s in specs]),
    }
    by_id = {s.training_id: s for s in specs}
    base = {"cfg": cfg.model_dump(mode="json"), "run_dir": str(run_dir.resolve())}

    def _fn(config: dict[str, Any]) -> None:
        spec = spec_from_config(config) if spec_from_config else by_id[config["spec_id"]]
        epochs = checkpoints.get(spec.training_id, list(range(1, spec.epochs + 1)))
        trainable({**base, **config, "spec": spec.to_dict(), "checkpoints": epochs}, wrap_report)

    def _trial_id(config: dict[str, Any]) -> str:
        return spec_from_config(config).training_id if spec_from_config else str(config["spec_id"])

    from hpo.trial.workers import trial_resources  # [i10 touch point] driver vs worker bundles

    resources = trial_resources(cfg)
    tuner = tune.Tuner(
        tune.with_resources(_fn, resources),
        param_space=space,
        tune_config=tune.TuneConfig(num_samples=num_samples, reuse_actors=True,
                                    max_concurrent_trials=cfg.search.max_concurrent,
                                    scheduler=scheduler, search_alg=search_alg),
        run_config=tune.RunConfig(
            name="tune", storage_path=str((run_dir / "ray").resolve()), verbose=0,
            failure_config=tune.FailureConfig(max_failures=cfg.resources.max_failures),
            callbacks=[_Relay(on_result, on_end, outcome, _trial_id)]),
    )
    tuner.fit()
    return outcome
