"""`hpo run` SIGKILLed during training, resumed, SIGKILLed again during the tournament, resumed.

The judge is the `vllm` backend pointed at the scripted stub server, slowed down (each
completion takes ~0.25 s, served one at a time) so that the tournament outlasts training and
"during the tournament" can be hit by polling the verdict store. An uninterrupted run with the
same seed runs beside it, against its own stub, and is the reference: same verdict keys (each
stored once), same winner, and no judgment stored before a kill is requested again after it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from judge.prompt import build_prompt
from tests.conftest import SMALL_BASELINE, SMALL_GRID
from tests.helpers.openai_stub import OpenAIStub
from tests.helpers.procs import (
    HpoProcess,
    kill_group,
    kill_marked,
    marked_pids,
    prefer_longer,
    start_hpo,
    verdict_keys,
    verdict_rows,
    wait_for,
)

pytestmark = pytest.mark.integration

DELAY_S = 0.25


def run_args(tmp: Path, stub: OpenAIStub, name: str) -> list[str]:
    return ["run", "--run-root", str(tmp / "runs"), "--space", str(tmp / "grid.yaml"),
            "--set", f"search.baseline={tmp / 'base.yaml'}", "--set", "data.synthetic.n_train=2000",
            "--set", "data.synthetic.n_validation=16", "--set", "tournament.blocks=1",
            "--judge", "vllm", "--judge-model", stub.model, "--judge-url", stub.url,
            "--set", "tracking.backend=none", "--run-name", name]


def slow_stub() -> OpenAIStub:
    stub = OpenAIStub().start()
    stub.answer = lambda prompt: prefer_longer(prompt, DELAY_S)
    return stub


def answer_files(run_dir: Path) -> list[Path]:
    folder = run_dir / "answers"
    return [p for p in folder.glob("*.json") if not p.name.startswith(".")] if folder.is_dir() else []


def crash(proc: HpoProcess) -> tuple[int, int]:
    """SIGKILL the process group; returns (Ray processes left behind, still alive after reaping)."""
    kill_group(proc)
    left = len(marked_pids(proc.marker))
    return left, len(kill_marked(proc.marker))


def prompt_keys(store: Path) -> dict[str, str]:
    """Prompt text -> verdict key, for every stored judgment (maps stub requests to keys)."""
    import sqlite3

    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT key, instruction, input, response1, response2 FROM verdicts")
        return {build_prompt(i, x, r1, r2): k for k, i, x, r1, r2 in rows}


def test_kill_during_training_and_tournament_then_resume(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(SMALL_GRID)
    (tmp_path / "base.yaml").write_text(SMALL_BASELINE)
    ref_stub, stub = slow_stub(), slow_stub()
    ref = start_hpo(run_args(tmp_path, ref_stub, "ref"), tmp_path / "logs")
    run_dir, store = tmp_path / "runs" / "crashy", tmp_path / "runs" / "crashy" / "verdicts.sqlite"
    procs = [ref]
    try:
        # 1. killed during training: as soon as the first checkpoint's answers exist
        first = start_hpo(run_args(tmp_path, stub, "crashy"), tmp_path / "logs")
        procs.append(first)
        assert wait_for(lambda: len(answer_files(run_dir)) >= 1, 300, first), first.output()[1][-3000:]
        left1, alive1 = crash(first)
        assert alive1 == 0
        assert len(answer_files(run_dir)) < 5 and not (run_dir / "report.json").exists()
        kill1_requests = len(stub.completions())
        stored_at_kill1 = set(verdict_keys(store)) if store.exists() else set()

        # 2. resumed, then killed during the tournament: every answer is in, judging goes on
        second = start_hpo(["run", "--resume", str(run_dir)], tmp_path / "logs")
        procs.append(second)
        in_tournament = lambda: len(answer_files(run_dir)) == 5 and verdict_rows(store) > len(stored_at_kill1)  # noqa: E731
        assert wait_for(in_tournament, 300, second), second.output()[1][-3000:]
        assert not (run_dir / "report.json").exists(), "tournament finished before the kill"
        left2, alive2 = crash(second)
        assert alive2 == 0
        kill2_requests = len(stub.completions())
        stored_at_kill2 = set(verdict_keys(store))

        # 3. resumed to the end
        third = start_hpo(["run", "--resume", str(run_dir)], tmp_path / "logs")
        procs.append(third)
        assert third.wait(300) == 0, third.output()[1][-3000:]
        assert ref.wait(300) == 0, ref.output()[1][-3000:]
    finally:
        for proc in procs:
            kill_group(proc)
            kill_marked(proc.marker)
        ref_stub.stop()
        stub.stop()

    ref_dir = tmp_path / "runs" / "ref"
    ref_keys, keys = verdict_keys(ref_dir / "verdicts.sqlite"), verdict_keys(store)
    assert set(keys) == set(ref_keys), "verdict keys differ from the uninterrupted run"
    assert len(keys) == len(set(keys))  # every judgment stored once

    # No judgment stored before a kill was requested again after it.
    to_key = prompt_keys(store)
    requested = [to_key.get(str(r.body.get("prompt")), "?") for r in stub.completions()]
    assert "?" not in requested
    assert not stored_at_kill1 & set(requested[kill1_requests:])
    assert not stored_at_kill2 & set(requested[kill2_requests:])
    repeats = sum(n - 1 for n in Counter(requested).values())
    assert repeats <= 16  # only requests in flight at a kill (bounded by judge.concurrency)

    report, ref_report = (json.loads((d / "report.json").read_text()) for d in (run_dir, ref_dir))
    assert report["winner"]["candidate_id"] == ref_report["winner"]["candidate_id"]
    assert report["missing"] == {} and json.loads((run_dir / "state.json").read_text())["status"] == "finished"
    # the last process paid only for judgments not yet stored at its start
    assert report["judge_stats"]["calls"] == len(keys) - len(stored_at_kill2)
    assert ref_report["judge_stats"]["calls"] == len(ref_keys)
    print(f"kill/resume: ray processes left after group kill: {left1}, {left2}; "
          f"keys {len(keys)} (ref {len(ref_keys)}), lost 0, re-requested in flight {repeats}")
