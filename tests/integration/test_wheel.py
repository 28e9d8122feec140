"""The project installed from its built wheel, run from an empty folder outside the checkout.

What is real: the wheel is built from the checkout's files (`pip wheel --no-deps
--no-build-isolation`) and installed with `--no-deps` into a fresh venv; `hpo` and `judge` (and
every packaged file: search spaces, DeepSpeed config, experiment templates, the trained tiny
judge, PandaLM's validation instructions) come from that venv only, which the test asserts.
What is borrowed, to stay offline and fast: the *third-party dependencies* (torch, Ray,
DeepSpeed, MLflow, transformers, ...), which the new venv imports from the project venv's
site-packages through one `.pth` path entry (tests/helpers/wheel_venv.py). Nothing of the
checkout is on the path, and the commands run from an empty temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SMALL_GRID
from tests.helpers.wheel_venv import build_wheel_venv, imported_from, wheel_names

pytestmark = pytest.mark.integration

SHIPPED = ("hpo/assets/configs/deepspeed/zero2.json", "hpo/assets/search_spaces/pandalm80.yaml",
           "hpo/assets/search_spaces/alpaca-default.yaml", "hpo/assets/search_spaces/tiny-optuna.yaml",
           "hpo/assets/experiments/bloom-7b.yaml", "hpo/assets/experiments/tiny-cpu.yaml",
           "hpo/assets/judges/tiny-suite-judge/model.safetensors",
           "hpo/assets/judges/tiny-suite-judge/judge_card.json",
           "hpo/assets/data/pandalm-validation-170.json")


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel_venv(tmp_path_factory.mktemp("wheel"))


def _hpo(python: Path, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The venv's own `hpo` console script, run from `cwd` with no checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1", "HF_HOME": str(cwd / ".hf")}
    return subprocess.run([str(python.parent / "hpo"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def test_the_wheel_ships_the_files_the_product_needs(venv_python: Path) -> None:
    wheel = next((venv_python.parents[2] / "wheel").glob("hpo-*.whl"))
    names = set(wheel_names(wheel))
    assert set(SHIPPED) <= names, sorted(set(SHIPPED) - names)
    venv = venv_python.parents[1].resolve()
    assert all(p.resolve().is_relative_to(venv) for p in imported_from(venv_python).values())


def test_the_7b_preset_dry_run_from_an_empty_folder(venv_python: Path, tmp_path: Path) -> None:
    proc = _hpo(venv_python, tmp_path, "run", "--model", "bloom-7b", "--dry-run",
                "--run-root", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bloom-7b (preset" in proc.stdout and "DeepSpeed ZeRO-2" in proc.stdout
    assert "170 validation items per candidate" in proc.stdout  # the packaged PandaLM file
    out = proc.stdout
    assert "GPUs: judge 2 (Ray actor)" in out and "--python .venv-judge/bin/python" in out
    assert re.search(r"GPU memory +~[0-9.]+ GB peak per GPU; fits: [0-9.]+ GB to spare under 72 GB "
                     r"\(80 GB card", out), out
    assert re.search(r"peak disk +~[0-9.]+ GB = [0-9]+ kept checkpoints", out), out
    assert not (tmp_path / "runs").exists()


def test_the_tiny_default_runs_from_an_empty_folder(venv_python: Path, tmp_path: Path) -> None:
    """experiments/tiny-cpu.yaml by name, with its packaged baseline and trained judge; scaled
    down (2 trainings x 2 epochs from a local grid, which also shows a user file winning)."""
    (tmp_path / "grid.yaml").write_text(SMALL_GRID)
    proc = _hpo(venv_python, tmp_path, "run", "-e", "experiments/tiny-cpu.yaml",
                "--run-root", "runs", "--run-name", "w", "--space", "grid.yaml",
                "--set", "data.synthetic.n_train=300", "--set", "data.synthetic.n_validation=24",
                "--set", "tournament.blocks=1", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "runs" / "w" / "report.json").read_text())
    assert report["winner"]["candidate_id"].startswith("adamw-lr")
    assert len(report["candidates"]) == 4
    card = report["judge_card"]  # the packaged trained judge, its held-out figures quoted
    assert card["backend"] == "hf" and card["heldout_accuracy"] > 0.5
    assert Path(card["model"]).resolve().is_relative_to(venv_python.parents[1].resolve())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".hf") == ["grid.yaml", "runs"]
