"""Successive halving decided by the judge, end to end through the CLI, killed and resumed.

Four trainings of 3 epochs, rungs at epochs 1 and 2, eta 2: round 1 trains all four to epoch 1
and a judged round robin keeps two, round 2 takes those to epoch 2 and keeps one, the last
round trains it to epoch 3 (7 epochs; the grid would spend 12). The run is SIGKILLed as soon
as the first rung is decided (round 2 training) and resumed: nothing trained before is trained
again, no stored verdict is asked again, the stopped trainings' checkpoints are candidates,
and the epochs spent stay within what `--dry-run` printed.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SMALL_BASELINE
from tests.helpers.procs import kill_group, kill_marked, start_hpo, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GRID = """\
kind: grid
epochs: 3
checkpoints: [1, 2, 3]
grid: {lr: [2.0e-6, 2.0e-5], optimizer: [adamw, sgd], scheduler: [cosine]}
"""


def args(tmp: Path) -> list[str]:
    (tmp / "space.yaml").write_text(GRID)
    (tmp / "base.yaml").write_text(SMALL_BASELINE)
    return ["run", "--run-root", str(tmp / "runs"), "--run-name", "r", "--space", str(tmp / "space.yaml"),
            "--set", f"search.baseline={tmp / 'base.yaml'}", "--set", "data.synthetic.n_train=600",
            "--set", "data.synthetic.n_validation=16", "--set", "tournament.blocks=1",
            "--set", "tracking.backend=none", "--set", "search.scheduler=halving",
            "--set", "search.halving.rungs=[1,2]", "--set", "search.halving.eta=2"]


def state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "state.json"
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:  # caught mid-write
        return {}


def epochs_trained(run_dir: Path) -> Counter[tuple[str, int]]:
    """(training, epoch) -> how many times that epoch was trained to its end."""
    seen: Counter[tuple[str, int]] = Counter()
    for path in (run_dir / "trials").glob("*/events.jsonl"):
        for line in path.read_text().splitlines():
            event = json.loads(line) if line.strip() else {}
            if event.get("event") == "epoch_end":
                seen[(path.parent.name, int(event["epoch"]))] += 1
    return seen


def verdicts(run_dir: Path) -> dict[str, float]:
    with sqlite3.connect(run_dir / "verdicts.sqlite") as db:
        return dict(db.execute("SELECT key, created FROM verdicts").fetchall())


def test_halving_killed_in_a_round_resumes_it_without_retraining_or_rejudging(tmp_path: Path) -> None:
    dry = subprocess.run([sys.executable, "-m", "hpo.cli", *args(tmp_path), "--dry-run"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    bound = int(re.search(r"halving on judge: at most (\d+)", dry.stdout).group(1))  # type: ignore[union-attr]
    assert bound == 7, dry.stdout
    run_dir, logs = tmp_path / "runs" / "r", tmp_path / "logs"
    first = start_hpo(args(tmp_path), logs)
    try:
        decided = lambda: bool(state(run_dir).get("halving", {}).get("decisions"))  # noqa: E731
        assert wait_for(decided, 150, first, poll=0.1), first.stderr.read_text()[-3000:]
        kill_group(first)
        kill_marked(first.marker)
        assert not (run_dir / "report.json").exists()
        stored = {p.stem for p in (run_dir / "answers").glob("*.json")}  # checkpoints delivered
        at_kill, judged = epochs_trained(run_dir), verdicts(run_dir)
        first_rung = state(run_dir)["halving"]["decisions"][0]
        second = start_hpo(["run", "--resume", str(run_dir)], logs)
        assert second.popen.wait(200) == 0, second.stderr.read_text()[-3000:]
    finally:
        for proc in (first, *([second] if "second" in locals() else [])):
            kill_group(proc)
            kill_marked(proc.marker)

    trained = epochs_trained(run_dir)
    again = [(t, e) for (t, e), n in trained.items() if n > 1 and f"{t}-ep{e}" in stored]
    assert not again, trained  # no epoch whose checkpoint was stored at the kill is trained again
    assert all(trained[k] >= 1 for k in at_kill)
    grid_epochs = [k for k in trained if not k[0].startswith("baseline")]
    assert len(grid_epochs) == bound  # the dry run's figure, exactly (no training failed)
    after = verdicts(run_dir)
    assert all(after[k] == created for k, created in judged.items())  # never asked again

    decisions = state(run_dir)["halving"]["decisions"]
    assert decisions[0] == first_rung and [len(d["kept"]) for d in decisions] == [2, 1]
    stopped = [t for t in first_rung["compared"] if t not in first_rung["kept"]]
    report = json.loads((run_dir / "report.json").read_text())
    candidates = {c["candidate_id"] for c in report["candidates"]}
    for t in stopped:  # stopped at the first rung: its epoch-1 checkpoint is a candidate, no more
        assert f"{t}-ep1" in candidates and f"{t}-ep2" not in candidates
    assert f"{decisions[1]['kept'][0]}-ep3" in candidates
    assert len(candidates) == 4 + 2 + 1 and report["missing"] == {}
