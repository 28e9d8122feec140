"""One real run, three things a user does to it: a second `--resume` while it is alive (refused
at once, naming the holder's pid), Ctrl-C during training (one line with the resume command,
exit 130, no Ray hint, no "every training failed"), then a resume after one of its answers files
was damaged (set aside, its training re-runs, the run completes)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import hpo_cli, small_args
from tests.helpers.procs import kill_group, kill_marked, start_hpo, wait_for

pytestmark = pytest.mark.integration


def answers(run_dir: Path) -> list[Path]:
    folder = run_dir / "answers"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def lock_holder(run_dir: Path) -> str:
    path = run_dir / ".lock"
    return path.read_text().strip() if path.is_file() else ""


def test_second_resume_refused_then_ctrl_c_then_resume_repairs(tmp_path: Path,
                                                               small_space: tuple[Path, Path]) -> None:
    run_dir = tmp_path / "runs" / "live"
    # 1500 examples, not small_args' 300: after the first answer the run must still be training,
    # or Ctrl-C can land in its shutdown, after the report is written (then exit 0 is right)
    first = start_hpo(["run", *small_args(tmp_path, *small_space), "--set", "tracking.backend=none",
                       "--set", "data.synthetic.n_train=1500", "--run-name", "live"], tmp_path / "logs")
    try:
        pid = str(first.popen.pid)
        assert wait_for(lambda: lock_holder(run_dir) == pid, 120, first), first.output()[1][-3000:]

        # 1. a second process on the live folder: exit 2 at once, one line naming the holder
        t0 = time.monotonic()
        second = hpo_cli("run", "--resume", str(run_dir), timeout=120)
        took = time.monotonic() - t0
        assert second.returncode == 2, second.stderr[-3000:]
        assert second.stderr.count("\n") == 1 and f"in use by process {pid}" in second.stderr
        assert took < 45, f"refused after {took:.0f} s"

        # 2. Ctrl-C (SIGINT to the process group, as a terminal sends it) during training
        assert wait_for(lambda: len(answers(run_dir)) >= 1, 300, first), first.output()[1][-3000:]
        # the interrupt must find the run still training (a run that finished first exits 0)
        assert first.popen.poll() is None, "the run finished before it could be interrupted"
        os.killpg(first.popen.pid, signal.SIGINT)
        code = first.wait(90)
        out, err = first.output()
        assert code == 130, err[-3000:]
        assert f"hpo: interrupted; resume with: hpo run --resume {run_dir}\n" in err, err[-3000:]
        assert "Tuner.restore" not in out + err and "every training failed" not in out + err
        assert "Traceback" not in err, err[-3000:]
        assert not (run_dir / "report.json").exists()
        assert json.loads((run_dir / "state.json").read_text())["status"] == "interrupted"
        n_before = len(answers(run_dir))
    finally:
        kill_group(first)
        kill_marked(first.marker)

    # 3. one answers file damaged while the run was stopped: the resume regenerates it
    damaged = answers(run_dir)[0]
    damaged.write_text(damaged.read_text()[:100])
    third = hpo_cli("run", "--resume", str(run_dir), timeout=600)
    assert third.returncode == 0, third.stdout[-2000:] + third.stderr[-3000:]
    assert f"{damaged} was damaged" in third.stdout and damaged.with_name(damaged.name + ".corrupt").is_file()
    assert json.loads(damaged.read_text())["format"] == "hpo.answers/v1"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["missing"] == {} and len(report["candidates"]) == 4
    print(f"lock refusal {took:.1f} s; answers at Ctrl-C {n_before}; resumed to {len(answers(run_dir))}")
