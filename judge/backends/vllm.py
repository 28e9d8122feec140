"""Judge backend: a client for a vLLM OpenAI-compatible server (`/v1/completions`).

Why a server: vLLM's continuous batching keeps the accelerator busy across many
requests, so we send every comparison of a round at once with bounded concurrency and let
the server batch them. Failures are handled here so a whole HPO run survives a restarting
judge: connection errors, timeouts and 5xx are retried with exponential backoff and jitter
until `deadline_s`; 4xx are not retried. The API key is sent as a Bearer header and never
kept in logs, `identity`, `repr` or exception messages.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from hpo.errors import ConfigError, JudgeUnavailableError
from judge.backends import check_mode, max_tokens_for
from judge.backends.replicas import ReplicaPool
from judge.parse import parse_judgment
from judge.prompt import build_prompt
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

    def __init__(self, why: str, unreachable: bool = False) -> None:
        super().__init__(why)
        self.unreachable = unreachable


class VLLMJudge:
    """Judges requests through a vLLM server; see the module docstring for failure rules."""

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
    ) -> None:
        if concurrency < 1 or timeout_s <= 0 or deadline_s <= 0 or max_retries < 0:
            raise ConfigError("vllm judge: concurrency>=1, timeout_s>0, deadline_s>0, max_retries>=0")
        self.model, self.mode = model, check_mode(mode)
        self.identity = f"vllm:{model}:{mode}"
        self._pool = ReplicaPool(url)  # [issue 11] one URL or several replicas
        self._url = self._pool.urls[0]
        self._max_tokens = max_tokens_for(mode, max_new_tokens)
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
        self._pool.check_any(self._check_one, JudgeUnavailableError)  # [issue 11]

    def _check_one(self, url: str) -> None:
        where = redact_url(url)
        try:
            health = self._http().get(f"{url}/health")
            models = self._http().get(f"{url}/v1/models")
        except httpx.TransportError as exc:
            raise JudgeUnavailableError(f"judge server {where} is unreachable ({type(exc).__name__})") from None
        if health.status_code in (401, 403) or models.status_code in (401, 403):
            raise ConfigError(f"judge server {where} rejected the API key (HTTP 401/403)")
        if health.status_code != 200:
            raise JudgeUnavailableError(f"judge server {where} is not healthy (HTTP {health.status_code})")
        served = [m.get("id") for m in _json(models).get("data", [])] if models.status_code == 200 else []
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
        prompt = build_prompt(request.instruction, request.input, request.response1, request.response2)
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "max_tokens": self._max_tokens, "temperature": 0}
        if self.mode == "verdict":
            body["stop"] = ["\n"]
        return body

    def _judge_one(self, request: JudgeRequest, abort: threading.Event) -> Judgment:
        """Retries until the server has been failing for `deadline_s` (counted from this
        request's first failure, so a slow healthy answer never eats into it)."""
        payload, failing_since, failures = self._payload(request), None, 0
        while not abort.is_set():
            now = time.monotonic()
            remaining = self._deadline_s - (now - failing_since) if failing_since else self._timeout_s
            url = self._pool.pick()  # [issue 11] spread over replicas; a failed one is set aside
            try:  # no attempt may outlive the deadline (a hung server, a half-closed socket)
                judgment = self._post(payload, max(0.5, min(self._timeout_s, remaining)), url)
                self._pool.served(url)
                return judgment
            except _Retry as exc:
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
                delay = min(delay, max(0.0, self._deadline_s - waited))
                log.warning("judge request failed (%s); retry %d in %.1fs", exc, failures, delay)
                abort.wait(delay)
        raise JudgeUnavailableError("judge call aborted after another request failed")

    def _post(self, payload: dict[str, Any], timeout_s: float, url: str) -> Judgment:
        """One attempt: a Judgment, or _Retry, or ConfigError for a wrong key or model."""
        try:
            resp = self._http().post(f"{url}/v1/completions", json=payload, timeout=timeout_s)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise _Retry("server unreachable", unreachable=True) from None
        except httpx.TransportError as exc:
            raise _Retry(type(exc).__name__) from None
        if resp.status_code >= 500:
            raise _Retry(f"HTTP {resp.status_code}")
        if resp.status_code in (401, 403):
            raise ConfigError(f"judge server rejected the API key (HTTP {resp.status_code})")
        if resp.status_code == 404:
            raise ConfigError(f"judge server: model '{self.model}' or /v1/completions not found (HTTP 404)")
        if resp.status_code >= 400:
            return Judgment(Verdict.INVALID, raw=f"HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            text = _json(resp)["choices"][0]["text"]
        except (KeyError, IndexError, TypeError):
            return Judgment(Verdict.INVALID, raw=f"malformed completion response: {resp.text[:300]}")
        return parse_judgment(text if isinstance(text, str) else "")

    def close(self) -> None:
        """Close the HTTP connection pool; safe to call more than once."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
