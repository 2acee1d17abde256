"""The one HMAC signature OASIS puts on what it POSTs: notification webhooks
(`oasis.notify.channels`) and remediation webhooks (`oasis.remediate.executors.webhook`).

Wire format (docs/notifications.md, docs/remediation.md), unchanged:
`X-OASIS-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with the secret>`.
Slack's request signature is a different scheme and stays in `oasis.slack.verify`.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-OASIS-Signature"


def sign_body(secret: str, body: bytes) -> str:
    """The `X-OASIS-Signature` value for `body`: `sha256=` and the hex HMAC-SHA256 keyed
    with `secret`. Key first, as in `hmac.new(key, msg)`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_body(secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` is `sign_body(secret, body)`, compared in constant time."""
    return hmac.compare_digest(sign_body(secret, body).encode(), signature.encode())


__all__ = ["SIGNATURE_HEADER", "sign_body", "verify_body"]
