"""Judge backend: a client for a vLLM OpenAI-compatible server (`/v1/completions`).

Why a server: vLLM's continuous batching keeps the accelerator busy across many
requests, so we send every comparison of a round at once with bounded concurrency and let
the server batch them. Modes (judge.backends.MODES): `logprobs` asks for ONE token with the
log-probabilities of "1", "2" and "Tie"'s first token (exact ids through vLLM's
`logprob_token_ids` when `/tokenize` is served, else the top 20); `faithful` uses vLLM's
beam search (4 beams, 512 tokens; vLLM's beam search has no repetition penalty or early
stopping, so it is PandaLM's decoding minus those two: see docs/judge.md).

Error classes, so a whole HPO run survives a restarting, busy, broken or hostile judge and
no transient error is ever stored as a verdict. Only a genuine answer becomes a Judgment: a
completion in the expected JSON (INVALID when its text is not a verdict), or INVALID for a
prompt the server refuses (400, 413, 422). A 400 for a prompt over the context is fitted
(judge.fit: both responses cut equally) and sent again. 401, 403, 407 (a key or proxy
credentials) and 404 (model or endpoint) stop the run with ConfigError. Everything else is
transient and retried with exponential backoff and jitter (honouring Retry-After) until
`deadline_s`, then JudgeUnavailableError: connection errors, timeouts, 1xx, 3xx, 5xx, any
other 4xx (408, 409, 425, 429, a proxy's), and a 2xx whose body is not the expected JSON
(an HTML page, impossible logprobs). Each attempt is bounded as a whole, not per read: its
body is streamed and dropped past `_MAX_BODY_BYTES` or past the attempt's wall-clock limit
(a server trickling bytes), or at its next chunk once another request of the batch failed
(a silent server: at its read timeout). The API key is sent as a Bearer header and never
kept in logs, `identity`, `repr` or exception messages.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import Field, field_validator

from judge.backends import (
    BackendInputs,
    BackendSettings,
    check_mode,
    check_tie_band,
    decoding_tag,
    max_tokens_for,
    prompt_budget,
)
from judge.backends.replicas import ReplicaPool
from judge.errors import ConfigError, JudgeUnavailableError
from judge.fit import fit_request, prompt_of
from judge.parse import parse_judgment, verdict_from_probs
from judge.types import JudgeRequest, Judgment, Verdict

log = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """The URL without user:password, for messages (the key lives in a header, not here)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _Retry(Exception):
    """A failed attempt that may succeed later (transport error, timeout, 5xx).

    `unreachable` attempts (nothing listening) are retried until the deadline; the others
    (timeouts, 5xx: the server answers but fails) also count against `max_retries`.
    """

    def __init__(self, why: str, unreachable: bool = False, after_s: float = 0.0) -> None:
        super().__init__(why)
        self.unreachable, self.after_s = unreachable, after_s


class _Overflow(Exception):
    """HTTP 400: the prompt does not fit in the served model's context."""


_OVERFLOW_HINTS = ("maximum context length", "context length", "too long", "max_model_len")
_MAX_BODY_BYTES = 4 << 20  # a completion, even 4 beams of 512 tokens with logprobs, is a few KB
_REFUSED = (400, 413, 422)  # the server refuses this prompt: the same request always fails


@dataclass(frozen=True)
class _Reply:
    """A whole HTTP answer, read within a size and a time limit (VLLMJudge._exchange)."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

VERDICT_WORDS = ("1", "2", "Tie")


class VllmSettings(BackendSettings):
    """The `vllm` backend's options (`judge.<option>` beside `backend: vllm`)."""

    model: str | None = Field(None, description=(
        "the model's name on the server (`hpo serve-judge` serves a folder under its path)"))
    url: str | list[str] = Field("http://127.0.0.1:8000", description=(
        "the server's base URL; a list (or a comma-separated string) = replicas of one judge"))
    mode: Literal["verdict", "full", "logprobs", "faithful"] = Field("verdict", description=(
        "decoding: verdict (first line), full (reason too), logprobs (one token's "
        "probabilities), faithful (PandaLM's beam search)"))
    concurrency: int = Field(16, gt=0, description="requests in flight at once")
    timeout_s: float = Field(60, gt=0, description="one request's time limit")
    max_retries: int = Field(5, ge=0, description="retries of a failed request (within deadline_s)")
    deadline_s: float = Field(600, gt=0, description=(
        "how long a request keeps retrying an unreachable server before the run stops (exit 5)"))
    api_key_env: str = Field("HPO_JUDGE_API_KEY", description=(
        "environment variable holding the server's API key (sent as a Bearer header)"))

    @field_validator("url")
    @classmethod
    def _some_url(cls, v: str | list[str]) -> str | list[str]:
        """A comma-separated string or a list that holds at least one URL once split."""
        listed = v.split(",") if isinstance(v, str) else v
        if not any(u.strip() for u in listed):
            raise ValueError("no URL: give at least one judge server URL")
        return v


