"""A real multi-node Ray cluster on one machine, for cluster tests (STACK-NOTES recipe).

* every node is `ray start --block` in its own session (Popen(start_new_session=True)), with a
  short `--temp-dir` under /tmp (AF_UNIX paths must stay under 107 bytes);
* token auth with a per-cluster token file, passed to every node, driver and `ray job submit`;
* `add_hidden_node(path)`: a node in its own mount namespace (`unshare --mount`, root only)
  where `path` is covered by an empty tmpfs, so trials there cannot see the driver's files;
* teardown: SIGTERM the nodes (workers first), then SIGKILL whatever still carries this
  cluster's marker (Ray passes the environment on to everything it spawns). Never `ray stop`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.procs import MARKER_ENV, REPO, kill_marked

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mount_namespaces_permitted() -> str | None:
    """None when `unshare --mount` works here, else why not (the skip reason)."""
    if os.geteuid() != 0:
        return "hiding the run folder needs root (unshare --mount + tmpfs)"
    if shutil.which("unshare") is None:
        return "util-linux `unshare` is not installed"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"mount namespaces are not permitted here: {probe.stderr.strip()[:200]}"
    return None


@dataclass
class LocalCluster:
    """Start with `start_head()`; add nodes; `env` is what drivers need to join; `stop()`."""

    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rc", dir="/tmp")))
    port: int = field(default_factory=free_port)
    dashboard_port: int | None = None
    nodes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "token").write_text(secrets.token_hex(32))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for every node, driver and `ray job submit` of this cluster."""
        return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.root / "token"),
                "RAY_DISABLE_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO),
                "RAY_raylet_start_wait_time_s": "180",  # a loaded 2-core CI box registers slowly
                MARKER_ENV: self.marker}

    def _start(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                cwd=self.root, start_new_session=True)
        self.nodes.append(proc)
        return proc

    def start_head(self, num_cpus: int = 0, num_gpus: int | None = None,
                   dashboard: bool = False) -> LocalCluster:
        argv = [RAY, "start", "--head", "--block", f"--port={self.port}", f"--num-cpus={num_cpus}",
                f"--temp-dir={self.root / 'h'}", "--disable-usage-stats", *_agent_ports()]
        if num_gpus is not None:
            argv.append(f"--num-gpus={num_gpus}")
        if dashboard:
            self.dashboard_port = free_port()
            argv += ["--include-dashboard=true", "--dashboard-host=127.0.0.1",
                     f"--dashboard-port={self.dashboard_port}"]
        else:
            argv.append("--include-dashboard=false")
        self._start(argv, "head")
        self._wait_started("head", 180)  # the head's own node must be in the GCS before others join
        if self.dashboard_port:
            self._wait_port(self.dashboard_port, 90)
        return self

    def add_node(self, num_cpus: int, num_gpus: int | None = None,
                 resources: dict[str, float] | None = None) -> subprocess.Popen[bytes]:
        n = len(self.nodes)
        argv = self._node_argv(num_cpus, num_gpus, resources, n)
        return self._start(argv, f"node{n}")

    def add_hidden_node(self, hidden: Path, num_cpus: int) -> subprocess.Popen[bytes]:
        """A node where `hidden` is an empty tmpfs: it cannot see the driver's files there."""
        n = len(self.nodes)
        ray_cmd = " ".join(_quote(a) for a in self._node_argv(num_cpus, None, {"hidden_node": 1}, n))
        script = f'mount -t tmpfs -o mode=0755 none {_quote(str(hidden))} && exec {ray_cmd}'
        return self._start(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                           f"node{n}")

    def _node_argv(self, num_cpus: int, num_gpus: int | None, resources: dict[str, float] | None,
                   n: int) -> list[str]:
        argv = [RAY, "start", "--block", f"--address={self.address}", f"--num-cpus={num_cpus}",
                f"--temp-dir={self.root / f'n{n}'}", "--disable-usage-stats", *_agent_ports()]
        if num_gpus is not None:
            argv.append(f"--num-gpus={num_gpus}")
        if resources:
            argv.append(f"--resources={json.dumps(resources)}")
        return argv

    def wait_started(self, timeout: float = 180) -> None:
        """Block until every node's `ray start` has reported the runtime started."""
        for n in range(1, len(self.nodes)):
            self._wait_started(f"node{n}", timeout)

    def _wait_started(self, name: str, timeout: float) -> None:
        log, deadline = self.root / f"{name}.log", time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Ray runtime started" in log.read_text(errors="replace"):
                return
            if any(p.poll() is not None for p in self.nodes):
                raise RuntimeError(f"a cluster node exited early:\n{self.logs()}")
            time.sleep(0.5)
        raise RuntimeError(f"{name} not started after {timeout}s:\n{self.logs()}")

    def wait_nodes(self, count: int, timeout: float = 180) -> None:
        """Block until `count` nodes are alive (asks the GCS through a short-lived driver)."""
        code = ("import ray,time,sys\nray.init(address=sys.argv[1],log_to_driver=False)\n"
                "t=time.time()\nwhile sum(n['Alive'] for n in ray.nodes())<int(sys.argv[2]):\n"
                "  time.sleep(0.5)\n  assert time.time()-t<float(sys.argv[3])\n")
        proc = subprocess.run([sys.executable, "-c", code, self.address, str(count), str(timeout)],
                              env=self.env, timeout=timeout + 60, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{count} nodes not alive after {timeout}s: {proc.stderr[-1500:]}\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.root.glob("*.log")))

    def _wait_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            if any(p.poll() is not None for p in self.nodes):
                raise RuntimeError(f"a cluster node exited early:\n{self.logs()}")
            time.sleep(0.3)
        raise RuntimeError(f"port {port} not open after {timeout}s:\n{self.logs()}")

    def stop(self) -> list[int]:
        """SIGTERM workers then the head (own sessions), then SIGKILL what carries our marker."""
        for proc in reversed(self.nodes):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        left = kill_marked(self.marker)
        shutil.rmtree(self.root, ignore_errors=True)
        return left


def _agent_ports() -> list[str]:
    """Free ports for a node's agents. Ray's defaults are fixed (the dashboard agent listens on
    52365): a second Ray instance on the machine (another job, a test's local run) already holds
    them, and then the head's job agent never registers ("No available agent to submit job")."""
    return [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
