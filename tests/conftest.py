"""Shared fixtures: paths, a small grid, and a runner for the real `hpo` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data" / "pandalm"

# A reduced grid and data size that keep an end-to-end run to about a minute on 2 cores.
SMALL_GRID = """\
kind: grid
epochs: 2
checkpoints: [1, 2]
warmup_ratio: 0.03
grid:
  lr: [2.0e-6, 2.0e-5]
  optimizer: [adamw]
  scheduler: [cosine]
"""
SMALL_BASELINE = """\
kind: fixed
tag: baseline
epochs: 1
checkpoints: [1]
config: {lr: 2.0e-5, optimizer: adamw, scheduler: cosine}
"""


# Seconds each slow file took in a full `make test` (2 cores, two xdist workers, 2026-12-04).
# `make test` hands whole files to the workers in collection order (--no-loadscope-reorder): the
# longest go first, so no worker is left running a 7-minute file alone at the end. Order only: a
# stale or missing entry costs minutes, never a result.
SLOW_FILES = {
    "tests/rehearsal/test_rehearsal.py": 465,
    "tests/integration/test_adaptive.py": 275,
    "tests/integration/test_judge_outage.py": 211,
    "tests/integration/test_kill_resume.py": 199,
    "tests/integration/test_security.py": 160,
    "tests/integration/test_cluster.py": 140,
    "tests/integration/test_zero2_joints.py": 139,
    "tests/integration/test_run_lock.py": 93,
    "tests/integration/test_faults.py": 86,
    "tests/integration/test_halving.py": 81,
    "tests/integration/test_vllm_trained_judge.py": 74,
    "tests/integration/test_mlflow_server.py": 73,
    "tests/integration/test_scaleout.py": 62,
    "tests/integration/test_gpu_accounting.py": 57,
    "tests/integration/test_judge_train.py": 52,
    "tests/integration/test_nightly.py": 52,
    "tests/integration/test_wheel.py": 50,
    "tests/integration/test_vllm_client_faults.py": 48,
    "tests/integration/test_report_pinned.py": 37,
    "tests/integration/test_run_e2e.py": 28,
    "tests/integration/test_vllm_server.py": 27,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slowest files first (a stable sort: tests keep their order within a file)."""
    def seconds(item: pytest.Item) -> int:
        path = Path(str(item.path))
        return SLOW_FILES.get(path.relative_to(REPO).as_posix(), 0) if path.is_relative_to(REPO) else 0

    items.sort(key=lambda item: -seconds(item))


@pytest.fixture
def small_space(tmp_path: Path) -> tuple[Path, Path]:
    grid, base = tmp_path / "grid.yaml", tmp_path / "base.yaml"
    grid.write_text(SMALL_GRID)
    base.write_text(SMALL_BASELINE)
    return grid, base


def small_args(tmp_path: Path, grid: Path, base: Path) -> list[str]:
    """CLI flags for a fast end-to-end run rooted in tmp_path."""
    return ["--run-root", str(tmp_path / "runs"), "--space", str(grid),
            "--set", f"search.baseline={base}", "--set", "data.synthetic.n_train=300",
            "--set", "data.synthetic.n_validation=24", "--set", "tournament.blocks=1"]


def hpo_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `hpo` CLI in a subprocess (its own Ray, its own process group)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "hpo.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd or REPO)