class VLLMJudge:
    """Judges requests through a vLLM server; see the module docstring for failure rules."""

    @classmethod
    def from_settings(cls, settings: VllmSettings, inputs: BackendInputs) -> VLLMJudge:
        """The backend a run's `judge:` section describes (its tie band is the run's)."""
        if not settings.model:
            raise ConfigError("judge 'vllm' needs judge.model (e.g. WeOpenML/PandaLM-7B-v1)")
        return cls(model=settings.model, url=settings.url, mode=settings.mode,
                   concurrency=settings.concurrency, timeout_s=settings.timeout_s,
                   max_retries=settings.max_retries, deadline_s=settings.deadline_s,
                   api_key_env=settings.api_key_env, tie_band=inputs.tie_band)

    def __init__(
        self,
        model: str,
        url: str | Sequence[str] = "http://127.0.0.1:8000",
        mode: str = "verdict",
        concurrency: int = 16,
        timeout_s: float = 60,
        max_retries: int = 5,
        deadline_s: float = 600,
        api_key_env: str = "HPO_JUDGE_API_KEY",
        max_new_tokens: int | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        tie_band: float = 0.0,
    ) -> None:
        if concurrency < 1 or timeout_s <= 0 or deadline_s <= 0 or max_retries < 0:
            raise ConfigError("vllm judge: concurrency>=1, timeout_s>0, deadline_s>0, max_retries>=0")
        self.model, self.mode = model, check_mode(mode)
        self.tie_band = check_tie_band(tie_band)
        self._pool = ReplicaPool(url)  # one URL or several replicas of one judge
        self._url = self._pool.urls[0]
        self._max_tokens = max_tokens_for(mode, max_new_tokens)
        tag = decoding_tag(mode, self._max_tokens, self.tie_band)
        self._tag = tag.replace("rep=1.2:early", "rep=none:vllm-beam") if mode == "faithful" else tag
        # the served name and decoding, not the server's weights path (`root` in /v1/models): a
        # server restarted from another folder, or a replica, resumes the same verdict store
        self.identity = f"vllm:{model}:{self._tag}"
        self._setup_lock = threading.Lock()
        self._targets: tuple[list[str], list[int]] | None = None  # verdict token texts, ids
        self._concurrency, self._max_retries, self._deadline_s = concurrency, max_retries, deadline_s
        self._timeout_s = timeout_s
        self._backoff = (backoff_base_s, backoff_max_s)
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client: httpx.Client | None = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout_s), limits=limits
        )

    def __repr__(self) -> str:
        return f"VLLMJudge(model={self.model!r}, url={redact_url(self._url)!r}, mode={self.mode!r})"

    def _http(self) -> httpx.Client:
        if self._client is None:
            raise ConfigError("vllm judge is closed")
        return self._client

    def check_reachable(self) -> None:
        """Fail fast at startup: a server (one replica at least) must answer and serve `model`."""
        self._pool.check_any(self._check_one, JudgeUnavailableError)

    def _check_one(self, url: str) -> None:
        where = redact_url(url)
        try:
            health = self._exchange("GET", f"{url}/health", self._timeout_s)
            models = self._exchange("GET", f"{url}/v1/models", self._timeout_s)
        except (httpx.TransportError, _Retry) as exc:
            why = str(exc) if isinstance(exc, _Retry) else type(exc).__name__
            raise JudgeUnavailableError(f"judge server {where} is unreachable ({why})") from None
        if health.status_code in (401, 403) or models.status_code in (401, 403):
            raise ConfigError(f"judge server {where} rejected the API key (HTTP 401/403)")
        if health.status_code != 200:
            raise JudgeUnavailableError(f"judge server {where} is not healthy (HTTP {health.status_code})")
        served = [m.get("id") for m in _cards(models)] if models.status_code == 200 else []
        if served and self.model not in served:
            raise ConfigError(f"judge server {where} does not serve model '{self.model}' (serves: {', '.join(map(str, served))})")

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        """One Judgment per request, in order. Raises JudgeUnavailableError past the deadline."""
        if not requests:
            return []
        abort = threading.Event()
        pool = ThreadPoolExecutor(max_workers=min(self._concurrency, len(requests)))
        futures = [pool.submit(self._judge_one, r, abort) for r in requests]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in done if f.exception() is not None), None)
            if failed is not None:
                raise failed
            return [f.result() for f in futures]
        finally:  # on the first error (or Ctrl-C) stop the others without waiting for them
            abort.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def _payload(self, request: JudgeRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": prompt_of(request),
                                "max_tokens": self._max_tokens, "temperature": 0}
        if self.mode == "verdict":
            body["stop"] = ["\n"]
        elif self.mode == "logprobs":
            ids = self._verdict_targets()[1]
            body.update({"logprobs": 1, "logprob_token_ids": ids} if ids else {"logprobs": 20})
        elif self.mode == "faithful":
            body.update(use_beam_search=True, n=4, length_penalty=1.0)
        return body

    def _verdict_targets(self) -> tuple[list[str], list[int]]:
        """Texts and ids of the first tokens of "1", "2", "Tie", asked once of /tokenize and
        /detokenize; without them (a non-vLLM server) the texts alone, matched in the top 20."""
        with self._setup_lock:
            if self._targets is None:
                try:
                    ids = [self._first_token(word) for word in VERDICT_WORDS]
                    texts = [str(self._call("/detokenize", {"tokens": [i]})["prompt"]) for i in ids]
                    self._targets = (texts, ids)
                except (KeyError, IndexError, TypeError, ValueError, httpx.HTTPError, _Retry):
                    self._targets = (list(VERDICT_WORDS), [])
            return self._targets

    def _first_token(self, word: str) -> int:
        anchor = "### Evaluation:\n"
        base = self._call("/tokenize", {"prompt": anchor, "add_special_tokens": False})["tokens"]
        full = self._call("/tokenize", {"prompt": anchor + word, "add_special_tokens": False})["tokens"]
        if full[: len(base)] != base or len(full) <= len(base):
            raise ValueError(f"no first token for {word!r}")
        return int(full[len(base)])

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a vLLM utility endpoint (tokenize, detokenize) on a live replica, moving on to
        the next when one is unreachable (all replicas serve the same model, so any answer
        will do). ValueError for an answer that will not change (a server without the endpoint),
        _Retry for one that may (unreachable, too big or slow, a transient status, not JSON)."""
        def post(url: str) -> _Reply:
            return self._exchange("POST", f"{url}{path}", self._timeout_s, {"model": self.model, **body})

        try:
            resp = self._pool.first_answer(post, httpx.TransportError)
        except httpx.TransportError as exc:
            raise _Retry(f"{path}: no judge replica reachable ({type(exc).__name__})", unreachable=True) from None
        if resp.status_code != 200:
            if resp.status_code in (*_REFUSED, 401, 403, 404, 405, 407):
                raise ValueError(f"{path}: HTTP {resp.status_code}")
            raise _Retry(f"{path}: HTTP {resp.status_code}", after_s=_retry_after(resp))
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _Retry(f"{path}: answer is not a JSON object")
        return data

    def _judge_one(self, request: JudgeRequest, abort: threading.Event) -> Judgment:
        """Retries until the server has been failing for `deadline_s` (counted from this
        request's first failure, so a slow healthy answer never eats into it)."""
        payload, failing_since, failures, cut = self._payload(request), None, 0, ""
        overflow: _Overflow | None = None
        while not abort.is_set():
            now = time.monotonic()
            remaining = self._deadline_s - (now - failing_since) if failing_since else self._timeout_s
            url = self._pool.pick()  # spread over replicas; a failed one is set aside
            try:  # no attempt may outlive the deadline (a hung server, a half-closed socket)
                if overflow is not None:  # fitting asks the tokenizer, which may fail transiently too
                    fitted = self._refit(request, payload, cut, overflow)
                    if isinstance(fitted, Judgment):
                        return fitted
                    (payload, cut), overflow = fitted, None
                judgment = self._post(payload, max(0.5, min(self._timeout_s, remaining)), url, abort)
                self._pool.served(url)
                return _with_cut(judgment, cut)
            except _Overflow as exc:
                overflow = exc
            except _Retry as exc:
                if abort.is_set():  # another request failed: this one's attempt was cut short
                    break
                self._pool.failed(url)
                if self._pool.live():  # another replica answers: move this request there now
                    continue
                failures += 1
                failing_since = failing_since or now
                waited = time.monotonic() - failing_since
                counted = failures > self._max_retries and not exc.unreachable
                if counted or waited >= self._deadline_s:
                    raise JudgeUnavailableError(
                        f"judge server {redact_url(self._url)} still failing after {failures} attempts "
                        f"and {waited:.0f}s ({exc})"
                    ) from None
                delay = min(self._backoff[1], self._backoff[0] * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
                delay = min(max(delay, exc.after_s), max(0.0, self._deadline_s - waited))
                log.warning("judge request failed (%s); retry %d in %.1fs", exc, failures, delay)
                abort.wait(delay)
        raise JudgeUnavailableError("judge call aborted after another request failed")

    def _refit(self, request: JudgeRequest, payload: dict[str, Any], cut: str,
               overflow: _Overflow) -> Judgment | tuple[dict[str, Any], str]:
        """The payload fitted to the context and the cut positions, or the INVALID of a prompt
        that cannot fit; _Retry when the tokenizer fails transiently (nothing is stored then)."""
        if cut or "prompt" not in payload:
            return Judgment(Verdict.INVALID, raw=f"prompt over the context after fitting: {overflow}")
        fitted = self._fit(request)
        if fitted is None:
            return Judgment(Verdict.INVALID, raw=f"prompt over the context and cannot be fitted: {overflow}")
        (fit_req, fit_cut), room = fitted
        return {**payload, "prompt": prompt_of(fit_req), "max_tokens": min(self._max_tokens, room)}, fit_cut or "12"

    def _post(self, payload: dict[str, Any], timeout_s: float, url: str,
              abort: threading.Event | None = None) -> Judgment:
        """One attempt: a Judgment from a genuine answer, or _Retry, _Overflow, or ConfigError
        for a wrong key or model (see the module docstring)."""
        try:
            resp = self._exchange("POST", f"{url}/v1/completions", timeout_s, payload, abort)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise _Retry("server unreachable", unreachable=True) from None
        except httpx.TransportError as exc:
            raise _Retry(type(exc).__name__) from None
        refused = self._refusal(resp)
        if refused is not None:
            return refused
        try:
            choice = resp.json()["choices"][0]
            if self.mode == "logprobs":
                return self._from_logprobs(choice["logprobs"])
            text = choice["text"]
            if not isinstance(text, str):
                raise TypeError("text")
        except (KeyError, IndexError, TypeError, ValueError):  # not a judge's answer: a proxy, a broken server
            raise _Retry(f"malformed completion response {resp.text[:60]!r}") from None
        return parse_judgment(text)

    def _refusal(self, resp: _Reply) -> Judgment | None:
        """None for a 2xx; the INVALID of a refused prompt; else raises what the status means."""
        status = resp.status_code
        if 200 <= status < 300:
            return None
        if status == 429:  # rate limited: the server is fine, wait as long as it asks
            raise _Retry("HTTP 429", unreachable=True, after_s=_retry_after(resp))
        if status == 400 and any(h in resp.text.lower() for h in _OVERFLOW_HINTS):
            raise _Overflow(resp.text[:200])
        if status in (401, 403, 407):
            who = "a proxy before the judge server" if status == 407 else "judge server"
            raise ConfigError(f"{who} rejected the API key (HTTP {status})")
        if status == 404:
            raise ConfigError(f"judge server: model '{self.model}' or /v1/completions not found (HTTP 404)")
        if status in _REFUSED:
            return Judgment(Verdict.INVALID, raw=f"HTTP {status}: {resp.text[:300]}")
        raise _Retry(f"HTTP {status}", after_s=_retry_after(resp))  # 1xx, 3xx, 5xx, 408, 409, 425, a proxy's 4xx

    def _exchange(self, method: str, url: str, limit_s: float, body: dict[str, Any] | None = None,
                  abort: threading.Event | None = None) -> _Reply:
        """One HTTP exchange, read whole within `limit_s` of wall-clock time and _MAX_BODY_BYTES.

        httpx's timeout bounds each read, not the call, so a server trickling a byte a second
        keeps a plain request alive for ever: the body is streamed and the clock, the size and
        `abort` are checked per chunk. Raises httpx.TransportError, or _Retry past a limit."""
        end = time.monotonic() + limit_s
        with self._http().stream(method, url, json=body, timeout=limit_s) as resp:
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > _MAX_BODY_BYTES:
                raise _Retry(f"response of {declared} bytes, over the {_MAX_BODY_BYTES} allowed")
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > _MAX_BODY_BYTES:
                    raise _Retry(f"response over the {_MAX_BODY_BYTES} bytes allowed")
                if abort is not None and abort.is_set():
                    raise _Retry("aborted: another request failed")
                if time.monotonic() > end:
                    raise _Retry(f"response not complete within {limit_s:.1f}s")
                chunks.append(chunk)
        return _Reply(resp.status_code, resp.headers, b"".join(chunks))

    def _from_logprobs(self, logprobs: dict[str, Any]) -> Judgment:
        """Judgment from the first position's logprobs (see judge.parse.verdict_from_probs);
        ValueError or TypeError for logprobs no model can produce."""
        top = _prob(logprobs["token_logprobs"][0])
        table: dict[str, float] = logprobs["top_logprobs"][0] or {}
        probs = tuple(_prob(table[t]) if t in table else 0.0 for t in self._verdict_targets()[0])
        p1, p2, pt = probs
        raw = f"P(1)={p1:.6g} P(2)={p2:.6g} P(Tie)={pt:.6g} top={top:.6g} token={logprobs['tokens'][0]!r}"
        # the server reports the sampled token's logprob rounded like the others: same number, same token
        return Judgment(verdict_from_probs((p1, p2, pt), top * (1 - 1e-6), self.tie_band), raw=raw, probs=(p1, p2, pt))

    def _fit(self, request: JudgeRequest) -> tuple[tuple[JudgeRequest, str], int] | None:
        """The declared over-context policy (judge.fit), counting tokens with /tokenize:
        (fitted request, cut positions) and the new tokens that still fit after it."""
        try:
            context = int(self._call("/tokenize", {"prompt": ""})["max_model_len"])

            def count(text: str) -> int:
                return int(self._call("/tokenize", {"prompt": text})["count"])

            fitted = fit_request(request, count, prompt_budget(context, self.mode, self._max_tokens))
            return None if fitted is None else (fitted, max(1, context - count(prompt_of(fitted[0]))))
        except (KeyError, TypeError, ValueError, httpx.HTTPError):
            return None

    def close(self) -> None:
        """Close the HTTP connection pool; safe to call more than once."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _with_cut(judgment: Judgment, cut: str) -> Judgment:
    """The judgment, marked with the response positions that were cut to fit (if any)."""
    return judgment if not cut else Judgment(judgment.verdict, judgment.raw, judgment.reason,
                                             judgment.reference, judgment.probs, cut)


def _prob(logprob: object) -> float:
    """The probability of a reported logprob; ValueError for NaN or a logprob above 0 (rounding
    aside), which no model produces and whose exp() overflows."""
    value = float(logprob)  # type: ignore[arg-type]  # TypeError for a non-number: malformed
    if math.isnan(value) or value > 1e-3:
        raise ValueError(f"impossible logprob {value}")
    return math.exp(min(0.0, value))


def _cards(resp: _Reply) -> list[dict[str, Any]]:
    """The model cards of a /v1/models answer; entries that are not objects are skipped."""
    data = _json(resp).get("data")
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def _retry_after(resp: _Reply) -> float:
    """Seconds the server asked us to wait (Retry-After in seconds), 0 if absent, at most 60."""
    try:
        return min(60.0, max(0.0, float(resp.headers.get("retry-after", 0))))
    except ValueError:
        return 0.0


def _json(resp: _Reply) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
