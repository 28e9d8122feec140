"""A scripted OpenAI-compatible server for judge-client tests (a real HTTP server).

Speaks `/health`, `/v1/models` and `/v1/completions` on 127.0.0.1 (a free port by default),
served by uvicorn in a background thread. Scriptable: a default answer (text or a function
of the prompt), a queue of one-shot faults for the next requests ("status" code, "hang" for
seconds, "text" to return verbatim, "html" a 200 HTML page, "json" an object returned verbatim,
"big" a 200 JSON completion padded to that many MB, "trickle" a valid completion sent one byte
per `value` seconds), extra entries (`model_entries`, any JSON values) listed before the model's
card in `/v1/models`, going down for a while and coming back on the same port, an optional
required API key. Every request is recorded with its headers.

Optional vLLM extras: `logprobs` (a function of the prompt giving {token text: logprob}) fills
`choices[0].logprobs` when a request asks for them; `max_model_len` switches on a one-char-per-
token `/tokenize` and `/detokenize` and answers an over-long prompt with vLLM's HTTP 400.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


class OpenAIStub:
    """Start with `start()` (or as a context manager); script with the attributes below."""

    def __init__(self, model: str = "stub-judge", port: int | None = None, api_key: str | None = None):
        self.model, self.port, self.api_key = model, port or free_port(), api_key
        self.answer: str | Callable[[str], str] = "1"
        self.faults: deque[tuple[str, Any]] = deque()
        self.logprobs: Callable[[str], dict[str, float]] | None = None
        self.max_model_len: int | None = None
        self.model_entries: list[Any] = []
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def completions(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/completions"]

    def push(self, kind: str, value: Any, times: int = 1) -> None:
        """Queue a one-shot fault for the next `times` completion requests."""
        self.faults.extend([(kind, value)] * times)

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/health")
        async def health() -> Response:
            return PlainTextResponse("")

        @app.get("/v1/models")
        async def models(request: Request) -> Response:
            card = {"id": self.model, "root": f"/models/{self.model}", "max_model_len": self.max_model_len}
            return self._guard(request) or JSONResponse({"data": [*self.model_entries, card]})

        @app.post("/v1/completions")
        async def completions(request: Request) -> Response:
            body = await request.json()
            with self._lock:
                self.requests.append(Recorded(request.url.path, dict(request.headers), body))
            denied = self._guard(request)
            if denied is not None:
                return denied
            fault: tuple[str, Any] = self.faults.popleft() if self.faults else ("answer", "")
            kind, value = fault
            if kind == "status":
                return JSONResponse({"error": "scripted failure"}, status_code=int(value),
                                    headers={"Retry-After": "0"} if int(value) == 429 else None)
            too_long = self._too_long(str(body.get("prompt", "")), int(body.get("max_tokens") or 16))
            if too_long:
                return JSONResponse({"error": {"message": too_long}}, status_code=400)
            if kind == "hang":
                await asyncio.sleep(float(value))
            if kind == "text":
                return PlainTextResponse(str(value))
            return self._hostile(kind, value, body) or JSONResponse(self._completion(body))

        @app.post("/tokenize")
        async def tokenize(request: Request) -> Response:
            if self.max_model_len is None:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            tokens = [ord(c) for c in str((await request.json()).get("prompt", ""))]
            return JSONResponse({"count": len(tokens), "max_model_len": self.max_model_len, "tokens": tokens})

        @app.post("/detokenize")
        async def detokenize(request: Request) -> Response:
            if self.max_model_len is None:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            return JSONResponse({"prompt": "".join(chr(t) for t in (await request.json())["tokens"])})

        return app

    def _hostile(self, kind: str, value: Any, body: dict[str, Any]) -> Response | None:
        """The answers of a broken or hostile server (see the module docstring), else None."""
        if kind == "html":
            return HTMLResponse(f"<html><body>{value}</body></html>")
        if kind == "json":
            return JSONResponse(value)
        if kind == "big":
            pad = "x" * int(float(value) * 2**20)
            return JSONResponse({**self._completion(body), "pad": pad})
        if kind == "trickle":
            payload = JSONResponse(self._completion(body)).body

            async def drip() -> Any:
                for byte in payload:
                    yield bytes([byte])
                    await asyncio.sleep(float(value))

            return StreamingResponse(drip(), media_type="application/json")
        return None

    def _too_long(self, prompt: str, max_tokens: int) -> str:
        if self.max_model_len is None or len(prompt) + max_tokens <= self.max_model_len:
            return ""
        return (f"This model's maximum context length is {self.max_model_len} tokens. However, you "
                f"requested {len(prompt) + max_tokens} tokens.")

    def _guard(self, request: Request) -> Response | None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "bad key"}, status_code=401)
        return None

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = str(body.get("prompt", ""))
        text = self.answer(prompt) if callable(self.answer) else self.answer
        for stop in body.get("stop") or []:
            text = text.split(stop, 1)[0]
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop"}
        if body.get("logprobs") is not None and self.logprobs is not None:
            table = self.logprobs(prompt)
            best = max(table, key=table.__getitem__)
            choice.update(text=best, logprobs={"tokens": [best], "token_logprobs": [table[best]],
                                               "top_logprobs": [table]})
        return {"id": "cmpl-stub", "object": "text_completion", "model": self.model, "choices": [choice]}

    def start(self) -> OpenAIStub:
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"stub server did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def down_for(self, seconds: float) -> threading.Thread:
        """Stop now and start again on the same port after `seconds` (in the background)."""
        self.stop()

        def comeback() -> None:
            time.sleep(seconds)
            self.start()

        thread = threading.Thread(target=comeback, daemon=True)
        thread.start()
        return thread

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
