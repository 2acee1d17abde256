"""Build the Slack app's outbound side from settings: the `slack` outbox channel (for the
response loop, which delivers every channel) and the watcher the triage flow tells.
Both exist only when a bot token is configured. Moved here from `oasis.slack.wiring`: the
composition root builds them, so the Slack package needs no aggregate settings."""

from __future__ import annotations

import logging
from collections.abc import Collection

from sqlalchemy.engine import Engine

from oasis.config import Settings
from oasis.notify import Channel, Outbox
from oasis.slack.channel import CHANNEL_NAME, SlackChannel
from oasis.slack.notifier import SlackNotifier
from oasis.slack.threads import SqlThreads
from oasis.slack.watcher import SlackEventWatcher
from oasis.triage.org import Organisation, OrganisationError, load_organisation

log = logging.getLogger(__name__)


def slack_channels(settings: Settings, engine: Engine,
                   taken: Collection[str] = ()) -> dict[str, Channel]:
    """{"slack": the channel} when Slack can be posted to, else {}. `taken`: the names of
    the other channels, which must not hide this one."""
    if settings.slack.bot_token is None:
        return {}
    if CHANNEL_NAME in taken:
        raise ValueError(f"notify.webhooks has a channel named {CHANNEL_NAME!r}, the Slack "
                         "app's name; rename the webhook")
    notifier = SlackNotifier(settings.slack, SqlThreads(engine))
    return {CHANNEL_NAME: SlackChannel(notifier, _organisation(settings))}


def slack_watcher(settings: Settings, outbox: Outbox | None,
                  org: Organisation) -> SlackEventWatcher | None:
    """The triage flow's watcher when Slack can be posted to (and there is an outbox)."""
    if settings.slack.bot_token is None or outbox is None:
        return None
    return SlackEventWatcher(outbox, org, settings.slack.default_channel)


def _organisation(settings: Settings) -> Organisation | None:
    """The team table, to route incidents to the team owning the root-cause service."""
    path = settings.triage.organisation_file
    if path is None:
        return None
    try:
        return load_organisation(path)
    except OrganisationError as exc:  # triage reports it; incidents go to the default
        log.warning("Slack routes incidents to the default channel: %s", exc)
        return None
