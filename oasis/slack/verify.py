"""Slack request signatures, checked exactly as Slack documents them.

Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256 under the app's signing secret
and sends `v0=<hex>` in `X-Slack-Signature`. A timestamp more than five minutes away
from now (either way) is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import SecretStr

from oasis.signals.errors import Unauthorized

MAX_SKEW_SECONDS = 5 * 60
SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"


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
