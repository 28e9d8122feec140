"""The judge server inside a Ray cluster's accounting: `hpo serve-judge --ray`.

A vLLM server started by hand takes GPUs that Ray does not know about, so Ray may schedule a
trial onto the judge's card. Here the server runs inside a Ray actor that holds `num_gpus`
GPUs: Ray sets the actor's CUDA_VISIBLE_DEVICES to the GPUs it reserved, the server process
inherits them, and no trial is given those GPUs while the actor lives. The actor is named
(`hpo-judge-<port>`) and detached, so it outlives the command that started it only when asked
(`--detach`); otherwise Ctrl-C stops the server and gives the GPUs back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from judge.errors import ConfigError

ACTOR_PREFIX = "hpo-judge-"


def vllm_args(tensor_parallel_size: int | None, gpu_memory_utilization: float | None,
              api_key_env: str | None = None) -> list[str]:
    """Extra vLLM server flags for the GPU share and tensor parallelism. Never the API key:
    a command line is readable by every local user (`ps`) and vLLM logs its arguments; the key
    travels in the server's environment instead (see `api_key`, judge.serve.server_env)."""
    args: list[str] = []
    if tensor_parallel_size:
        args += ["--tensor-parallel-size", str(tensor_parallel_size)]
    if gpu_memory_utilization:
        args += ["--gpu-memory-utilization", str(gpu_memory_utilization)]
    return args


def api_key(api_key_env: str | None) -> str | None:
    """The key the server must require, read from the variable `api_key_env` names; None when
    no variable is named. A named variable that is unset or empty is refused (ConfigError):
    silently starting a server without the key the user asked for would leave it open."""
    if not api_key_env:
        return None
    value = os.environ.get(api_key_env, "")
    if not value:
        raise ConfigError(f"serve-judge: --api-key-env {api_key_env}: the variable {api_key_env} "
                          f"is not set (export it, or leave out --api-key-env)")
    return value


class JudgeServer:
    """Ray actor body: starts the vLLM server on the actor's node with the actor's GPUs."""

    def __init__(self, model: str, host: str, port: int, python: str | None,
                 extra_args: Sequence[str], wait_s: float, served_name: str | None,
                 max_model_len: int | None, gpu: bool, api_key: str | None = None) -> None:
        from judge.serve import has_gpu, serve_judge

        self.gpu_ids = [str(g) for g in __import__("ray").get_gpu_ids()]
        # GPUs held in Ray's accounting on a node with no NVIDIA device (a CPU node started with
        # `ray start --num-gpus N`) cannot run vLLM's GPU settings: run the CPU ones there
        gpu = gpu and has_gpu()
        self.proc = serve_judge(model, host, port, python, extra_args=extra_args, wait_s=wait_s,
                                served_name=served_name, max_model_len=max_model_len, gpu=gpu,
                                api_key=api_key)

    def info(self) -> dict[str, Any]:
        """Where the server is and which GPUs Ray gave it."""
        import ray

        return {"pid": self.proc.pid, "gpu_ids": self.gpu_ids, "node_ip": ray.util.get_node_ip_address(),
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "")}

    def stop(self) -> None:
        from judge.serve import stop_server

        stop_server(self.proc)


def actor_options(port: int, gpus: float, cpus: float, detach: bool, node_id: str | None) -> dict[str, Any]:
    """Ray options of the judge actor. With `node_id` it must run on that node (never elsewhere):
    the URL clients use (`judge.url`, often http://127.0.0.1:PORT) names the node that started it."""
    opts: dict[str, Any] = {"name": f"{ACTOR_PREFIX}{port}", "num_gpus": gpus, "num_cpus": cpus,
                            "lifetime": "detached" if detach else None, "max_restarts": 0}
    if node_id is not None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
    return opts


def start(model: str, gpus: float, port: int = 8000, host: str = "127.0.0.1", python: str | None = None,
          extra_args: Sequence[str] = (), wait_s: float = 600, served_name: str | None = None,
          max_model_len: int | None = None, detach: bool = False, cpus: float = 1,
          here: bool = True, api_key: str | None = None) -> Any:
    """Create the actor (reserving `gpus` GPUs; on this node unless `here` is False) and wait
    until its server answers /health. Loopback by default: other interfaces only when asked.
    `api_key` travels as an actor argument (not a runtime_env, which Ray puts on worker
    command lines) and reaches vLLM through its environment."""
    import ray

    node = ray.get_runtime_context().get_node_id() if here else None
    cls: Any = ray.remote(JudgeServer)
    actor = cls.options(**actor_options(port, gpus, cpus, detach, node)).remote(
        model, host, port, python, list(extra_args), wait_s, served_name, max_model_len, gpus > 0,
        api_key)
    ray.get(actor.info.remote(), timeout=wait_s + 60)  # raises the server's start error, if any
    return actor


def stop(actor: Any) -> None:
    """Stop the server, then the actor (its GPUs go back to Ray)."""
    import ray

    try:
        ray.get(actor.stop.remote(), timeout=60)
    finally:
        ray.kill(actor)


def run_blocking(args: Any) -> int:
    """`hpo serve-judge --ray`: join the cluster, start the actor, print where, wait for Ctrl-C."""
    import ray

    ray.init(address=args.address or "auto", log_to_driver=False)
    extra = vllm_args(args.tensor_parallel_size, args.gpu_memory_utilization)
    gpus = args.gpus if args.gpus is not None else (args.tensor_parallel_size or 1)
    actor = start(args.model, gpus, args.port, args.host, args.python, extra, args.wait,
                  args.served_name, args.max_model_len, detach=args.detach,
                  here=not getattr(args, "any_node", False), api_key=api_key(args.api_key_env))
    info = ray.get(actor.info.remote())
    print(f"judge server ready: http://{info['node_ip']}:{args.port} model={args.served_name or args.model} "
          f"gpus={','.join(info['gpu_ids']) or 'none'} (Ray actor {ACTOR_PREFIX}{args.port})", flush=True)
    if args.detach:
        return 0
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        stop(actor)
