"""Fake model providers that replay scripted turns over each provider's real wire protocol.

Serve one with `tests.servers.serving(openai_app(script))` and point a real client at it:

- `openai_app`: OpenAI chat completions (`/v1/chat/completions`, `/chat/completions`),
  SSE chunks when the request streams (with a usage chunk when `stream_options` asks),
  a JSON completion when it does not;
- `anthropic_app`: Anthropic messages (`/v1/messages`), SSE events or JSON;
- `bedrock_app`: Bedrock Converse (`/model/{modelId}/converse`), JSON; errors carry the
  `x-amzn-ErrorType` botocore reads, so it retries throttling and 5xx as it would on AWS.

A script is a list of turns, one per request, in order:

    {"text": "the answer"}                                  final answer
    {"tool_calls": [{"name": "lookup", "input": {...}}]}    the model calls tools
    {"status": 429} / {"status": 500}                       an error response
    {"delay": 2.0, "text": "late"}                          answer only after a pause

Any turn may add `"usage": {"input": 100, "output": 20, "cache_read": 0, "cache_write": 0}`
(uncached input; each fake reports it the way its provider does). Every request is kept in
`script.received`, so tests can check what the client sent, and how many times.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

Turn = dict[str, Any]
DEFAULT_USAGE = {"input": 100, "output": 20, "cache_read": 0, "cache_write": 0}


@dataclass
class Received:
    """One request as the fake saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class Script:
    """Turns replayed one per request, and every request received, thread-safe."""

    def __init__(self, turns: list[Turn]) -> None:
        self.turns = list(turns)
        self.received: list[Received] = []
        self.hung_up = 0  # delayed requests whose client gave up before the delay was over
        self._lock = threading.Lock()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received]

    async def take(self, request: Request) -> tuple[int, dict[str, Any], Turn | None]:
        """Record the request and return (its 1-based number, its body, its turn or None)."""
        body = await request.json()
        with self._lock:
            self.received.append(Received(request.url.path, dict(request.headers), body))
            number = len(self.received)
            turn = self.turns.pop(0) if self.turns else None
        if turn and turn.get("delay") and await _gone_within(request, float(turn["delay"])):
            with self._lock:
                self.hung_up += 1
        return number, body, turn


async def _gone_within(request: Request, seconds: float) -> bool:
    """Hold the answer back for `seconds` (a hung provider); whether the client hung up
    first. Stops early when it does, so the server can shut down at once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(0.02)
    return False


def usage_of(turn: Turn) -> dict[str, int]:
    return {**DEFAULT_USAGE, **turn.get("usage", {})}


def tool_calls_of(turn: Turn, number: int, prefix: str) -> list[dict[str, Any]]:
    """The turn's tool calls, each with an id unique to this request."""
    return [{"id": call.get("id", f"{prefix}_{number}_{i}"), "name": call["name"],
             "input": call.get("input", {})} for i, call in enumerate(turn.get("tool_calls", []))]


def text_of(turn: Turn) -> str:
    if "text" in turn:
        return str(turn["text"])
    return "" if turn.get("tool_calls") else "(late answer)"


def halves(text: str) -> list[str]:
    """A text in two pieces, the way a stream splits it."""
    cut = len(text) // 2
    return [piece for piece in (text[:cut], text[cut:]) if piece]


def _base_app(title: str) -> FastAPI:
    app = FastAPI(title=title)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}
    return app


def sse(lines: Iterator[str]) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for line in lines:
            yield line.encode()
    return StreamingResponse(body(), media_type="text/event-stream")


# -- OpenAI chat completions -------------------------------------------------------------------

def _openai_error(status: int, message: str) -> JSONResponse:
    kind = {429: ("rate_limit_error", "rate_limit_exceeded"),
            400: ("invalid_request_error", None)}.get(status, ("server_error", None))
    return JSONResponse({"error": {"message": message, "type": kind[0], "param": None,
                                   "code": kind[1]}}, status_code=status)


def _openai_usage(turn: Turn) -> dict[str, Any]:
    u = usage_of(turn)
    # OpenAI counts cached tokens inside prompt_tokens.
    prompt = u["input"] + u["cache_read"] + u["cache_write"]
    return {"prompt_tokens": prompt, "completion_tokens": u["output"],
            "total_tokens": prompt + u["output"],
            "prompt_tokens_details": {"cached_tokens": u["cache_read"]}}


def openai_app(script: Script) -> FastAPI:
    app = _base_app("fake OpenAI")

    async def completions(request: Request) -> Response:
        number, body, turn = await script.take(request)
        if turn is None:
            return _openai_error(400, f"fake script exhausted at request {number}")
        if "status" in turn:
            return _openai_error(int(turn["status"]), "scripted failure")
        model, calls = body.get("model", "fake"), tool_calls_of(turn, number, "call")
        if body.get("stream"):
            include_usage = (body.get("stream_options") or {}).get("include_usage", False)
            return sse(_openai_chunks(turn, calls, model, number, include_usage))
        message: dict[str, Any] = {"role": "assistant", "content": text_of(turn) or None}
        if calls:
            message["tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c["input"])}}
                for c in calls]
        return JSONResponse({
            "id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "usage": _openai_usage(turn),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if calls else "stop"}]})

    app.post("/v1/chat/completions")(completions)
    app.post("/chat/completions")(completions)
    return app


def _openai_chunks(turn: Turn, calls: list[dict[str, Any]], model: str, number: int,
                   include_usage: bool) -> Iterator[str]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        data = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model, "choices": choices, **extra}
        return f"data: {json.dumps(data)}\n\n"

    def delta(d: dict[str, Any], finish: str | None = None) -> str:
        return chunk([{"index": 0, "delta": d, "finish_reason": finish}])

    yield delta({"role": "assistant", "content": ""})
    for piece in halves(text_of(turn)):
        yield delta({"content": piece})
    for index, call in enumerate(calls):
        yield delta({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["name"], "arguments": ""}}]})
        for piece in halves(json.dumps(call["input"])):
            yield delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield delta({}, "tool_calls" if calls else "stop")
    if include_usage:
        yield chunk([], usage=_openai_usage(turn))
    yield "data: [DONE]\n\n"


