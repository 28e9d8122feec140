"""A real 2-node Ray cluster on this machine, where the trials' node cannot see the run folder.

One cluster per module: a head with no CPUs (so no trial can run on it) and the dashboard (Jobs
API), and a second node in its own mount namespace whose view of the run root is an empty tmpfs.
Every trial therefore runs where the driver's disk is invisible: inputs must come through Ray,
answers must come back through Ray.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SMALL_GRID
from tests.helpers.raycluster import RAY, LocalCluster, mount_namespaces_permitted

pytestmark = pytest.mark.integration

GRID = SMALL_GRID  # the shared reduced grid (tests/conftest.py)
RUN_FLAGS = ["--space", "grid.yaml", "--set", "search.baseline=null", "--set", "data.synthetic.n_train=200",
             "--set", "data.synthetic.n_validation=16", "--set", "tournament.blocks=1",
             "--set", "tracking.backend=none", "--seed", "3"]


@pytest.fixture(scope="module")
def local_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The same reduced run on one node with the run folder on disk (before the cluster starts)."""
    root = tmp_path_factory.mktemp("local")
    (root / "grid.yaml").write_text(GRID)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1", "PYTHONPATH": str(REPO),
           "RAY_raylet_start_wait_time_s": "180"}
    env.pop("RAY_ADDRESS", None)
    proc = _hpo(["--run-root", str(root / "runs"), "--run-name", "lo", *RUN_FLAGS], env, root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads((root / "runs" / "lo" / "report.json").read_text()))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Path]]:
    why = mount_namespaces_permitted()
    if why:
        pytest.skip(why)
    hidden = tmp_path_factory.mktemp("hidden-runs")
    (hidden / "grid.yaml").write_text(GRID)
    c = LocalCluster()
    try:
        c.start_head(num_cpus=0, dashboard=True)
        c.add_hidden_node(hidden, num_cpus=2)
        c.wait_started()
        yield c, hidden
    finally:
        left = c.stop()
        assert not left, f"cluster processes survived teardown: {left}"


def _hpo(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hpo.cli", "run", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=400)


def _hidden_view(c: LocalCluster, hidden: Path) -> list[str]:
    """What the hidden node sees at the run root (through its process's root directory)."""
    node = c.nodes[-1]
    mounts = Path(f"/proc/{node.pid}/mountinfo").read_text()
    assert f" {hidden} " in mounts, "the run root is not a separate mount on the hidden node"
    return os.listdir(f"/proc/{node.pid}/root{hidden}")


def test_run_on_node_without_the_run_folder_matches_local(local_report: dict[str, object],
                                                          cluster: tuple[LocalCluster, Path]) -> None:
    c, hidden = cluster
    t0 = time.monotonic()
    remote = _hpo(["--address", c.address, "--run-root", str(hidden / "runs"), "--run-name", "cl",
                   *RUN_FLAGS], c.env, hidden)
    assert remote.returncode == 0, remote.stderr[-3000:] + c.logs()
    seconds = time.monotonic() - t0
    run = hidden / "runs" / "cl"
    report = json.loads((run / "report.json").read_text())
    assert len(report["candidates"]) == 4 and not report["missing"]
    for cid in (c_["candidate_id"] for c_ in report["candidates"]):  # delivered through Ray
        assert (run / "answers" / f"{cid}.json").is_file()
    lines = (run / "trials" / "adamw-lr1e-03-cosine" / "events.jsonl").read_text().splitlines()
    answered = [e for e in map(json.loads, lines) if e["event"] == "answers"]
    assert [e["epoch"] for e in answered] == [1, 2]  # per-epoch records came back in the reports too
    assert _hidden_view(c, hidden) == []  # trials never wrote where the driver's folder is

    expected: dict = local_report["winner"]  # type: ignore[assignment]
    assert report["winner"]["candidate_id"] == expected["candidate_id"]
    local_em = {c_["candidate_id"]: c_["exact_match"] for c_ in local_report["candidates"]}  # type: ignore[attr-defined]
    assert {c_["candidate_id"]: c_["exact_match"] for c_ in report["candidates"]} == local_em
    print(f"cluster run {seconds:.1f}s; winner {report['winner']['candidate_id']}")


def test_ray_job_submit_runs_a_reduced_run(cluster: tuple[LocalCluster, Path], tmp_path: Path) -> None:
    """`ray job submit --working-dir . -- hpo run ...` from outside the cluster (a laptop)."""
    c, hidden = cluster
    workdir = tmp_path / "laptop"
    workdir.mkdir()
    (workdir / "grid.yaml").write_text(GRID)
    root = hidden / "jobs"  # the job's driver runs on the head, which sees this folder
    cmd = [RAY, "job", "submit", "--address", f"http://127.0.0.1:{c.dashboard_port}",
           "--working-dir", str(workdir), "--", sys.executable, "-m", "hpo.cli", "run",
           "--run-root", str(root), "--run-name", "job", *RUN_FLAGS]
    for _ in range(6):  # the head's job agent registers late on a loaded box ("try again later")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=c.env, cwd=workdir, timeout=400)
        if "No available agent to submit job" not in proc.stderr + proc.stdout:
            break
        time.sleep(10)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "succeeded" in proc.stdout and "== Winner" in proc.stdout
    report = json.loads((root / "job" / "report.json").read_text())
    assert report["winner"]["candidate_id"] in proc.stdout
    assert len(report["candidates"]) == 4 and not report["missing"]
    assert _hidden_view(c, hidden) == []


def test_ray_client_address_is_refused_up_front(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "hpo.cli", "run", "--address", "ray://127.0.0.1:10001",
                           "--run-root", str(tmp_path / "runs")], capture_output=True, text=True,
                          cwd=REPO, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "ray job submit" in lines[0] and "ray://" in lines[0]
    assert not (tmp_path / "runs").exists()
