"""Posts incident, event and ticket messages to Slack and threads later updates under them.

The first message about a subject (an incident, an event) in a channel starts a thread;
everything after it goes into that thread (`thread_ts`), so a channel shows one line per
incident or event however long it runs. Where each thread started is kept in `threads`
(the state database when the service wires it), so threading survives a restart.
Rate limits (429) are retried after Slack's `Retry-After` by slack_sdk's own handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from oasis.signals.errors import Unavailable
from oasis.slack.messages import (
    EventCard,
    IncidentCard,
    event_message,
    incident_message,
    status_update_text,
)
from oasis.slack.settings import SlackSettings
from oasis.slack.threads import MemoryThreads, Posted, Thread, Threads

__all__ = ["Posted", "Root", "SlackNotifier", "SlackSendError"]

# Slack's errors that may pass by themselves; anything else (invalid_auth,
# channel_not_found, not_in_channel...) needs a person to change something first.
_TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
              "request_timeout"}


class SlackSendError(Unavailable, RuntimeError):
    """Slack refused a message, or no token or channel is configured."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Root:
    """A thread's first message and what it shows (see `oasis.slack.threads`)."""

    label: str
    message: dict[str, Any]


def incident_subject(incident_id: str) -> str:
    return f"incident:{incident_id}"


def event_subject(event_key: str) -> str:
    return f"event:{event_key}"


class SlackNotifier:
    """Sends OASIS messages through Slack's Web API with the bot token."""

    def __init__(self, settings: SlackSettings, threads: Threads | None = None,
                 max_rate_limit_retries: int = 3, timeout: int = 10) -> None:
        self.settings = settings
        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        self.client = WebClient(token=token, base_url=settings.api_url, timeout=timeout)
        self.client.retry_handlers.append(
            RateLimitErrorRetryHandler(max_retry_count=max_rate_limit_retries))
        self.threads: Threads = threads if threads is not None else MemoryThreads()

    def channel_for(self, channel: str | None) -> str:
        """`channel`, or the default one when the team has none."""
        chosen = channel or self.settings.default_channel
        if not chosen:
            raise SlackSendError("no Slack channel: the team has none and no default is set")
        return chosen

    # -- Web API calls ---------------------------------------------------------------------
    def _call(self, method: str, **kwargs: Any) -> Any:
        if self.settings.bot_token is None:
            raise SlackSendError("no Slack bot token is configured")
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            retryable = error in _TRANSIENT or exc.response.status_code >= 500
            raise SlackSendError(f"Slack refused {method}: {error}", retryable) from exc
        except OSError as exc:  # refused, reset, timed out: Slack or the network is down
            raise SlackSendError(f"cannot reach Slack's Web API: {exc}", True) from exc

    def post(self, channel: str | None, message: dict[str, Any],
             thread_ts: str | None = None) -> Posted:
        """A new message (in a thread when `thread_ts` is given)."""
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        response = self._call("chat_postMessage", channel=self.channel_for(channel),
                              **message, **extra)
        return Posted(channel=str(response["channel"]), ts=str(response["ts"]))

    def edit(self, root: Posted, message: dict[str, Any]) -> None:
        """Replace a message OASIS posted (e.g. to show a new status, without buttons)."""
        self._call("chat_update", channel=root.channel, ts=root.ts, **message)

    def reply(self, channel: str, thread_ts: str, text: str) -> Posted:
        """A reply in a thread (answers to mentions and direct messages)."""
        return self.post(channel, {"text": text}, thread_ts=thread_ts)

    # -- threads ---------------------------------------------------------------------------
    def into_thread(self, subject: str, channel: str | None, root: Root | None,
                    reply: str | None) -> Posted | None:
        """Start the subject's thread in `channel` with `root`; when the thread exists,
        edit its root (if it shows the same thing as `root`) and post `reply` in it.
        Nothing is sent when there is no thread and no root to start one."""
        target = self.channel_for(channel)
        known = self.threads.get(subject, target)
        if known is None:
            if root is None:
                return None
            posted = self.post(target, root.message)
            self.threads.save(Thread(subject, target, posted, root.label))
            return posted
        if root is not None and root.label == known.label:
            self.edit(known.root, root.message)
        if reply:
            return self.post(known.root.channel, {"text": reply}, thread_ts=known.root.ts)
        return known.root

    def channels_of(self, subject: str) -> list[str]:
        """The channels where the subject has a thread."""
        return [t.channel for t in self.threads.of(subject)]

    # -- incidents and events --------------------------------------------------------------
    def post_incident(self, card: IncidentCard, channel: str | None = None,
                      note: str = "") -> Posted:
        """The incident's first message, or an edit of it (and a threaded note) afterwards."""
        subject = incident_subject(card.incident_id)
        known = self.threads.get(subject, channel)
        root = Root("incident", incident_message(card))
        text = status_update_text(card.incident_id, card.status, note)
        posted = self.into_thread(subject, known.channel if known else channel, root, text)
        assert posted is not None  # a root was given
        return posted

    def update_incident(self, incident_id: str, status: str, note: str = "",
                        channel: str | None = None) -> Posted:
        """A status change, threaded under the incident's message when there is one."""
        subject = incident_subject(incident_id)
        text = status_update_text(incident_id, status, note)
        known = self.threads.get(subject, channel)
        if known is None:
            posted = self.post(channel, {"text": text})
            self.threads.save(Thread(subject, self.channel_for(channel), posted, "note"))
            return posted
        return self.post(known.root.channel, {"text": text}, thread_ts=known.root.ts)

    def post_event(self, card: EventCard, channel: str | None = None) -> Posted:
        """An event, to the owning team's channel; Accept / Discharge while it waits."""
        posted = self.into_thread(event_subject(card.event_key), channel,
                                  Root("ask", event_message(card)), None)
        assert posted is not None
        return posted
