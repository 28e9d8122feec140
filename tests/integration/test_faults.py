"""Trial faults: a trial that raises mid-epoch once is retried by Ray Tune; one that always
fails is excluded, reported as missing (report.json, MLflow tags) and the run exits 3.

Both runs use the nightly workflow's own command line (parsed from its YAML), so they also
prove the workflow's pass (0) and partial (3) gating; tiny sizes come from --set overrides.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SMALL_GRID, hpo_cli
from tests.helpers.procs import nightly_command

pytestmark = pytest.mark.integration

FAILING = "adamw-lr1e-03-cosine"  # grid lr 2e-5 x 50
FAILING_IDS = {f"{FAILING}-ep1", f"{FAILING}-ep2"}
ALL_IDS = FAILING_IDS | {"adamw-lr1e-04-cosine-ep1", "adamw-lr1e-04-cosine-ep2"}


def nightly_run(tmp: Path, name: str, fault: str) -> tuple[int, str, Path]:
    (tmp / "grid.yaml").write_text(SMALL_GRID)
    args = [*nightly_command(), "--run-root", str(tmp / "runs"), "--run-name", name,
            "--space", str(tmp / "grid.yaml"), "--set", "search.baseline=null",
            "--set", "data.synthetic.n_train=300", "--set", "data.synthetic.n_validation=24",
            "--set", "tournament.blocks=1", "--set", f"train.fault_injection={fault}"]
    proc = hpo_cli(*args, timeout=420)
    return proc.returncode, proc.stdout + proc.stderr, tmp / "runs" / name


def test_fault_once_is_retried_and_the_run_passes(tmp_path: Path) -> None:
    rc, log, run_dir = nightly_run(tmp_path, "once", f"{FAILING}:1:once")
    assert rc == 0, log[-3000:]
    assert (run_dir / "faults" / f"{FAILING}-ep1").exists(), "the fault never fired"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["missing"] == {}
    assert {c["candidate_id"] for c in report["candidates"] if "exact_match" in c} == ALL_IDS
    assert set(report["ranking"]) == ALL_IDS


def test_fault_always_is_partial_and_reported(tmp_path: Path) -> None:
    rc, log, run_dir = nightly_run(tmp_path, "always", f"{FAILING}:1:always")
    assert rc == 3, log[-3000:]
    report = json.loads((run_dir / "report.json").read_text())
    assert set(report["missing"]) == FAILING_IDS
    assert all("injected fault" in why for why in report["missing"].values()), report["missing"]
    assert report["winner"]["candidate_id"] not in FAILING_IDS
    assert not FAILING_IDS & set(report["ranking"])
    assert json.loads((run_dir / "state.json").read_text())["status"] == "finished"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    runs = client.search_runs([experiment_id(client)])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.tags["hpo.status"] == "partial"
    assert set(parent.data.tags["hpo.missing"].split(", ")) == FAILING_IDS
    failed = [r for r in runs if r.data.tags.get("hpo.training_id") == FAILING]
    assert len(failed) == 1 and failed[0].info.status == "FAILED"
    assert "injected fault" in failed[0].data.tags["hpo.error"]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount tiny tmpfs file systems (needs root/CAP_SYS_ADMIN; skips otherwise), unmount after."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount tmpfs here: {proc.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def tiny_run(root: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    (tmp / "grid.yaml").write_text(SMALL_GRID)
    return hpo_cli("run", "--run-root", str(root), "--space", str(tmp / "grid.yaml"),
                   "--set", "search.baseline=null", "--set", "data.synthetic.n_train=300",
                   "--set", "data.synthetic.n_validation=8", "--set", "tournament.blocks=1",
                   "--run-name", "disk", timeout=300)


def one_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("hpo: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def test_read_only_run_root(tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    ro = tmpfs("ro,size=1m")
    proc = tiny_run(ro / "runs", tmp_path)
    assert proc.returncode == 6, proc.stderr[-3000:]
    assert "read-only file system" in one_error(proc.stderr)
    assert list(ro.iterdir()) == []


def test_disk_full_while_staging(tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    """3 MB: the MLflow store fits, the base model does not."""
    full = tmpfs("size=3m")
    proc = tiny_run(full / "runs", tmp_path)
    assert proc.returncode == 6, proc.stderr[-3000:]
    assert "disk full" in one_error(proc.stderr)
    assert not (full / "runs" / "disk").exists(), "a half-written run folder was left behind"


def experiment_id(client: object) -> str:
    exp = client.get_experiment_by_name("hpo")  # type: ignore[attr-defined]
    assert exp is not None, "no MLflow experiment 'hpo'"
    return str(exp.experiment_id)
