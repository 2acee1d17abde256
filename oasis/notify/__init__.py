"""Telling people about incidents: rendered emails and webhooks, delivered from an outbox
that retries with backoff and records every outcome on the incident."""

from oasis.notify.catcher import MailCatcher, free_port, html_of, text_of
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
    "KINDS", "Channel", "Delivery", "DeliveryError", "EmailChannel", "MailCatcher",
    "Notification", "NotifySettings", "Outbox", "RenderError", "Rendered", "RetrySettings",
    "SmtpSettings", "WebhookChannel", "WebhookChannelSettings", "build_notification",
    "channels_from", "free_port", "html_of", "render", "text_of",
]
