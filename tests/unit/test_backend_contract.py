"""One contract, every judge backend: reference, hf (tiny LLaMA), vllm (scripted stub server).

Plus a few backend-specific unit checks that need no model (reference semantics, the vLLM
request payload, the judge-server command line).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hpo.errors import ConfigError  # noqa: E402
from judge.types import JudgeBackend, JudgeRequest, Judgment, Verdict  # noqa: E402
from tests.helpers.openai_stub import OpenAIStub, free_port  # noqa: E402
from tests.helpers.tiny_llama import build_tiny_llama  # noqa: E402

SECRET = "sk-contract-SECRET-4242"
REFS = {("Capital of France?", ""): "Paris", ("Add", "2+2"): "4", ("Reverse", "abc"): "cba"}
REQUESTS = [
    JudgeRequest("Capital of France?", "", "Paris", "Lyon"),
    JudgeRequest("Add", "2+2", "5", "4"),
    JudgeRequest("Reverse", "abc", "cba", "cba."),
    JudgeRequest("Reverse", "abc", "abc", "cba"),
]


def stub_answer(prompt: str) -> str:
    """Deterministic per prompt, so order can be checked: the right answer in slot 1 wins."""
    first = prompt.split("### Response 1:\n", 1)[1].split("\n", 1)[0]
    return "1\n" if first in ("Paris", "4", "cba") else "2\n"


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(model="stub-judge") as server:
        server.answer = stub_answer
        yield server


@pytest.fixture(params=["reference", "hf", "vllm"])
def make_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Callable[[], JudgeBackend]:
    monkeypatch.setenv("HPO_JUDGE_API_KEY", SECRET)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = request.param
    if name == "reference":
        from judge.backends.reference import ReferenceJudge

        return lambda: ReferenceJudge(REFS)
    if name == "hf":
        from judge.backends.hf import HFJudge

        path = str(request.getfixturevalue("tiny_llama_dir"))
        return lambda: HFJudge(path, batch_size=3)
    from judge.backends.vllm import VLLMJudge

    url = request.getfixturevalue("stub").url
    return lambda: VLLMJudge("stub-judge", url=url, timeout_s=5, deadline_s=5)


def test_one_judgment_per_request_in_order(make_backend: Callable[[], JudgeBackend]) -> None:
    backend = make_backend()
    out = backend.judge(REQUESTS)
    assert len(out) == len(REQUESTS)
    assert all(isinstance(j, Judgment) and isinstance(j.verdict, Verdict) for j in out)
    one_by_one = [backend.judge([r])[0] for r in REQUESTS]
    assert [(j.verdict, j.raw) for j in out] == [(j.verdict, j.raw) for j in one_by_one]
    backend.close()


def test_identity_has_no_secret(make_backend: Callable[[], JudgeBackend]) -> None:
    backend = make_backend()
    assert isinstance(backend, JudgeBackend)
    assert isinstance(backend.identity, str) and backend.identity
    for text in (backend.identity, repr(backend)):
        assert SECRET not in text and "http" not in backend.identity
    backend.close()


def test_empty_batch_and_idempotent_close(make_backend: Callable[[], JudgeBackend]) -> None:
    backend = make_backend()
    assert backend.judge([]) == []
    backend.close()
    backend.close()


def test_stub_backed_vllm_verdicts_follow_the_server(stub: OpenAIStub) -> None:
    from judge.backends.vllm import VLLMJudge

    judge = VLLMJudge("stub-judge", url=stub.url, concurrency=2)
    before = len(stub.completions())
    out = judge.judge(REQUESTS)
    judge.close()
    assert [j.verdict for j in out] == [Verdict.RESPONSE1, Verdict.RESPONSE2, Verdict.RESPONSE1, Verdict.RESPONSE2]
    sent = stub.completions()[before:]
    assert len(sent) == 4 and all(r.body["stop"] == ["\n"] and r.body["temperature"] == 0 for r in sent)
    assert all(r.body["prompt"].endswith("### Evaluation:\n") and r.body["max_tokens"] == 4 for r in sent)


def test_reference_semantics() -> None:
    from judge.backends.reference import ReferenceJudge, normalize

    assert normalize("  The  answer:\tPARIS!! ") == "the answer: paris"
    judge = ReferenceJudge(REFS)
    out = judge.judge(REQUESTS + [JudgeRequest("unknown", "", "a", "b")])
    assert [j.verdict for j in out[:2]] == [Verdict.RESPONSE1, Verdict.RESPONSE2]
    assert out[2].verdict == Verdict.TIE  # both match after normalization
    assert out[3].verdict == Verdict.RESPONSE2 and out[3].raw.startswith("exact match")
    assert out[4].verdict == Verdict.INVALID and "no reference" in out[4].raw


def test_reference_similarity_fallback_and_tie_margin() -> None:
    from judge.backends.reference import ReferenceJudge

    refs = {("Capital?", ""): "The capital of France is Paris."}
    req = JudgeRequest("Capital?", "", "I like turtles.", "Paris is the capital of France.")
    assert ReferenceJudge(refs).judge([req])[0].verdict == Verdict.RESPONSE2
    assert ReferenceJudge(refs, tie_margin=1.99).judge([req])[0].verdict == Verdict.TIE


def test_bad_options_are_config_errors(tiny_llama_dir: Path) -> None:
    from judge.backends.hf import HFJudge
    from judge.backends.vllm import VLLMJudge

    with pytest.raises(ConfigError, match="mode"):
        VLLMJudge("m", mode="fast")
    with pytest.raises(ConfigError, match="max_new_tokens"):
        VLLMJudge("m", max_new_tokens=0)
    with pytest.raises(ConfigError, match="cannot load"):
        HFJudge(str(tiny_llama_dir / "missing"))


def test_serve_command_cpu_and_gpu() -> None:
    from judge.serve import server_command, server_env

    cpu = server_command("/m", "127.0.0.1", 8001, "py", "judge", False, None, ["--seed", "1"])
    assert cpu[:3] == ["py", "-m", "vllm.entrypoints.openai.api_server"]
    assert " ".join(cpu).endswith("--dtype float32 --enforce-eager --max-model-len 1024 --seed 1")
    gpu = server_command("/m", "0.0.0.0", 8001, "py", "judge", True, None, [])
    assert "float32" not in gpu and "--max-model-len" not in gpu and "auto" in gpu
    env = server_env(False, "/tmp/c")
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "0-1" and env["HF_HUB_OFFLINE"] == "1"


def test_serve_judge_fails_in_one_line(stub: OpenAIStub, tmp_path: Path) -> None:
    from judge.serve import serve_judge

    with pytest.raises(ConfigError, match="already in use"):
        serve_judge("/m", port=stub.port, python=sys.executable)
    with pytest.raises(ConfigError, match="exited with code 1 before ready.*No module named") as info:
        serve_judge("/m", port=free_port(), python=sys.executable, log_path=str(tmp_path / "log"), gpu=False)
    assert "\n" not in str(info.value)
