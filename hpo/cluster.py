"""Checks for running on a Ray cluster, made before anything is written (issue 11).

`hpo run --address HOST:PORT` joins a cluster from one of its nodes. A `ray://` (Ray Client)
address is refused: under Ray Client, Ray Tune's driver loop runs on the cluster, so the
callbacks that carry results to this process would run there and every candidate would end
"missing". `ray job submit` runs `hpo run` on the head instead, which is the supported way to
launch from a laptop (docs/cluster.md).
"""

from __future__ import annotations

from hpo.config import ExperimentConfig
from hpo.errors import ConfigError
from hpo.trial.transport import cluster_address, remote_trials

JOB_HINT = ("submit the run to the cluster instead: ray job submit --address http://HEAD:8265 "
            "--working-dir . -- hpo run ...  (docs/cluster.md)")


def check_address(address: str | None) -> None:
    """One-line ConfigError for addresses `hpo run` cannot drive trials through."""
    if address is None:
        return
    if address.startswith("ray://"):
        raise ConfigError(f"resources.address {address}: Ray Client (ray://) is not supported; "
                          + JOB_HINT)
    if address.startswith(("http://", "https://")):
        raise ConfigError(f"resources.address {address} is a dashboard (Jobs API) address; use "
                          "the GCS address HOST:6379 from a cluster node, or " + JOB_HINT)


def validate_cluster(cfg: ExperimentConfig) -> None:
    """Cluster settings that can be checked on the driver alone."""
    check_address(cluster_address(cfg))
    gpu_split(cfg)
    if cfg.resources.workers_per_trial > 1 and remote_trials(cfg):
        raise ConfigError("resources.workers_per_trial > 1 needs the run folder on every node: set "
                          "run.transport: disk with a shared filesystem (see docs/cluster.md)")
    if cfg.search.adaptive and remote_trials(cfg):
        raise ConfigError("adaptive search (search.search/scheduler) judges inside trials and needs "
                          "the run folder on every node: set run.transport: disk with a shared "
                          "filesystem, or use the grid")


def trial_resources(cfg: ExperimentConfig) -> dict[str, float]:
    """What Tune reserves for one trial (the same numbers the plan prints)."""
    from hpo.trial.workers import trial_resources as reserved

    return reserved(cfg)


def trial_gpus(cfg: ExperimentConfig) -> float:
    """GPUs one trial uses: `gpus_per_trial`, or one per Ray Train worker with `use_gpu`."""
    r = cfg.resources
    return r.gpus_per_trial or (float(r.workers_per_trial) if r.use_gpu else 0.0)


def judge_gpus(cfg: ExperimentConfig) -> float:
    """GPUs the judge's Ray actor holds: judge.serve.gpus (at least its tensor parallel size)."""
    serve = cfg.judge.serve
    if serve is None:
        return 0.0
    return max(serve.gpus, float(serve.tensor_parallel_size or 0))


def gpu_split(cfg: ExperimentConfig) -> str | None:
    """The --dry-run line that splits GPUs between the judge and concurrent trials, or None when
    nothing uses GPUs. Raises a one-line ConfigError when they cannot fit on one node."""
    per_trial, slots = trial_gpus(cfg), cfg.search.max_concurrent
    judge = judge_gpus(cfg)
    if not per_trial and not judge:
        return None
    trials = per_trial * slots
    node = cfg.resources.gpus_per_node
    line = f"GPUs: judge {judge:g} (Ray actor) + trials {slots} x {per_trial:g} = {trials:g}"
    if node is not None:
        if judge + trials > node:
            fit = int((node - judge) // per_trial) if per_trial else 0
            raise ConfigError(f"GPUs: judge {judge:g} + {slots} concurrent trials x {per_trial:g} = "
                              f"{judge + trials:g} > {node} per node; set search.max_concurrent: {fit}")
        line += f" of {node} per node ({node - judge - trials:g} idle)"
    if cfg.judge.serve is not None:
        line += "\n  start the judge with: " + serve_command(cfg)
    return line


def serve_command(cfg: ExperimentConfig) -> str:
    """The `hpo serve-judge --ray` command that holds exactly the GPUs the plan counts."""
    serve = cfg.judge.serve
    assert serve is not None
    cmd = f"hpo serve-judge {cfg.judge.model or 'MODEL'} --ray --host 0.0.0.0 --port {serve.port} " \
          f"--gpus {judge_gpus(cfg):g}"
    if serve.tensor_parallel_size:
        cmd += f" --tensor-parallel-size {serve.tensor_parallel_size}"
    if serve.gpu_memory_utilization:
        cmd += f" --gpu-memory-utilization {serve.gpu_memory_utilization}"
    return cmd + f" --api-key-env {cfg.judge.api_key_env}"