# -- Anthropic messages ------------------------------------------------------------------------

def _anthropic_error(status: int, message: str) -> JSONResponse:
    kind = {429: "rate_limit_error", 400: "invalid_request_error", 401: "authentication_error",
            529: "overloaded_error"}.get(status, "api_error")
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}},
                        status_code=status)


def _anthropic_usage(turn: Turn, output: int) -> dict[str, int]:
    u = usage_of(turn)
    return {"input_tokens": u["input"], "output_tokens": output,
            "cache_read_input_tokens": u["cache_read"],
            "cache_creation_input_tokens": u["cache_write"]}


def anthropic_app(script: Script) -> FastAPI:
    app = _base_app("fake Anthropic")

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        number, body, turn = await script.take(request)
        if turn is None:
            return _anthropic_error(400, f"fake script exhausted at request {number}")
        if "status" in turn:
            return _anthropic_error(int(turn["status"]), "scripted failure")
        model, calls = body.get("model", "fake"), tool_calls_of(turn, number, "toolu")
        stop = "tool_use" if calls else "end_turn"
        if body.get("stream"):
            return sse(_anthropic_events(turn, calls, model, number, stop))
        content: list[dict[str, Any]] = [{"type": "text", "text": t} for t in [text_of(turn)] if t]
        content += [{"type": "tool_use", **c} for c in calls]
        return JSONResponse({"id": f"msg_{number}", "type": "message", "role": "assistant",
                             "model": model, "content": content, "stop_reason": stop,
                             "stop_sequence": None,
                             "usage": _anthropic_usage(turn, usage_of(turn)["output"])})
    return app


def _anthropic_events(turn: Turn, calls: list[dict[str, Any]], model: str, number: int,
                      stop: str) -> Iterator[str]:
    def event(kind: str, **data: Any) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    yield event("message_start", message={
        "id": f"msg_{number}", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": _anthropic_usage(turn, 1)})
    yield event("ping")
    index = 0
    if text := text_of(turn):
        yield event("content_block_start", index=index, content_block={"type": "text", "text": ""})
        for piece in halves(text):
            yield event("content_block_delta", index=index,
                        delta={"type": "text_delta", "text": piece})
        yield event("content_block_stop", index=index)
        index += 1
    for call in calls:
        yield event("content_block_start", index=index, content_block={
            "type": "tool_use", "id": call["id"], "name": call["name"], "input": {}})
        for piece in halves(json.dumps(call["input"])):
            yield event("content_block_delta", index=index,
                        delta={"type": "input_json_delta", "partial_json": piece})
        yield event("content_block_stop", index=index)
        index += 1
    yield event("message_delta", delta={"stop_reason": stop, "stop_sequence": None},
                usage={"output_tokens": usage_of(turn)["output"]})
    yield event("message_stop")


# -- Bedrock Converse --------------------------------------------------------------------------

BEDROCK_ERRORS = {400: "ValidationException", 403: "AccessDeniedException",
                  429: "ThrottlingException", 500: "InternalServerException",
                  503: "ServiceUnavailableException"}


def _bedrock_error(status: int, message: str) -> JSONResponse:
    code = BEDROCK_ERRORS.get(status, "InternalServerException")
    # botocore takes the error code from this header (restJson1), as AWS sends it.
    return JSONResponse({"message": message}, status_code=status,
                        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"})


def bedrock_app(script: Script) -> FastAPI:
    app = _base_app("fake Bedrock runtime")

    @app.post("/model/{model_id:path}/converse")
    async def converse(model_id: str, request: Request) -> Response:
        number, _body, turn = await script.take(request)
        if turn is None:
            return _bedrock_error(400, f"fake script exhausted at request {number}")
        if "status" in turn:
            return _bedrock_error(int(turn["status"]), "scripted failure")
        calls = tool_calls_of(turn, number, "tooluse")
        content: list[dict[str, Any]] = [{"text": t} for t in [text_of(turn)] if t]
        content += [{"toolUse": {"toolUseId": c["id"], "name": c["name"], "input": c["input"]}}
                    for c in calls]
        u = usage_of(turn)
        usage = {"inputTokens": u["input"], "outputTokens": u["output"],
                 "totalTokens": sum(u.values())}
        if u["cache_read"]:
            usage["cacheReadInputTokens"] = u["cache_read"]
        if u["cache_write"]:
            usage["cacheWriteInputTokens"] = u["cache_write"]
        return JSONResponse({"output": {"message": {"role": "assistant", "content": content}},
                             "stopReason": "tool_use" if calls else "end_turn",
                             "usage": usage, "metrics": {"latencyMs": 12}})

    @app.post("/model/{model_id:path}/converse-stream")
    async def converse_stream(model_id: str, request: Request) -> Response:
        await script.take(request)
        return _bedrock_error(400, "this fake answers Converse only; use streaming=False")
    return app
