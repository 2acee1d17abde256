"""The Slack app: signed inbound requests (events, `/oasis`, buttons) and outbound
incident and ticket messages with threaded updates, over Slack's Web API.

The names below load on first use: `oasis.config` imports `oasis.slack.settings`, which
runs this file, and importing the settings must not load FastAPI or slack_sdk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oasis.slack.settings import SlackSettings

if TYPE_CHECKING:
    from oasis.slack.app import SlackHandlers, create_slack_router
    from oasis.slack.notifier import SlackNotifier
    from oasis.slack.verify import SignatureError, verify_signature

__all__ = ["SignatureError", "SlackHandlers", "SlackNotifier", "SlackSettings",
           "create_slack_router", "verify_signature"]


def __getattr__(name: str) -> Any:
    if name in ("SlackHandlers", "create_slack_router"):
        from oasis.slack import app as module
    elif name == "SlackNotifier":
        from oasis.slack import notifier as module
    elif name in ("SignatureError", "verify_signature"):
        from oasis.slack import verify as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)
