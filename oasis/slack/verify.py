"""Slack request signatures, checked exactly as Slack documents them.

Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256 under the app's signing secret
and sends `v0=<hex>` in `X-Slack-Signature`. A timestamp more than five minutes away
from now (either way) is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from oasis.signals.errors import Unauthorized

MAX_SKEW_SECONDS = 5 * 60
SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"


class SlackSettings(BaseModel):
    """Set under `slack:` in the YAML file or as `OASIS_SLACK__...` variables."""

    model_config = ConfigDict(extra="forbid")

    signing_secret: SecretStr | None = Field(None, description=(
        "The app's signing secret (Basic Information page). Without it every inbound "
        "request is refused."))
    bot_token: SecretStr | None = Field(None, description=(
        "Bot token (xoxb-...) used to post messages. Without it nothing is sent."))
    api_url: str = Field("https://slack.com/api/", description=(
        "Base URL of Slack's Web API; tests point it at a local stand-in."))
    default_channel: str | None = Field(None, description=(
        "Channel for messages whose owning team has no channel of its own."))


class SignatureError(Unauthorized, ValueError):
    """The request is unsigned, wrongly signed or outside the five-minute window."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` value Slack would send for this body and timestamp."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify_signature(secret: SecretStr | str | None, timestamp: str | None,
                     signature: str | None, body: bytes, now: float | None = None) -> None:
    """Raise `SignatureError` unless Slack signed this body within the last five minutes."""
    if secret is None:
        raise SignatureError("no Slack signing secret is configured")
    if not timestamp or not signature:
        raise SignatureError("missing Slack signature headers")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("Slack timestamp is not a number") from None
    now = time.time() if now is None else now
    if abs(now - sent_at) > MAX_SKEW_SECONDS:
        raise SignatureError("Slack timestamp is more than five minutes away (replay?)")
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    # compare_digest takes time independent of where the strings differ
    if not hmac.compare_digest(sign(raw, timestamp, body).encode(), signature.encode()):
        raise SignatureError("Slack signature does not match")
