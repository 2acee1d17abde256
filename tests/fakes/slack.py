"""A small stand-in for Slack's Web API (`chat.postMessage`, `chat.update`, `auth.test`),
over real HTTP, plus a `response_url` catcher for interactive replies.

It checks the bearer token the way Slack does (HTTP 200 with `ok: false` and
`invalid_auth`), records every call, and can answer the next call with 429 and a
`Retry-After` header to exercise rate-limit retries. Like Slack, it accepts a channel
name ("#ops") when posting but answers with the channel's id, and edits and replies only
in the channel (id) the message is in.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class FakeSlack:
    token: str = "xoxb-test-token"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)
    rate_limit_next: int = 0
    retry_after: int = 0
    counter: int = 0
    channel_ids: dict[str, str] = field(default_factory=dict)

    def posted(self) -> list[dict[str, Any]]:
        return [args for method, args in self.calls if method == "chat.postMessage"]

    def channel_id(self, channel: str) -> str:
        """The id Slack knows a channel by; "#name" gets one the first time it is used."""
        if not channel.startswith("#"):
            return channel
        return self.channel_ids.setdefault(channel, f"C{len(self.channel_ids) + 1:04d}FAKE")

    def roots(self, channel: str) -> list[tuple[str, dict[str, Any]]]:
        """(ts, message) of the messages that start a thread in `channel`, oldest first."""
        wanted = self.channel_id(channel)
        return [(ts, m) for ts, m in self.messages.items()
                if m["channel_id"] == wanted and not m.get("thread_ts")]

    def replies(self, ts: str) -> list[dict[str, Any]]:
        """The messages in the thread of `ts`, oldest first."""
        return [m for m in self.messages.values() if m.get("thread_ts") == ts]

    def app(self) -> FastAPI:
        app = FastAPI(title="fake Slack")

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.post("/response/{hook}")
        async def response_url(hook: str, request: Request) -> dict[str, bool]:
            self.responses.append({"hook": hook, **(await request.json())})
            return {"ok": True}

        @app.post("/api/{method}")
        async def web_api(method: str, request: Request) -> JSONResponse:
            args = await _arguments(request)
            self.calls.append((method, args))
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return JSONResponse({"ok": False, "error": "ratelimited"}, 429,
                                    headers={"Retry-After": str(self.retry_after)})
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            handler = {"auth.test": self._auth_test, "chat.postMessage": self._post,
                       "chat.update": self._update}.get(method)
            if handler is None:
                return JSONResponse({"ok": False, "error": "unknown_method"}, 404)
            return JSONResponse(handler(args))

        return app

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://oasis-test.slack.com/", "team": "OASIS Test",
                "user": "oasis", "team_id": "T0001", "user_id": "U0BOT", "bot_id": "B0001"}

    def _post(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        channel = self.channel_id(str(args["channel"]))
        thread = args.get("thread_ts")
        if thread and (thread not in self.messages
                       or self.messages[thread]["channel_id"] != channel):
            return {"ok": False, "error": "thread_not_found"}
        self.counter += 1
        ts = f"{time.time():.0f}.{self.counter:06d}"
        self.messages[ts] = {**args, "channel_id": channel}
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"text": args.get("text", ""), "ts": ts}}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = args.get("ts")
        if ts not in self.messages or self.messages[ts]["channel_id"] != args.get("channel"):
            return {"ok": False, "error": "message_not_found"}  # chat.update wants the id
        self.messages[ts].update(args)
        return {"ok": True, "channel": args.get("channel"), "ts": ts}


async def _arguments(request: Request) -> dict[str, Any]:
    """slack_sdk sends JSON for most calls and form fields for some; accept both."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        args = json.loads(raw or b"{}")
    else:
        args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    if isinstance(args.get("blocks"), str):
        args["blocks"] = json.loads(args["blocks"])
    return args
