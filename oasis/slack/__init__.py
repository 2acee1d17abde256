"""The Slack app: signed inbound requests (events, `/oasis`, buttons) and outbound
incident and ticket messages with threaded updates, over Slack's Web API."""

from oasis.slack.app import SlackHandlers, create_slack_router
from oasis.slack.notifier import SlackNotifier
from oasis.slack.verify import SignatureError, SlackSettings, verify_signature

__all__ = ["SignatureError", "SlackHandlers", "SlackNotifier", "SlackSettings",
           "create_slack_router", "verify_signature"]
