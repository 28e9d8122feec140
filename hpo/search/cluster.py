"""Checks for running on a Ray cluster, made before anything is written.

`hpo run --address HOST:PORT` joins a cluster from one of its nodes. A `ray://` (Ray Client)
address is refused: under Ray Client, Ray Tune's driver loop runs on the cluster, so the
callbacks that carry results to this process would run there and every candidate would end
"missing". `ray job submit` runs `hpo run` on the head instead, which is the supported way to
launch from a laptop (docs/cluster.md).
"""

from __future__ import annotations

from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.trial.transport import cluster_address

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


HEAD = "127.0.0.1:6379"  # the GCS address `ray start --head` listens on, seen from the head


def validate_cluster(cfg: ExperimentConfig) -> None:
    """Cluster settings that can be checked on the driver alone. `run.transport: auto` with an
    address is decided when the cluster is joined (`resolve_transport`), so not refused here."""
    check_address(cluster_address(cfg))
    gpu_split(cfg)
    if cfg.run.transport == "ray":
        check_transport(cfg, "run.transport: ray")


def check_transport(cfg: ExperimentConfig, why: str) -> None:
    """One-line ConfigError for what needs the run folder on every node, naming the exact fix."""
    fix = ("put --run-root on a filesystem mounted at the same path on every node and add "
           "--set run.transport=disk (docs/cluster.md)")
    if cfg.resources.workers_per_trial > 1:
        raise ConfigError(f"{why}: resources.workers_per_trial > 1 needs the run folder on every "
                          f"node (the Ray Train workers read and write it); {fix}")


def resolve_transport(cfg: ExperimentConfig, nodes: int | None) -> str:
    """Fix `run.transport` in `cfg` for this run and return it. `auto` is `disk` with no cluster
    (a private Ray) or a one-node cluster (`ray start --head` on this machine), `ray` when the
    joined cluster has several nodes, since they may not see this run folder."""
    if cfg.run.transport == "auto":
        cfg.run.transport = "disk" if not nodes or nodes == 1 else "ray"
        if cfg.run.transport == "ray":
            check_transport(cfg, f"run.transport auto is ray on a cluster of {nodes} nodes")
    return cfg.run.transport


def local_cluster() -> str | None:
    """The address of a Ray started on this machine with `ray start --head`, or None. `hpo run`
    joins it rather than starting a second Ray that would hand out the same GPUs."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(None)  # type: ignore[arg-type]
    except Exception:  # a stale or unreadable address file: no cluster to join
        return None


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
        line += "\n  launch on one node (the judge in its own terminal, from the project folder):"
        line += "".join(f"\n    {cmd}" for cmd in launch_commands(cfg))
        line += "\n  on a cluster of several nodes (docs/cluster.md):"
        line += "".join(f"\n    {cmd}" for cmd in cluster_commands(cfg))
    return line


def cluster_commands(cfg: ExperimentConfig, head: str = "HEAD") -> list[str]:
    """The documented launch on several nodes: the head, each other node, the judge and the run
    on the head. N workers per trial read and write the run folder: it must be shared."""
    gpus = f" --num-gpus {cfg.resources.gpus_per_node}" if cfg.resources.gpus_per_node else ""
    run = f"hpo run (this command, without --dry-run) --address {head}:6379"
    if cfg.resources.workers_per_trial > 1 or cfg.search.adaptive:
        run += " --run-root /shared/hpo-runs --set run.transport=disk"
    return [f"ray start --head --port 6379{gpus}", f"ray start --address {head}:6379{gpus}",
            serve_command(cfg), run]


def launch_commands(cfg: ExperimentConfig) -> list[str]:
    """The documented one-node launch: a Ray head with the node's GPUs, the judge as a Ray actor
    holding its share, then this run joining that Ray (README, docs/cluster.md, bloom-7b.yaml)."""
    gpus = f" --num-gpus {cfg.resources.gpus_per_node}" if cfg.resources.gpus_per_node else ""
    return [f"ray start --head{gpus}", serve_command(cfg),
            f"hpo run (this command, without --dry-run) --address {HEAD}"]


def serve_command(cfg: ExperimentConfig) -> str:
    """The `hpo serve-judge --ray` command that holds exactly the GPUs the plan counts, run by
    the judge's own Python (`judge.serve.python`, where vLLM is installed)."""
    serve = cfg.judge.serve
    assert serve is not None
    cmd = f"hpo serve-judge {cfg.judge.option('model') or 'MODEL'} --ray --python {serve.python} " \
          f"--host 0.0.0.0 --port {serve.port} --gpus {judge_gpus(cfg):g}"
    if serve.tensor_parallel_size:
        cmd += f" --tensor-parallel-size {serve.tensor_parallel_size}"
    if serve.gpu_memory_utilization:
        cmd += f" --gpu-memory-utilization {serve.gpu_memory_utilization}"
    return cmd + f" --api-key-env {key_env(cfg)}"


def key_env(cfg: ExperimentConfig) -> str:
    """The variable the served judge's API key is in: the vllm backend's `api_key_env` (its
    default when the run's backend is another one)."""
    from judge.registry import BACKENDS

    default = BACKENDS.settings_model("vllm").model_fields["api_key_env"].default
    return str(cfg.judge.option("api_key_env") or default)
