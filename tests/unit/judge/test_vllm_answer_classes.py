"""Which server answers the vLLM judge client stores, retries or fails on (httpx's mock transport).

Only a genuine judge answer may become a verdict (INVALID included: a prompt the server refuses);
everything a restarting server, a proxy or a hostile server can send is retried and, if it lasts,
ends in JudgeUnavailableError, so nothing transient ever reaches the verdict store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from judge.backends.vllm import VLLMJudge
from judge.errors import ConfigError, JudgeUnavailableError
from judge.types import JudgeRequest, Verdict

REQ = JudgeRequest("Say hi", "", "hi", "bye")
GOOD = {"choices": [{"text": "1", "logprobs": {"tokens": ["1"], "token_logprobs": [-0.1],
                                                "top_logprobs": [{"1": -0.1, "2": -3.0}]}}]}
Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*first: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering the given responses to the first completions, then GOOD."""
    queue, seen = list(first), []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/tokenize", "/detokenize"):
            return httpx.Response(404, json={"detail": "Not Found"})
        seen.append(request)
        return queue.pop(0) if queue else httpx.Response(200, json=GOOD)

    return handle, seen


def judge_with(handler: Handler, mode: str = "logprobs", max_retries: int = 3) -> VLLMJudge:
    judge = VLLMJudge("judge", url="http://judge.test", mode=mode, timeout_s=1, deadline_s=3,
                      max_retries=max_retries, backoff_base_s=0.01, backoff_max_s=0.02)
    judge._client = httpx.Client(transport=httpx.MockTransport(handler))
    return judge


TRANSIENT = [
    pytest.param(httpx.Response(301, headers={"location": "http://login.test/"}), id="301"),
    pytest.param(httpx.Response(302, text="moved"), id="302"),
    pytest.param(httpx.Response(408, json={"error": "timeout"}), id="408"),
    pytest.param(httpx.Response(409, json={"error": "conflict"}), id="409"),
    pytest.param(httpx.Response(425, json={"error": "too early"}), id="425"),
    pytest.param(httpx.Response(418, text="proxy says no"), id="418-proxy"),
    pytest.param(httpx.Response(200, html="<html>502 from the proxy</html>"), id="html-200"),
    pytest.param(httpx.Response(200, json=["not", "an", "object"]), id="json-list"),
    pytest.param(httpx.Response(200, json={"choices": [{"logprobs": None}]}), id="no-logprobs"),
    pytest.param(httpx.Response(200, content=json.dumps(GOOD).replace("-0.1]", "1e308]").encode()),
                 id="huge-logprob"),
    pytest.param(httpx.Response(200, content=json.dumps(GOOD).replace("-0.1]", "NaN]").encode()), id="nan-logprob"),
    pytest.param(httpx.Response(200, content=b" " * (5 << 20) + json.dumps(GOOD).encode()), id="5MB-body"),
]


@pytest.mark.parametrize("fault", TRANSIENT)
def test_transient_answers_are_retried_then_judged(fault: httpx.Response) -> None:
    handler, seen = scripted(fault)
    out = judge_with(handler).judge([REQ])
    assert out[0].verdict == Verdict.RESPONSE1 and len(seen) == 2


@pytest.mark.parametrize("fault", TRANSIENT)
def test_lasting_transient_answers_raise_unavailable_never_invalid(fault: httpx.Response) -> None:
    handler, seen = scripted(*[fault] * 10)
    with pytest.raises(JudgeUnavailableError, match="still failing"):
        judge_with(handler, max_retries=2).judge([REQ])
    assert len(seen) == 3


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_refused_prompt_is_a_stored_invalid(status: int) -> None:
    handler, seen = scripted(httpx.Response(status, json={"error": "bad prompt"}))
    out = judge_with(handler).judge([REQ])
    assert out[0].verdict == Verdict.INVALID and f"HTTP {status}" in out[0].raw and len(seen) == 1


@pytest.mark.parametrize("status", [401, 403, 407, 404])
def test_auth_and_missing_model_fail_the_run_loudly(status: int) -> None:
    handler, _ = scripted(httpx.Response(status, json={"error": "no"}))
    with pytest.raises(ConfigError, match=f"HTTP {status}"):
        judge_with(handler).judge([REQ])


def test_a_judge_answer_outside_the_format_is_invalid() -> None:
    handler, _ = scripted(httpx.Response(200, json={"choices": [{"text": "both are fine"}]}))
    out = judge_with(handler, mode="verdict").judge([REQ])
    assert out[0].verdict == Verdict.INVALID and out[0].raw == "both are fine"


def test_non_object_model_entries_do_not_crash_the_check() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": ["judge", 3, None, {"id": "judge"}]})
        return httpx.Response(200, text="")

    judge = judge_with(handle)
    judge.check_reachable()
    judge_with(lambda r: httpx.Response(200, json={"data": "judge"})).check_reachable()


@pytest.mark.parametrize("blip", [httpx.Response(503, text="busy"), httpx.Response(200, html="<html>proxy</html>")])
def test_a_tokenizer_blip_while_fitting_is_retried_not_stored(blip: httpx.Response) -> None:
    tokenizer_answers = [blip]
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/tokenize":
            if tokenizer_answers:
                return tokenizer_answers.pop()
            return httpx.Response(200, json={"count": len(body["prompt"]), "max_model_len": 2000})
        if request.url.path == "/detokenize":
            return httpx.Response(404)
        sent.append(body["prompt"])
        if len(body["prompt"]) + body["max_tokens"] > 2000:
            return httpx.Response(400, json={"message": "This model's maximum context length is 2000 tokens"})
        return httpx.Response(200, json={"choices": [{"text": "1"}]})

    long = JudgeRequest("Say hi", "", "hi " * 600, "bye " * 600)
    out = judge_with(handle, mode="verdict").judge([long])
    assert out[0].verdict == Verdict.RESPONSE1 and out[0].truncated
    assert len(sent) == 2 and len(sent[1]) < len(sent[0])


def test_a_chunked_body_is_dropped_once_past_the_size_limit() -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(50):  # 50 MB without a Content-Length; the client stops after 4
            sent.append(1)
            yield b" " * (1 << 20)

    handler = lambda request: httpx.Response(200, content=chunks())  # noqa: E731
    with pytest.raises(JudgeUnavailableError, match="bytes allowed"):
        judge_with(handler, mode="verdict", max_retries=0).judge([REQ])
    assert len(sent) <= 6
