"""One contract, every judge backend: each subclasses `hpo.testing.contracts.BackendContract`
and is built as a run builds it (the registry, from its settings model): reference, hf (the
shipped tiny trained judge), vllm (scripted stub server).

Plus a few backend-specific unit checks that need no model (reference semantics, the vLLM
request payload, the judge-server command line).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hpo.config.schema import packaged_assets  # noqa: E402
from hpo.errors import ConfigError  # noqa: E402
from hpo.testing.contracts import BackendContract  # noqa: E402
from judge.backends import BackendInputs, BackendSettings  # noqa: E402
from judge.backends.hf_settings import HfSettings  # noqa: E402
from judge.backends.reference import ReferenceSettings  # noqa: E402
from judge.backends.vllm import VllmSettings  # noqa: E402
from judge.types import JudgeRequest, Verdict  # noqa: E402
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
# The tiny trained judge's own task family: right and wrong answers, both orders.
SUITE = [
    JudgeRequest("Reverse the string.", "dehafd", "dfahed", "dehafd"),
    JudgeRequest("Convert the string to uppercase.", "dacbj", "dacbj", "DACBJ"),
    JudgeRequest("Reverse the string.", "abc", "cba", "cba"),
    JudgeRequest("Convert the string to uppercase.", "xyz", "XYZ", "xyz"),
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


class TestReference(BackendContract):
    backend_name = "reference"

    def settings(self) -> BackendSettings:
        return ReferenceSettings()

    def inputs(self) -> BackendInputs:
        return BackendInputs(references=REFS)

    def requests(self) -> list[JudgeRequest]:  # decided by exact match (no embedder to load)
        return [REQUESTS[0], REQUESTS[1], REQUESTS[3], JudgeRequest("unknown", "", "a", "b")]


class TestHf(BackendContract):
    """The shipped trained tiny judge (loads in about a second on CPU)."""

    backend_name = "hf"

    def settings(self) -> BackendSettings:
        return HfSettings(model=str(packaged_assets() / "judges" / "tiny-suite-judge"), device="cpu",
                          batch_size=3)

    def requests(self) -> list[JudgeRequest]:
        return SUITE


class TestVllm(BackendContract):
    """Against the scripted stub server; the API key in the environment never shows."""

    backend_name = "vllm"
    secrets = (SECRET,)

    @pytest.fixture(scope="class", autouse=True)
    def server(self, request: pytest.FixtureRequest) -> Iterator[OpenAIStub]:
        with pytest.MonkeyPatch.context() as mp, OpenAIStub(model="stub-judge") as stub:
            mp.setenv("HPO_JUDGE_API_KEY", SECRET)
            stub.answer = stub_answer
            request.cls.url = stub.url
            yield stub

    def settings(self) -> BackendSettings:
        return VllmSettings(model="stub-judge", url=getattr(self, "url", "http://127.0.0.1:9"),
                            timeout_s=5, deadline_s=5)

    def requests(self) -> list[JudgeRequest]:
        return REQUESTS


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
