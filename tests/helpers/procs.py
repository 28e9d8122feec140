"""Process helpers for fault tests: start `hpo` in its own session, kill it, reap Ray leftovers.

Ray starts daemons (gcs_server, raylet, DashboardAgent, RuntimeEnvAgent, workers) that can
outlive a SIGKILLed driver, some in their own sessions. To find *ours* and never another
user's, every process we start gets a unique environment marker (`HPO_TEST_MARKER`), which
Ray passes on to everything it spawns; leftovers are found by reading /proc/<pid>/environ.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MARKER_ENV = "HPO_TEST_MARKER"
REPO = Path(__file__).resolve().parent.parent.parent


@dataclass
class HpoProcess:
    """A running `hpo` CLI in its own session, with its logs in files and its marker."""

    popen: subprocess.Popen[bytes]
    marker: str
    stdout: Path
    stderr: Path
    started: float = field(default_factory=time.monotonic)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def output(self) -> tuple[str, str]:
        return self.stdout.read_text(errors="replace"), self.stderr.read_text(errors="replace")


def foreground_signals() -> None:
    """In the child before exec: SIGINT and SIGQUIT at their defaults, as a job a terminal starts
    in the foreground has them. A suite launched as a background job (`cmd &` in a script, nohup)
    hands its children SIGINT *ignored*, and Python keeps an inherited ignore, so a Ctrl-C test
    would then prove nothing about hpo (seen: the run went on and exited 0)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def start_hpo(args: list[str], logs: Path, env: dict[str, str] | None = None) -> HpoProcess:
    """Start `python -m hpo.cli ARGS` with start_new_session=True, a fresh marker, and the
    signal dispositions of a terminal's foreground job (`foreground_signals`)."""
    marker = uuid.uuid4().hex
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{marker[:8]}.out", logs / f"{marker[:8]}.err"
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1",
                **(env or {}), MARKER_ENV: marker}
    with out.open("wb") as fo, err.open("wb") as fe:
        popen = subprocess.Popen([sys.executable, "-m", "hpo.cli", *args], stdout=fo, stderr=fe,
                                 env=full_env, cwd=REPO, start_new_session=True,
                                 preexec_fn=foreground_signals)
    return HpoProcess(popen, marker, out, err)


def marked_pids(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries `marker` (ours, and only ours)."""
    needle = f"{MARKER_ENV}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return sorted(pids)


def kill_marked(marker: str, timeout: float = 20.0) -> list[int]:
    """SIGKILL every process carrying `marker`, one by one; returns those still alive after."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = marked_pids(marker)
        if not pids:
            return []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    return marked_pids(marker)


def kill_group(proc: HpoProcess) -> None:
    """SIGKILL the whole process group of `proc` (what a crash or an OOM kill looks like)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.popen.pid, signal.SIGKILL)
    proc.popen.wait(timeout=30)


def wait_for(predicate: Callable[[], bool], timeout: float, proc: HpoProcess | None = None,
              poll: float = 0.2) -> bool:
    """Poll `predicate` until true; False on timeout or when `proc` exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.popen.poll() is not None:
            return predicate()
        time.sleep(poll)
    return False


def verdict_rows(path: Path) -> int:
    """Rows in a verdict store (0 when it does not exist yet or is locked mid-write)."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])
    except sqlite3.Error:
        return 0


def verdict_keys(path: Path) -> list[str]:
    """Every key in a verdict store, with repeats if any (the key is the primary key)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT key FROM verdicts ORDER BY key")]


def prefer_longer(prompt: str, delay_s: float = 0.0) -> str:
    """A deterministic, order-consistent stub judge: the longer response wins ("Tie" if equal).

    Parses the PandaLM prompt (judge/prompt.py) so the swapped order gives the swapped verdict.
    """
    if delay_s:
        time.sleep(delay_s)
    body = prompt.split("### Response 1:\n", 1)[-1].split("\n\n### Evaluation:", 1)[0]
    r1, _, r2 = body.partition("\n\n### Response 2:\n")
    if (len(r1), r1) == (len(r2), r2):
        return "Tie"
    return "1" if (len(r1), r1) > (len(r2), r2) else "2"


def nightly_command(workflow: Path | None = None) -> list[str]:
    """The `hpo run ...` arguments of the nightly workflow's `tune` step (without `hpo`).

    Parsed from .github/workflows/nightly-tuning.yml so the tests and the workflow cannot drift.
    """
    import shlex

    import yaml

    path = workflow or REPO / ".github" / "workflows" / "nightly-tuning.yml"
    steps = yaml.safe_load(path.read_text())["jobs"]["tune"]["steps"]
    script = next(s["run"] for s in steps if s.get("id") == "tune")
    line = next(ln for ln in script.splitlines() if " run " in ln and ln.strip().split()[0].endswith("hpo"))
    return shlex.split(line)[1:]
