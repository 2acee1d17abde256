"""Slack's inbound side: the Events API, the `/oasis` slash command and button clicks.

Every request is checked against the signing secret before its body is even parsed.
Button clicks and `/oasis approve` go to the same approval and triage code as the API
and CLI, as actor `slack:<user id>`, and only for approvers and admins.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from oasis.slack.dedupe import SeenEvents
from oasis.slack.messages import ACCEPT, APPROVE, DISCHARGE, REJECT
from oasis.slack.notifier import SlackNotifier, SlackSendError
from oasis.slack.settings import SlackSettings
from oasis.slack.verify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify_signature,
)

log = logging.getLogger(__name__)
ROLES = ("viewer", "responder", "approver", "admin")
_BUTTON_IDS = {
    APPROVE: ("incident_id", "action_id"),
    REJECT: ("incident_id", "action_id"),
    ACCEPT: ("event_key",),
    DISCHARGE: ("event_key",),
}
USAGE = (
    "Usage: `/oasis status` · `/oasis incidents` · `/oasis ask <question>` · "
    "`/oasis approve <incident id> <action id>`"
)


class SlackHandlers(Protocol):
    """What the Slack app calls; the service wires these to its approval and triage code."""

    def approve(self, incident_id: str, action_id: str, actor: str) -> None: ...
    def reject(self, incident_id: str, action_id: str, actor: str) -> None: ...
    def accept(self, event_key: str, actor: str) -> None: ...
    def discharge(self, event_key: str, actor: str) -> None: ...
    def ask(self, text: str, actor: str) -> str: ...
    def status(self) -> str: ...
    def incidents(self) -> str: ...
    def role_of(self, slack_user_id: str) -> str: ...


def _can_decide(handlers: SlackHandlers, user_id: str) -> bool:
    role = handlers.role_of(user_id)
    rank = ROLES.index(role) if role in ROLES else 0
    return rank >= ROLES.index("approver")


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


async def _signed_body(request: Request, settings: SlackSettings) -> bytes:
    body = await request.body()
    try:
        verify_signature(
            settings.signing_secret,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
        )
    except SignatureError as exc:
        raise HTTPException(401, str(exc)) from None
    return body


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


async def _decide(handlers: SlackHandlers, verb: str, ids: dict[str, Any], user_id: str) -> str:
    """Run one decision for an approver; the reply text says what happened."""
    if not _can_decide(handlers, user_id):
        return "approver role needed"
    actor = f"slack:{user_id}"
    try:
        if verb in (APPROVE, REJECT):
            incident_id, action_id = str(ids["incident_id"]), str(ids["action_id"])
            await run_in_threadpool(getattr(handlers, verb), incident_id, action_id, actor)
            return f"{verb}d {action_id} on {incident_id}"
        event_key = str(ids["event_key"])
        await run_in_threadpool(getattr(handlers, verb), event_key, actor)
        return f"{'accepted' if verb == ACCEPT else 'discharged'} {event_key}"
    except KeyError as exc:
        return f"not found: {exc}"
    except ValueError as exc:
        return f"refused: {exc}"


def _post_response(url: str, message: dict[str, Any]) -> None:
    try:
        httpx.post(url, json=message, timeout=10)
    except httpx.HTTPError as exc:
        log.warning("Slack response_url did not answer: %s", exc)


def _is_redelivery(payload: dict[str, Any], retry_num: str | None, seen: SeenEvents) -> bool:
    """Whether this event was handled before (same `event_id`).

    Without an `event_id` only the retry header can tell; such a retry is taken as a copy,
    since answering a question twice is worse than missing one Slack gave up on anyway.
    """
    event_id = payload.get("event_id")
    if isinstance(event_id, str) and event_id:
        return not seen.first_time(event_id)
    return bool(retry_num)


def create_slack_router(
    handlers: SlackHandlers,
    settings: SlackSettings,
    notifier: SlackNotifier | None = None,
    seen: SeenEvents | None = None,
) -> APIRouter:
    """Routes under /slack; mount on the service's FastAPI app."""
    router = APIRouter(prefix="/slack", tags=["slack"])
    sender = notifier or SlackNotifier(settings)
    seen_events = seen or SeenEvents()

    def answer_in_thread(text: str, user: str, channel: str, thread_ts: str) -> None:
        try:
            reply = handlers.ask(text, f"slack:{user}")
            sender.reply(channel, thread_ts, reply)
        except SlackSendError as exc:
            log.warning("could not answer in Slack: %s", exc)

    @router.post("/events")
    async def events(request: Request, background: BackgroundTasks) -> dict[str, Any]:
        body = await _signed_body(request, settings)
        try:
            payload = json.loads(body)
        except ValueError:
            raise HTTPException(400, "body is not JSON") from None
        if payload.get("type") == "url_verification":
            return {"challenge": payload.get("challenge", "")}
        # Slack re-sends events it thinks were lost: handle the first copy that arrives
        if _is_redelivery(payload, request.headers.get("X-Slack-Retry-Num"), seen_events):
            return {"ok": True}
        event = payload.get("event") or {}
        wanted = event.get("type") == "app_mention" or (
            event.get("type") == "message" and event.get("channel_type") == "im"
        )
        # bot messages (our own replies included) and edits/joins are never questions
        if wanted and not event.get("bot_id") and not event.get("subtype") and event.get("user"):
            background.add_task(
                answer_in_thread,
                str(event.get("text", "")),
                str(event["user"]),
                str(event.get("channel", "")),
                str(event.get("thread_ts") or event.get("ts", "")),
            )
        return {"ok": True}

    @router.post("/commands")
    async def commands(request: Request) -> dict[str, Any]:
        form = _form(await _signed_body(request, settings))
        user_id = form.get("user_id", "")
        verb, _, rest = form.get("text", "").strip().partition(" ")
        verb = verb.lower()
        if verb == "status":
            return _ephemeral(await run_in_threadpool(handlers.status))
        if verb == "incidents":
            return _ephemeral(await run_in_threadpool(handlers.incidents))
        if verb == "ask" and rest.strip():
            return _ephemeral(
                await run_in_threadpool(handlers.ask, rest.strip(), f"slack:{user_id}")
            )
        if verb in (APPROVE, REJECT) and len(rest.split()) == 2:
            incident_id, action_id = rest.split()
            return _ephemeral(
                await _decide(
                    handlers, verb, {"incident_id": incident_id, "action_id": action_id}, user_id
                )
            )
        return _ephemeral(USAGE)

    @router.post("/interactive")
    async def interactive(request: Request, background: BackgroundTasks) -> dict[str, Any]:
        form = _form(await _signed_body(request, settings))
        try:
            payload = json.loads(form.get("payload", ""))
            user_id = str(payload["user"]["id"])
            action = payload["actions"][0]
            verb, ids = str(action["action_id"]), json.loads(action["value"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise HTTPException(400, "not a Slack block_actions payload") from None
        needed = _BUTTON_IDS.get(verb)
        if needed is None:
            raise HTTPException(400, f"unknown action {verb!r}")
        if not isinstance(ids, dict) or any(not ids.get(name) for name in needed):
            raise HTTPException(400, f"the {verb} button needs {', '.join(needed)}")
        message = _ephemeral(await _decide(handlers, verb, ids, user_id))
        if payload.get("response_url"):
            background.add_task(_post_response, str(payload["response_url"]), message)
        return message

    return router
