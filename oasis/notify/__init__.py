"""Telling people about incidents: rendered emails and webhooks, delivered from an outbox
that retries with backoff and records every outcome on the incident.

The demo's mail catcher (`oasis.notify.catcher`, on aiosmtpd) is imported from there, so a
server does not load an SMTP server it never runs."""

from oasis.notify.channels import (
    Channel,
    DeliveryError,
    EmailChannel,
    WebhookChannel,
    channels_from,
)
from oasis.notify.message import Notification, build_notification
from oasis.notify.outbox import Delivery, Outbox
from oasis.notify.render import KINDS, Rendered, RenderError, render
from oasis.notify.settings import (
    NotifySettings,
    RetrySettings,
    SmtpSettings,
    WebhookChannelSettings,
)

__all__ = [
    "KINDS", "Channel", "Delivery", "DeliveryError", "EmailChannel",
    "Notification", "NotifySettings", "Outbox", "RenderError", "Rendered", "RetrySettings",
    "SmtpSettings", "WebhookChannel", "WebhookChannelSettings", "build_notification",
    "channels_from", "render",
]
