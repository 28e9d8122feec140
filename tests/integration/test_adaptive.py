"""Adaptive runs end to end: ASHA on the judge win rate, Optuna TPE, and resume without re-judging.

The runs go through the real CLI in a subprocess; adaptive search is the train stage's plug-in
(`hpo.search.adaptive.runner.AdaptiveTraining`).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.procs import foreground_signals

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GRID = """\
kind: grid
epochs: 3
checkpoints: [1, 2, 3]
grid: {lr: [2.0e-6, 2.0e-5], optimizer: [adamw], scheduler: [cosine]}
"""
OPTUNA = """\
kind: optuna
epochs: 2
checkpoints: [1, 2]
params:
  lr: {type: loguniform, low: 2.0e-6, high: 4.0e-4}
  optimizer: {type: choice, values: [sgd, adamw]}
  scheduler: {type: choice, values: [cosine, linear]}
"""
BASELINE = """\
kind: fixed
tag: baseline
epochs: 1
checkpoints: [1]
config: {lr: 2.0e-5, optimizer: adamw, scheduler: cosine}
"""


def command(tmp_path: Path, space: str, *extra: str) -> list[str]:
    (tmp_path / "space.yaml").write_text(space)
    (tmp_path / "base.yaml").write_text(BASELINE)
    return [sys.executable, "-m", "hpo.cli", "run", "--run-root", str(tmp_path / "runs"),
            "--run-name", "r", "--space", str(tmp_path / "space.yaml"),
            "--set", f"search.baseline={tmp_path / 'base.yaml'}",
            "--set", "data.synthetic.n_train=300", "--set", "data.synthetic.n_validation=20",
            "--set", "tournament.blocks=1", "--set", "tournament.overlap=false",
            "--set", "tracking.backend=none", *extra]


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1"}


def run(cmd: list[str], timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(), cwd=REPO)


def verdict_rows(run_dir: Path) -> dict[str, float]:
    with sqlite3.connect(run_dir / "verdicts.sqlite") as db:
        return dict(db.execute("SELECT key, created FROM verdicts").fetchall())


def produced(run_dir: Path) -> set[str]:
    return {p.stem for p in (run_dir / "answers").glob("*.json") if not p.stem.startswith("baseline")}


def report(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "report.json").read_text())


@pytest.mark.parametrize("transport", ["disk", "ray"])
def test_asha_stopped_trials_keep_their_candidates(tmp_path: Path, transport: str) -> None:
    """With `run.transport: ray` (trials on other nodes) each trial judges through the driver's
    AnchorJudge actor and opens no verdict store; the run is the same."""
    proc = run(command(tmp_path, GRID, "--set", "search.scheduler=asha",
                       "--set", "search.max_concurrent=1", "--set", "search.grace_period=1",
                       "--set", f"run.transport={transport}"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rd = tmp_path / "runs" / "r"
    assert verdict_rows(rd)  # the anchor comparisons, stored on the driver's disk
    rep, made = report(rd), produced(rd)
    assert {c["candidate_id"] for c in rep["candidates"]} == made and rep["missing"] == {}
    assert rep["winner"]["candidate_id"] in made
    trials = json.loads((rd / "state.json").read_text())["adaptive_trials"]
    assert set(trials) == {"adamw-lr1e-04-cosine", "adamw-lr1e-03-cosine"}
    assert all(t["ended"] and 0 <= t["judge_winrate"] <= 1 for t in trials.values())
    stopped = [t for t, e in trials.items() if e["epoch"] < 3]
    for training_id in stopped:  # stopped early: what it reached is in the tournament
        assert f"{training_id}-ep1" in made and f"{training_id}-ep3" not in made


def test_optuna_run_then_resume_after_interrupt_does_not_rejudge(tmp_path: Path) -> None:
    cmd = command(tmp_path, OPTUNA, "--set", "search.search=optuna",
                  "--set", "search.scheduler=asha", "--set", "search.num_samples=3",
                  "--set", "search.max_concurrent=1")
    rd = tmp_path / "runs" / "r"
    proc = subprocess.Popen(cmd, env=env(), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=foreground_signals)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        state = json.loads((rd / "state.json").read_text()) if (rd / "state.json").exists() else {}
        if any("judge_winrate" in t for t in state.get("adaptive_trials", {}).values()):
            break
        time.sleep(1)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    before = verdict_rows(rd)
    assert before, "the interrupted run judged nothing"
    resumed = run([*cmd[:3], "run", "--resume", str(rd)])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    after = verdict_rows(rd)
    assert all(after[k] == created for k, created in before.items())  # never judged again
    trials = json.loads((rd / "state.json").read_text())["adaptive_trials"]
    assert len(trials) == 3 and all(t["ended"] for t in trials.values())
    assert all(t.startswith(("t00-", "t01-", "t02-")) for t in trials)
    rep = report(rd)
    assert {c["candidate_id"] for c in rep["candidates"]} == produced(rd)
    assert rep["winner"]["candidate_id"] in produced(rd)
