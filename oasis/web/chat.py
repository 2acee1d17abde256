"""The web chat: a WebSocket at `/ws/chat` speaking small JSON messages.

Client → server: `hello {conversation_id?}`, `ask {text}`, `approve {incident_id,
action_id}`, `ping`. Server → client: `welcome`, `ack {of}`, `answer {of, text, route,
citations, ...}`, `error {of?, message}`, `pong`. Every message carries `type`, `id` and
`ts` (ISO 8601 UTC, Z).

Every client message is acknowledged, so the browser knows what arrived and resends only
the rest after a reconnect. The id of an `ask` or `approve` is stored with the
conversation; a resend of the same id is acknowledged again and its stored answer
repeated, but it is not acted on twice (no second ticket, no second approval). A bad
message gets an `error` and the socket stays open: one typo must not drop the session.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from oasis.auth.deps import current_principal
from oasis.auth.roles import Principal, Role
from oasis.respond import DecisionError
from oasis.signals.model import utc_iso
from oasis.web.chat_store import ChatStore, Conversation

log = logging.getLogger(__name__)
router = APIRouter(tags=["chat"])
MAX_MESSAGE_BYTES = 16 * 1024
MAX_ID_CHARS = 100
POLICY_VIOLATION = 1008  # WebSocket close code: refused, e.g. not logged in


class ChatInputError(ValueError):
    """A client message we cannot act on; the text is shown to the person."""


def server_message(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "id": f"s-{uuid.uuid4().hex[:16]}", "ts": utc_iso(datetime.now(UTC)),
            **fields}


def chat_store(ws: WebSocket) -> ChatStore:
    """The app's chat store, made on first use on the incidents' database."""
    store = getattr(ws.app.state, "chat", None)
    if not isinstance(store, ChatStore):
        store = ChatStore(ws.app.state.incidents.engine)
        ws.app.state.chat = store
    return store


def parse_client_message(raw: str) -> dict[str, Any]:
    """The decoded message, or ChatInputError saying what is wrong with it."""
    if len(raw.encode()) > MAX_MESSAGE_BYTES:
        raise ChatInputError(f"message too large (over {MAX_MESSAGE_BYTES // 1024} kB)")
    try:
        message = json.loads(raw)
    except ValueError:
        raise ChatInputError("not valid JSON") from None
    if not isinstance(message, dict):
        raise ChatInputError("a message is a JSON object with type and id")
    mid = message.get("id")
    if not isinstance(mid, str) or not mid.strip() or len(mid) > MAX_ID_CHARS:
        raise ChatInputError(f"every message needs an id (a string up to {MAX_ID_CHARS} chars)")
    if message.get("type") not in HANDLED:
        raise ChatInputError(f"unknown message type {message.get('type')!r}; "
                             f"expected one of {', '.join(sorted(HANDLED))}")
    return message


class ChatSession:
    """One socket's conversation: who, which conversation, and what to do with each message."""

    def __init__(self, ws: WebSocket, principal: Principal) -> None:
        self.ws, self.principal = ws, principal
        self.store = chat_store(ws)
        self.conversation: Conversation | None = None

    async def send(self, message: dict[str, Any], *, keep: bool = False) -> None:
        if keep and self.conversation is not None:
            await run_in_threadpool(self.store.record_outgoing, self.conversation.id, message)
        await self.ws.send_json(message)

    async def handle_raw(self, raw: str) -> None:
        try:
            message = parse_client_message(raw)
        except ChatInputError as exc:
            await self.send(server_message("error", message=str(exc)))
            return
        mid = message["id"]
        await self.send(server_message("ack", of=mid))
        try:
            await HANDLED[message["type"]](self, message)
        except ChatInputError as exc:
            await self.send(server_message("error", of=mid, message=str(exc)),
                            keep=message["type"] in STORED)

    async def hello(self, message: dict[str, Any]) -> None:
        wanted = message.get("conversation_id")
        wanted = wanted if isinstance(wanted, str) else None
        self.conversation = await run_in_threadpool(self.store.open, self.principal.name,
                                                    wanted)
        history = await run_in_threadpool(self.store.history, self.conversation.id)
        await self.send(server_message("welcome", of=message["id"],
                                       conversation_id=self.conversation.id,
                                       resumed=self.conversation.resumed,
                                       user=self.principal.name,
                                       role=self.principal.role.value, history=history))

    async def ping(self, message: dict[str, Any]) -> None:
        await self.send(server_message("pong", of=message["id"]))

    async def ask(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ChatInputError("ask needs a non-empty text")
        if not await self._first_time(message):
            return
        act = self.ws.app.state.services.act  # the OheroACT flow, as for Slack and the API
        try:
            result = await run_in_threadpool(act.handle, text.strip(), self.principal.name)
        except Exception as exc:  # the person gets a reply, the log gets the trace
            log.exception("chat ask failed")
            raise ChatInputError(f"could not handle that: {exc}") from None
        answer: dict[str, Any] = {"of": message["id"], "text": result.reply,
                                  "route": result.route, "citations": result.citations}
        if result.event_key:
            answer.update(event_key=result.event_key, verdict=result.verdict,
                          tickets=result.tickets)
        await self.send(server_message("answer", **answer), keep=True)

    async def approve(self, message: dict[str, Any]) -> None:
        if not self.principal.role.allows(Role.APPROVER):
            raise ChatInputError(f"approver role needed; you are {self.principal.role.value}")
        incident_id, action_id = message.get("incident_id"), message.get("action_id")
        if not isinstance(incident_id, str) or not isinstance(action_id, str):
            raise ChatInputError("approve needs incident_id and action_id")
        if not await self._first_time(message):
            return
        try:
            await run_in_threadpool(self.ws.app.state.responder.approve, incident_id,
                                    action_id, self.principal.name, "from the web chat")
        except DecisionError as exc:
            raise ChatInputError(str(exc)) from None
        await self.send(server_message(
            "answer", of=message["id"], route="approve", citations=[],
            text=f"Approved action {action_id} on {incident_id}."), keep=True)

    async def _first_time(self, message: dict[str, Any]) -> bool:
        """Store the message; on a resend repeat what was said then and return False."""
        if self.conversation is None:
            raise ChatInputError("send hello first")
        cid = self.conversation.id
        if await run_in_threadpool(self.store.record_incoming, cid, message):
            return True
        for reply in await run_in_threadpool(self.store.replies_to, cid, message["id"]):
            reply.pop("direction", None)
            await self.ws.send_json(reply)
        return False


HANDLED = {"hello": ChatSession.hello, "ping": ChatSession.ping, "ask": ChatSession.ask,
           "approve": ChatSession.approve}
STORED = {"ask", "approve"}  # kept in the history; hello and ping are not


def same_origin(ws: WebSocket) -> bool:
    """Whether the page that opened the socket is OASIS's own. Browsers let any page open
    a WebSocket anywhere, with the cookies (and, with auth off, without any need of them),
    and the chat can approve actions: the console's forms have CSRF tokens, the socket has
    this. Programs send no Origin and are let through; a reverse proxy that rewrites Host
    should pass the public one in X-Forwarded-Host."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    host = urlsplit(origin).netloc.lower()
    return host in {ws.headers.get(h, "").lower() for h in ("host", "x-forwarded-host")} - {""}


async def _refuse(ws: WebSocket, reason: str) -> None:
    """Accept, then close with 1008 and the reason: refused during the handshake, a
    browser only sees 1006 (abnormal) and cannot tell "log in" from "server down"."""
    await ws.accept()
    await ws.close(code=POLICY_VIOLATION, reason=reason)


@router.websocket("/ws/chat")
async def chat(ws: WebSocket) -> None:
    """The chat socket; refused (close 1008) without a valid session cookie or API key,
    or when a page of another site opens it."""
    if not same_origin(ws):
        await _refuse(ws, "opened from another site")
        return
    try:
        principal = current_principal(ws)
    except HTTPException as exc:
        await _refuse(ws, str(exc.detail)[:120])
        return
    await ws.accept()
    session = ChatSession(ws, principal)
    try:
        while True:
            frame = await ws.receive()
            if frame["type"] == "websocket.disconnect":
                return
            if frame.get("text") is None:
                await session.send(server_message("error", message="send JSON as text frames"))
                continue
            await session.handle_raw(frame["text"])
    except WebSocketDisconnect:
        return
