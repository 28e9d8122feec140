"""vLLM client error classes and modes against the scripted OpenAI server (real HTTP).

429 and 503 are retried and never stored; an over-long prompt is fitted (both responses cut
equally) and counted; logprobs mode reads P("1"), P("2"), P("Tie") by id (/tokenize served)
or from the top 20 (not served); faithful mode asks for vLLM's beam search.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from judge.backends.vllm import VLLMJudge  # noqa: E402
from judge.pairwise import PairwiseJudge  # noqa: E402
from judge.store import VerdictStore  # noqa: E402
from judge.types import ComparisonItem, JudgeRequest, Verdict  # noqa: E402
from tests.helpers.openai_stub import OpenAIStub  # noqa: E402

pytestmark = pytest.mark.integration
REQ = JudgeRequest("Say hi", "", "hi", "bye")
ITEM = ComparisonItem("Say hi", "", "hi", "bye")


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(model="judge") as server:
        yield server


def client(stub: OpenAIStub, **kwargs: object) -> VLLMJudge:
    opts: dict = {"timeout_s": 5, "deadline_s": 10, "backoff_base_s": 0.05, "backoff_max_s": 0.5}
    opts.update(kwargs)
    return VLLMJudge("judge", url=stub.url, **opts)


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limit_and_unavailable_are_retried_and_never_stored(stub: OpenAIStub, tmp_path: Path,
                                                                 status: int) -> None:
    stub.push("status", status, times=7)  # more than max_retries: 429 does not count against it
    store = VerdictStore(tmp_path / "v.sqlite")
    judge = PairwiseJudge(client(stub, max_retries=10), store)
    assert judge.compare([ITEM]) == [0]  # the stub answers "1" in both orders: a conflict
    verdicts = [r["verdict"] for r in store.all_rows()]
    assert verdicts == ["1", "1"] and "invalid" not in verdicts
    assert len(stub.completions()) == 2 + 7


def test_429_honours_the_deadline_not_max_retries(stub: OpenAIStub) -> None:
    stub.push("status", 429, times=4)
    assert client(stub, max_retries=1).judge([REQ])[0].verdict is Verdict.RESPONSE1


def test_over_long_prompt_is_fitted_and_counted(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.max_model_len = 420  # one char per token; the fixed prompt is ~250
    seen: list[str] = []

    def answer(prompt: str) -> str:
        seen.append(prompt)
        return "1\n"

    stub.answer = answer
    item = ComparisonItem("Say hi", "", "h" * 400, "bye")
    judge = PairwiseJudge(client(stub), VerdictStore(tmp_path / "v.sqlite"))
    assert judge.compare([item], pair=("long", "short")) == [0]
    assert all(len(p) + 4 <= 420 for p in seen) and len(seen) == 2
    assert judge.stats_dict()["per_candidate"] == {"long": {"invalid": 0, "truncated": 2},
                                                   "short": {"invalid": 0, "truncated": 0}}
    rows = VerdictStore(tmp_path / "v.sqlite").all_rows()
    assert sorted(r["truncated"] for r in rows) == ["1", "2"]


def test_prompt_that_cannot_fit_is_an_explained_invalid(stub: OpenAIStub) -> None:
    stub.max_model_len = 100
    out = client(stub).judge([REQ])[0]
    assert out.verdict is Verdict.INVALID and "cannot be fitted" in out.raw


def lp(p1: float, p2: float, pt: float, other: float = 1e-6) -> dict[str, float]:
    return {"1": math.log(p1), "2": math.log(p2), "T": math.log(pt), "x": math.log(other)}


def test_logprobs_by_token_id(stub: OpenAIStub) -> None:
    stub.max_model_len = 4096  # serves /tokenize: one char per token, "Tie" starts with "T"
    stub.logprobs = lambda prompt: lp(0.2, 0.7, 0.1)
    judge = client(stub, mode="logprobs")
    out = judge.judge([REQ])[0]
    assert out.verdict is Verdict.RESPONSE2 and out.probs is not None
    assert [round(p, 6) for p in out.probs] == [0.2, 0.7, 0.1]
    body = stub.completions()[-1].body
    assert body["max_tokens"] == 1 and body["logprob_token_ids"] == [ord("1"), ord("2"), ord("T")]


def test_logprobs_without_tokenize_uses_top_k(stub: OpenAIStub) -> None:
    stub.logprobs = lambda prompt: {"1": math.log(0.3), "2": math.log(0.2), "Tie": math.log(0.45)}
    out = client(stub, mode="logprobs", tie_band=0.0).judge([REQ])[0]
    assert out.verdict is Verdict.TIE and stub.completions()[-1].body["logprobs"] == 20
    stub.logprobs = lambda prompt: {"1": math.log(0.3), "2": math.log(0.2), "Sure": math.log(0.5)}
    assert client(stub, mode="logprobs").judge([REQ])[0].verdict is Verdict.INVALID


def test_faithful_asks_for_beam_search(stub: OpenAIStub) -> None:
    judge = client(stub, mode="faithful")
    assert judge.judge([REQ])[0].verdict is Verdict.RESPONSE1
    body = stub.completions()[-1].body
    assert body["use_beam_search"] is True and body["n"] == 4 and body["max_tokens"] == 512
    assert judge.identity == "vllm:judge:faithful:beams=4:rep=none:vllm-beam:max=512"
    judge.check_reachable()  # the server's weights path (/models/judge) stays out of the identity
    assert judge.identity == "vllm:judge:faithful:beams=4:rep=none:vllm-beam:max=512"
