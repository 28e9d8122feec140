"""A trial on N workers: the Ray Tune trial drives a Ray Train group (`resources.workers_per_trial`).

With one worker the trial trains in its own process (`run_training`). With N > 1 the Tune trial
is a light driver that builds a `TorchTrainer` of N workers (one GPU each with `use_gpu`); Ray
Train starts the torch process group (gloo on CPU, nccl on GPU; its own free port, never a fixed
one), and every worker runs `run_training` on its rank: DDP, or DeepSpeed ZeRO-2 when
`train.deepspeed` is set. Each checkpoint epoch's `ray.train.report` (a barrier over the ranks)
reaches Tune through `TuneReportCallback` as one trial result carrying rank 0's metrics.

Resuming does not go through Ray Train checkpoints: the trial's own folder holds the state
(`state/` or the ZeRO shards in `ds_state/`), like a one-worker trial, so `hpo run --resume`
continues after the last finished epoch. A failed worker group is not restarted by Ray Train
(`controller_failure_limit=0`); Tune's own retry (`resources.max_failures`) restarts the trial,
which resumes from its folder.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.trial.loop import Report, run_training
from hpo.types import TrainingSpec

# Ray's trial and worker processes otherwise chdir into Ray's own folders; every path hpo
# hands them is absolute anyway, but user code (a DeepSpeed config, data) stays where it was.
RAY_ENV = {"RAY_CHDIR_TO_TRIAL_DIR": "0"}


def prepare_env() -> None:
    """Environment for Ray set before `ray.init`, so trials and workers inherit it."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)


def trial_resources(cfg: ExperimentConfig) -> dict[str, float]:
    """What Tune reserves for one trial. N > 1: the driver holds no CPU (a token of memory, as
    Ray rejects an empty bundle); its workers reserve theirs from Ray Train."""
    r = cfg.resources
    if r.workers_per_trial > 1:
        return {"cpu": 0, "memory": 1e6}
    return {"cpu": r.cpus_per_trial, "gpu": r.gpus_per_trial or (1.0 if r.use_gpu else 0.0)}


def worker_resources(cfg: ExperimentConfig) -> dict[str, float]:
    """Per Ray Train worker: its share of `cpus_per_trial` (one GPU comes from use_gpu)."""
    return {"CPU": cfg.resources.cpus_per_trial / cfg.resources.workers_per_trial}


def ray_cpus(cfg: ExperimentConfig) -> int:
    """CPUs for a local Ray: enough for `max_concurrent` trials at once."""
    return max(int(cfg.search.max_concurrent * cfg.resources.cpus_per_trial + 0.999), 1)


def run_trial(spec: TrainingSpec, checkpoints: list[int], run_dir: Path, cfg: ExperimentConfig,
              report: Report) -> None:
    """Run one training on `resources.workers_per_trial` workers, reporting each checkpoint."""
    if cfg.resources.workers_per_trial == 1:
        run_training(spec, checkpoints, run_dir, cfg, report)
        return
    _fit(spec, checkpoints, Path(run_dir), cfg)


def _fit(spec: TrainingSpec, checkpoints: list[int], run_dir: Path, cfg: ExperimentConfig) -> None:
    import ray.train
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"spec": spec.to_dict(), "checkpoints": checkpoints,
                           "run_dir": str(run_dir.resolve()), "cfg": cfg.model_dump(mode="json")},
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.resources.workers_per_trial,
                                               use_gpu=cfg.resources.use_gpu,
                                               resources_per_worker=worker_resources(cfg)),
        run_config=ray.train.RunConfig(
            name=f"{spec.training_id}-{uuid.uuid4().hex[:8]}",  # one per attempt
            storage_path=str((run_dir / "ray" / "train").resolve()),
            # Train V2 (the 2.60 default) types; mypy resolves ray.train's names to the V1 ones
            callbacks=[TuneReportCallback()],  # type: ignore[list-item]
            failure_config=ray.train.FailureConfig(controller_failure_limit=0)))  # type: ignore[call-arg]
    trainer.fit()


def _worker_loop(config: dict[str, Any]) -> None:
    """On every Ray Train worker: this rank's part of `run_training`."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    from hpo.trial.dist import Dist

    dist = Dist(ctx.get_world_rank(), ctx.get_world_size(), ray.train.torch.get_device())
    cfg = ExperimentConfig.model_validate(config["cfg"])

    def report(metrics: dict[str, Any]) -> None:
        ray.train.report(dict(metrics))

    run_training(TrainingSpec.from_dict(config["spec"]), list(config["checkpoints"]),
                 Path(config["run_dir"]), cfg, report, dist)
