"""Posts incident and event messages to Slack and threads later updates under them.

The first message about an incident starts a thread; everything after it goes into that
thread (`thread_ts`), so a channel shows one line per incident however long it runs.
Rate limits (429) are retried after Slack's `Retry-After` by slack_sdk's own handler.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from oasis.slack.messages import (
    EventCard,
    IncidentCard,
    event_message,
    incident_message,
    status_update_text,
)
from oasis.slack.verify import SlackSettings


class SlackSendError(RuntimeError):
    """Slack refused a message, or no token or channel is configured."""


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed: replies to it go to this channel and thread."""

    channel: str
    ts: str


class SlackNotifier:
    """Sends OASIS messages through Slack's Web API with the bot token."""

    def __init__(self, settings: SlackSettings, max_rate_limit_retries: int = 3,
                 timeout: int = 10) -> None:
        self.settings = settings
        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        self.client = WebClient(token=token, base_url=settings.api_url, timeout=timeout)
        self.client.retry_handlers.append(
            RateLimitErrorRetryHandler(max_retry_count=max_rate_limit_retries))
        # in memory: after a restart an incident's next update starts a new thread
        self.threads: dict[str, Posted] = {}

    def _channel(self, channel: str | None) -> str:
        chosen = channel or self.settings.default_channel
        if not chosen:
            raise SlackSendError("no Slack channel: the team has none and no default is set")
        return chosen

    def _post(self, **kwargs: object) -> Posted:
        if self.settings.bot_token is None:
            raise SlackSendError("no Slack bot token is configured")
        try:
            response = self.client.chat_postMessage(**kwargs)  # type: ignore[arg-type]
        except SlackApiError as exc:
            raise SlackSendError(f"Slack refused the message: {exc.response.get('error')}") \
                from exc
        return Posted(channel=str(response["channel"]), ts=str(response["ts"]))

    def post_incident(self, card: IncidentCard, channel: str | None = None) -> Posted:
        """The incident's first message, or an edit of it (and a threaded note) afterwards."""
        known = self.threads.get(card.incident_id)
        if known is None:
            posted = self._post(channel=self._channel(channel), **incident_message(card))
            self.threads[card.incident_id] = posted
            return posted
        try:
            self.client.chat_update(channel=known.channel, ts=known.ts,
                                    **incident_message(card))
        except SlackApiError as exc:
            raise SlackSendError(f"Slack refused the edit: {exc.response.get('error')}") \
                from exc
        return self.update_incident(card.incident_id, card.status)

    def update_incident(self, incident_id: str, status: str, note: str = "",
                        channel: str | None = None) -> Posted:
        """A status change, threaded under the incident's message when there is one."""
        text = status_update_text(incident_id, status, note)
        known = self.threads.get(incident_id)
        if known is None:
            posted = self._post(channel=self._channel(channel), text=text)
            self.threads[incident_id] = posted
            return posted
        return self._post(channel=known.channel, thread_ts=known.ts, text=text)

    def post_event(self, card: EventCard, channel: str | None = None) -> Posted:
        """An event or ticket with Accept / Discharge, to the owning team's channel."""
        return self._post(channel=self._channel(channel), **event_message(card))

    def reply(self, channel: str, thread_ts: str, text: str) -> Posted:
        """A reply in a thread (answers to mentions and direct messages)."""
        return self._post(channel=channel, thread_ts=thread_ts, text=text)
