"""`hpo serve-judge`: the command line over judge.serve (a local vLLM process) and
judge.ray_serve (the same server as a Ray actor that holds its GPUs)."""

from __future__ import annotations

import argparse
import ipaddress
import math

from judge import ray_serve
from judge.errors import ConfigError
from judge.serve import serve_judge, stop_server


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve-judge MODEL [--host] [--port] [--python PATH]` to the hpo CLI."""
    p = subparsers.add_parser("serve-judge", help="start a vLLM judge server and wait until ready")
    p.add_argument("model", help="local model directory (or hub id already cached)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--python", default=None, help="python of the vLLM venv (default: this one)")
    p.add_argument("--served-name", default=None, help="model name clients use (default: MODEL)")
    p.add_argument("--max-model-len", type=int, default=None)
    p.add_argument("--wait", type=finite_float, default=300, help="seconds to wait for /health")
    add_cluster_flags(p)
    p.set_defaults(func=run_serve_judge)


def finite_float(text: str) -> float:
    """argparse type: a float that is neither NaN nor infinite (argparse's own `float` takes
    "nan" and "inf", which then crash or hang whatever reads them)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def add_cluster_flags(p: argparse.ArgumentParser) -> None:
    """vLLM's GPU flags, and `--ray`: run the server as a Ray actor that holds its GPUs."""
    p.add_argument("--tensor-parallel-size", type=int, default=None, help="vLLM tensor parallel size")
    p.add_argument("--gpu-memory-utilization", type=finite_float, default=None,
                   help="vLLM's share of each GPU's memory (0-1)")
    p.add_argument("--api-key-env", default=None,
                   help="env variable holding the API key the server requires (never on the command line)")
    p.add_argument("--allow-unauthenticated", action="store_true",
                   help="serve on a non-loopback --host without an API key (anyone who reaches the "
                        "port can use the judge)")
    p.add_argument("--ray", action="store_true",
                   help="start the server as a Ray actor holding its GPUs, so trials never get them")
    p.add_argument("--address", default=None, help="with --ray: the cluster (default: auto)")
    p.add_argument("--gpus", type=finite_float, default=None,
                   help="with --ray: GPUs to reserve (default: the tensor parallel size, or 1)")
    p.add_argument("--detach", action="store_true", help="with --ray: leave the actor running and exit")
    p.add_argument("--any-node", action="store_true",
                   help="with --ray: let Ray place the server on any node with free GPUs (default: "
                        "this node, the one a 127.0.0.1 judge.url names)")


def is_loopback(host: str) -> bool:
    """True for a host only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def check_exposure(args: argparse.Namespace) -> str | None:
    """The API key the server will require (None: none). Refuses, as one line, a server on a
    non-loopback host with no key unless `--allow-unauthenticated` says that is intended."""
    key = ray_serve.api_key(args.api_key_env)
    if key is None and not is_loopback(args.host) and not args.allow_unauthenticated:
        raise ConfigError(f"serve-judge: --host {args.host} without an API key would serve the judge to "
                          f"anyone on the network; pass --api-key-env VAR (e.g. HPO_JUDGE_API_KEY), "
                          f"or --allow-unauthenticated if that is intended")
    return key


def run_serve_judge(args: argparse.Namespace) -> int:
    """CLI action: start, report readiness on one line, then run until Ctrl-C."""
    key = check_exposure(args)
    if args.ray:
        return ray_serve.run_blocking(args)
    extra = ray_serve.vllm_args(args.tensor_parallel_size, args.gpu_memory_utilization)
    proc = serve_judge(args.model, args.host, args.port, args.python, extra_args=extra, wait_s=args.wait,
                       served_name=args.served_name, max_model_len=args.max_model_len, api_key=key)
    print(f"judge server ready: http://{args.host}:{args.port} model={args.served_name or args.model} pid={proc.pid}")
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_server(proc)
