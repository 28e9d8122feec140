"""Fault handling of the vLLM judge client against a real (scripted) HTTP server."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hpo.errors import ConfigError, JudgeUnavailableError  # noqa: E402
from judge.backends.vllm import VLLMJudge  # noqa: E402
from judge.pairwise import PairwiseJudge  # noqa: E402
from judge.store import VerdictStore  # noqa: E402
from judge.types import ComparisonItem, JudgeRequest, Verdict  # noqa: E402
from tests.helpers.openai_stub import OpenAIStub  # noqa: E402

pytestmark = pytest.mark.integration
SECRET = "sk-faults-SECRET-9876"
REQ = JudgeRequest("Say hi", "", "hi", "bye")


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(model="judge") as server:
        yield server


def client(stub: OpenAIStub, **kwargs: float) -> VLLMJudge:
    opts: dict = {"timeout_s": 5, "deadline_s": 10, "backoff_base_s": 0.05, "backoff_max_s": 0.5}
    opts.update(kwargs)
    return VLLMJudge("judge", url=stub.url, **opts)


def test_500s_then_success(stub: OpenAIStub) -> None:
    stub.push("status", 500, times=3)
    assert client(stub).judge([REQ])[0].verdict == Verdict.RESPONSE1
    assert len(stub.completions()) == 4


def test_500s_past_max_retries_raise(stub: OpenAIStub) -> None:
    stub.push("status", 503, times=10)
    with pytest.raises(JudgeUnavailableError, match="HTTP 503"):
        client(stub, max_retries=2).judge([REQ])
    assert len(stub.completions()) == 3


def test_4xx_is_not_retried_and_is_invalid(stub: OpenAIStub) -> None:
    stub.push("status", 400)
    out = client(stub, concurrency=1).judge([REQ, REQ])
    assert out[0].verdict == Verdict.INVALID and "HTTP 400" in out[0].raw
    assert out[1].verdict == Verdict.RESPONSE1
    assert len(stub.completions()) == 2


def test_timeout_then_retry(stub: OpenAIStub) -> None:
    stub.push("hang", 3.0)
    start = time.monotonic()
    assert client(stub, timeout_s=0.5).judge([REQ])[0].verdict == Verdict.RESPONSE1
    assert time.monotonic() - start < 2.5
    assert len(stub.completions()) == 2


def test_garbage_bodies_are_retried_and_odd_answers_are_invalid(stub: OpenAIStub) -> None:
    stub.push("text", "<html>proxy error</html>")
    stub.answer = "As an AI model I think both are fine"
    out = client(stub, concurrency=1).judge([REQ, REQ])
    assert [j.verdict for j in out] == [Verdict.INVALID, Verdict.INVALID]
    assert all(j.raw.startswith("As an AI") for j in out)  # a real answer, judged; the HTML was retried
    assert len(stub.completions()) == 3


def test_down_then_back_completes_with_backoff(stub: OpenAIStub) -> None:
    comeback = stub.down_for(3.0)
    start = time.monotonic()
    out = client(stub, backoff_max_s=0.5).judge([REQ] * 4)
    assert [j.verdict for j in out] == [Verdict.RESPONSE1] * 4
    assert 2.5 < time.monotonic() - start < 8
    comeback.join()


def test_down_past_deadline_raises_one_line(stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPO_JUDGE_API_KEY", SECRET)
    stub.stop()
    judge = client(stub, deadline_s=1.5)
    start = time.monotonic()
    with pytest.raises(JudgeUnavailableError) as info:
        judge.judge([REQ] * 8)
    assert 1.4 < time.monotonic() - start < 4
    assert info.value.exit_code == 5
    message = str(info.value)
    assert "\n" not in message and SECRET not in message and "unreachable" in message
    with pytest.raises(JudgeUnavailableError, match="unreachable"):
        judge.check_reachable()


def test_api_key_sent_but_never_logged(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HPO_JUDGE_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with OpenAIStub(model="judge", api_key=SECRET) as stub:
        stub.push("status", 500)
        judge = client(stub)
        judge.check_reachable()
        assert judge.judge([REQ])[0].verdict == Verdict.RESPONSE1
        assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in stub.completions())
    assert "retry 1" in caplog.text  # the retry was logged ...
    assert SECRET not in caplog.text  # ... without the key
    assert SECRET not in judge.identity and SECRET not in repr(judge)


def test_wrong_key_and_wrong_model_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPO_JUDGE_API_KEY", "wrong")
    with OpenAIStub(model="judge", api_key=SECRET) as stub:
        with pytest.raises(ConfigError, match="API key") as info:
            client(stub).judge([REQ])
        assert "wrong" not in str(info.value)
        monkeypatch.setenv("HPO_JUDGE_API_KEY", SECRET)
        with pytest.raises(ConfigError, match="does not serve model 'other'"):
            VLLMJudge("other", url=stub.url).check_reachable()


def test_first_fatal_error_stops_the_batch_at_once(stub: OpenAIStub) -> None:
    stub.push("hang", 4.0)
    stub.push("status", 401)
    start = time.monotonic()
    with pytest.raises(ConfigError, match="HTTP 401"):
        client(stub, concurrency=2).judge([REQ] * 6)
    assert time.monotonic() - start < 2  # did not wait for the hanging request
    assert len(stub.completions()) <= 3  # the other four were cancelled (one may race the abort)


def test_concurrency_is_bounded_and_used(stub: OpenAIStub) -> None:
    stub.push("hang", 0.5, times=8)
    start = time.monotonic()
    out = client(stub, concurrency=4).judge([REQ] * 8)
    elapsed = time.monotonic() - start
    assert len(out) == 8 and 0.9 < elapsed < 1.8  # two waves of four, not eight in series


# A broken or hostile server: every fault is transient. Pushed once, the client retries and stores
# the real answer; pushed for good, it raises JudgeUnavailableError within deadline_s plus one
# timeout, and the store holds nothing. Each case runs in a few seconds.
ABSURD = {"choices": [{"text": "1", "logprobs": {"tokens": ["1"], "token_logprobs": [1e308],
                                                 "top_logprobs": [{"1": 1e308, "2": -1.0}]}}]}
HOSTILE = [
    pytest.param("status", 301, id="301"), pytest.param("status", 307, id="307"),
    pytest.param("status", 408, id="408"), pytest.param("status", 409, id="409"),
    pytest.param("status", 425, id="425"), pytest.param("html", "bad gateway", id="html-200"),
    pytest.param("json", {"choices": "none"}, id="wrong-json"), pytest.param("json", ABSURD, id="absurd-logprob"),
    pytest.param("big", 50, id="50MB"), pytest.param("trickle", 1.0, id="trickle-1B/s"),
]
TIMEOUT_S, DEADLINE_S = 1.5, 2.5  # a 1 B/s trickle never trips the per-read timeout
ITEM = ComparisonItem("Say hi", "", "hi", "bye")


def hostile_judge(stub: OpenAIStub, store: VerdictStore) -> PairwiseJudge:
    backend = VLLMJudge("judge", url=stub.url, mode="logprobs", timeout_s=TIMEOUT_S, deadline_s=DEADLINE_S,
                        max_retries=50, backoff_base_s=0.05, backoff_max_s=0.2)
    backend.check_reachable()
    return PairwiseJudge(backend, store, invalid_retries=0)  # the client alone must retry


@pytest.mark.parametrize(("kind", "value"), HOSTILE)
def test_a_transient_fault_is_retried_and_only_the_answer_stored(
        stub: OpenAIStub, tmp_path: Path, kind: str, value: object) -> None:
    stub.logprobs = lambda prompt: {"1": -0.1, "2": -2.5, "Tie": -4.0}
    stub.push(kind, value)
    with VerdictStore(tmp_path / "v.sqlite") as store:
        judge = hostile_judge(stub, store)
        start = time.monotonic()
        assert judge.compare([ITEM]) == [0]  # "1" both ways: a conflict, a tie under strict
        assert time.monotonic() - start < DEADLINE_S + TIMEOUT_S + 1
        rows = store.all_rows()
    assert len(rows) == 2 and {r["verdict"] for r in rows} == {"1"}
    assert len(stub.completions()) == 3


@pytest.mark.parametrize(("kind", "value"), HOSTILE)
def test_a_lasting_fault_stops_in_time_and_stores_nothing(
        stub: OpenAIStub, tmp_path: Path, kind: str, value: object) -> None:
    stub.logprobs = lambda prompt: {"1": -0.1, "2": -2.5, "Tie": -4.0}
    stub.push(kind, value, times=1000)
    with VerdictStore(tmp_path / "v.sqlite") as store:
        judge = hostile_judge(stub, store)
        start = time.monotonic()
        with pytest.raises(JudgeUnavailableError) as info:
            judge.compare([ITEM])
        elapsed = time.monotonic() - start
        assert store.count() == 0
    assert elapsed < DEADLINE_S + TIMEOUT_S + 0.5, f"{elapsed:.1f}s"
    assert "\n" not in str(info.value) and info.value.exit_code == 5


def test_non_object_model_entries_are_skipped(stub: OpenAIStub) -> None:
    stub.model_entries = ["judge", 42, None, [1], {"id": 7}]
    judge = client(stub)
    judge.check_reachable()
    assert judge.judge([REQ])[0].verdict == Verdict.RESPONSE1
    stub.model = "judge-2"  # only junk left that names no model: served, but not ours
    with pytest.raises(ConfigError, match="does not serve model 'judge'"):
        client(stub).check_reachable()


def test_a_trickle_cannot_outlive_the_deadline(stub: OpenAIStub) -> None:
    stub.push("trickle", 0.3, times=1000)
    start = time.monotonic()
    with pytest.raises(JudgeUnavailableError):
        client(stub, timeout_s=1, deadline_s=2, max_retries=50).judge([REQ])
    assert time.monotonic() - start < 3.5


def test_abort_interrupts_a_call_in_flight(stub: OpenAIStub) -> None:
    stub.push("trickle", 0.3)  # one request trickles for a minute, the other meets a wrong key
    stub.push("status", 401)
    before = set(threading.enumerate())
    with pytest.raises(ConfigError, match="HTTP 401"):
        client(stub, concurrency=2, timeout_s=30, deadline_s=30).judge([REQ, REQ])
    time.sleep(1.5)
    assert [t.name for t in threading.enumerate() if t not in before] == []  # no request thread left
