"""The judge server goes away mid-tournament.

One run against the scripted stub (`vllm` backend, /v1/completions), tournament after training
(`tournament.overlap=false`) so the outage is surely mid-tournament:
  1. the server is down for 6 s (CI-sized; real restarts take ~30-90 s) and comes back on the
     same port: the run waits with backoff and goes on;
  2. the server goes down for good: past `judge.deadline_s` (30 s) the run stops with exit 5,
     one error line, status "interrupted", no report;
  3. the server is back: `hpo run --resume` finishes, paying only for judgments not stored.
Plus invalid judge output: counted, retried per `judge.invalid_retries`, never a silent tie.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import SMALL_BASELINE, SMALL_GRID
from tests.helpers.openai_stub import OpenAIStub
from tests.helpers.procs import (
    kill_group,
    kill_marked,
    prefer_longer,
    start_hpo,
    verdict_keys,
    verdict_rows,
    wait_for,
)

pytestmark = pytest.mark.integration

DEADLINE_S = 30  # > the outage (6 s) plus the stub's restart under CI load
DOWN_S = 6


def run_args(tmp: Path, stub: OpenAIStub, name: str, *extra: str, n_train: int = 300) -> list[str]:
    """A small run judged by `stub`; `n_train` sets how long training lasts (the overlap test
    needs trainings still running when its judge goes away)."""
    return ["run", "--run-root", str(tmp / "runs"), "--space", str(tmp / "grid.yaml"),
            "--set", f"search.baseline={tmp / 'base.yaml'}", "--set", f"data.synthetic.n_train={n_train}",
            "--set", "data.synthetic.n_validation=16", "--set", "tournament.blocks=1",
            "--judge", "vllm", "--judge-model", stub.model, "--judge-url", stub.url,
            "--set", "tracking.backend=none", "--set", "tournament.overlap=false",
            "--set", f"judge.deadline_s={DEADLINE_S}", "--run-name", name, *extra]


def write_space(tmp: Path) -> None:
    (tmp / "grid.yaml").write_text(SMALL_GRID)
    (tmp / "base.yaml").write_text(SMALL_BASELINE)


def test_judge_down_then_back_then_gone_then_resume(tmp_path: Path) -> None:
    write_space(tmp_path)
    stub = OpenAIStub().start()
    stub.answer = lambda prompt: prefer_longer(prompt, 0.2)
    run_dir = tmp_path / "runs" / "outage"
    proc = start_hpo(run_args(tmp_path, stub, "outage"), tmp_path / "logs")
    try:
        assert wait_for(lambda: len(stub.completions()) >= 4, 300, proc), proc.output()[1][-3000:]
        stub.down_for(DOWN_S).join()  # 1. down, then back on the same port
        seen = len(stub.completions())
        assert proc.popen.poll() is None, "the run did not wait for the judge to come back"
        assert wait_for(lambda: len(stub.completions()) >= seen + 3, 60, proc), "no retry after comeback"
        stub.stop()  # 2. gone for good
        gone = time.monotonic()
        rc = proc.wait(DEADLINE_S + 60)
        waited = time.monotonic() - gone
    finally:
        kill_group(proc)
        kill_marked(proc.marker)
    out, err = proc.output()
    errors = [ln for ln in err.splitlines() if ln.startswith("hpo: error:")]
    assert rc == 5, err[-3000:]
    assert len(errors) == 1 and "judge server" in errors[0] and "Traceback" not in err, err[-3000:]
    # judge.deadline_s runs per request from its first failure: it retried, then gave up in bounded time
    assert 2 <= waited <= DEADLINE_S + 45, waited  # + process exit (Ray shutdown) under CI load
    assert "still failing after" in errors[0]
    assert json.loads((run_dir / "state.json").read_text())["status"] == "interrupted"
    assert not (run_dir / "report.json").exists()
    stored = verdict_rows(run_dir / "verdicts.sqlite")

    stub.start()  # 3. back: resume finishes
    try:
        resumed = start_hpo(["run", "--resume", str(run_dir)], tmp_path / "logs")
        try:
            assert resumed.wait(300) == 0, resumed.output()[1][-3000:]
        finally:
            kill_marked(resumed.marker)
    finally:
        stub.stop()
    report = json.loads((run_dir / "report.json").read_text())
    keys = verdict_keys(run_dir / "verdicts.sqlite")
    assert len(keys) == len(set(keys)) and report["missing"] == {}
    assert report["judge_stats"]["calls"] == len(keys) - stored


def test_invalid_judge_output_is_counted_and_retried(tmp_path: Path) -> None:
    """Every 3rd distinct prompt gets garbage the first time (a retry fixes it); one prompt always."""
    write_space(tmp_path)
    stub = OpenAIStub().start()
    seen: dict[str, int] = {}
    always_bad: list[str] = []

    def flaky(prompt: str) -> str:
        seen[prompt] = seen.get(prompt, 0) + 1
        if not always_bad:
            always_bad.append(prompt)
        if prompt == always_bad[0] or (len(seen) % 3 == 0 and seen[prompt] == 1):
            return "I cannot decide"
        return prefer_longer(prompt)

    stub.answer = flaky
    try:
        proc = start_hpo(run_args(tmp_path, stub, "invalid", "--set", "judge.invalid_retries=2"),
                         tmp_path / "logs")
        try:
            rc = proc.wait(300)
        finally:
            kill_marked(proc.marker)
    finally:
        stub.stop()
    assert rc == 0, proc.output()[1][-3000:]
    report = json.loads((tmp_path / "runs" / "invalid" / "report.json").read_text())
    stats = report["judge_stats"]
    assert seen[always_bad[0]] == 3  # first try + judge.invalid_retries=2
    retried = sum(n - 1 for n in seen.values())
    assert stats["calls"] == len(seen) + retried  # retries are counted as calls
    assert stats["verdicts_invalid"] >= 1 and stats["invalid_items"] >= 1
    rows = [json.loads(ln) for ln in (tmp_path / "runs" / "invalid" / "verdicts.jsonl").read_text().splitlines()]
    invalid_rows = [r for r in rows if r["verdict"] == "invalid"]
    assert len(invalid_rows) == 1 and "cannot decide" in invalid_rows[0]["raw"]
    matches = report["matches"] + ([report["baseline"]] if report["baseline"] else [])
    assert sum(m.get("invalid", 0) for m in matches) >= 1, "an invalid item was silently scored"


def test_overlap_outage_exit_5_after_checkpoints_then_resume_on_new_judge_url(tmp_path: Path) -> None:
    """Overlap on: the judge goes away for good while trials train. Training goes on; past
    judge.deadline_s each trial stops after its current checkpoint (stored) and the run ends
    with exit 5 (resumable).
    A resume that changes the model is refused in one line; one that moves the judge
    (--judge-url) applies it, records it, and finishes with 0 judgments repeated."""
    write_space(tmp_path)
    old = OpenAIStub().start()
    old.answer = lambda prompt: prefer_longer(prompt, 0.2)
    run_dir = tmp_path / "runs" / "overlap"
    args = run_args(tmp_path, old, "overlap", "--set", "tournament.overlap=true",
                    "--set", "judge.deadline_s=15", n_train=2000)
    proc = start_hpo(args, tmp_path / "logs")
    try:
        assert wait_for(lambda: len(old.completions()) >= 2, 600, proc), proc.output()[1][-3000:]
        old.stop()  # gone for good, with trainings still running
        rc = proc.wait(600)
    finally:
        kill_group(proc)
        kill_marked(proc.marker)
    out, err = proc.output()
    assert rc == 5, err[-3000:]
    assert "judge unreachable since" in out, out[-2000:]
    stored_answers = {p.stem for p in (run_dir / "answers").glob("*.json")}
    assert stored_answers, "exit 5 came before any checkpoint's answers were stored"
    for cid in stored_answers:  # trainings stopped at checkpoint boundaries: epochs form prefixes
        if cid.endswith("-ep2"):
            assert cid.replace("-ep2", "-ep1") in stored_answers, sorted(stored_answers)
    assert json.loads((run_dir / "state.json").read_text())["status"] == "interrupted"
    stored = verdict_rows(run_dir / "verdicts.sqlite")

    refused = start_hpo(["run", "--resume", str(run_dir), "--model", "smollm2-135m"], tmp_path / "logs")
    assert refused.wait(120) == 2
    lines = [ln for ln in refused.output()[1].splitlines() if ln.startswith("hpo: error:")]
    assert len(lines) == 1 and "--model" in lines[0], refused.output()[1][-2000:]

    with OpenAIStub() as new:
        new.answer = prefer_longer
        resumed = start_hpo(["run", "--resume", str(run_dir), "--judge-url", new.url], tmp_path / "logs")
        try:
            assert resumed.wait(300) == 0, resumed.output()[1][-3000:]
        finally:
            kill_marked(resumed.marker)
        assert new.completions(), "the new judge URL was not used"
    keys = verdict_keys(run_dir / "verdicts.sqlite")
    report = json.loads((run_dir / "report.json").read_text())
    assert len(keys) == len(set(keys)) and report["judge_stats"]["calls"] == len(keys) - stored
    assert report["missing"] == {} and len(list((run_dir / "answers").glob("*.json"))) == 5
    history = json.loads((run_dir / "state.json").read_text())["history"]
    assert history[-1]["changed"]["judge.url"] == [old.url, new.url]
