"""The HMAC signatures OASIS makes: one on what it POSTs, one on the tokens it hands out.

Bodies: notification webhooks (`oasis.notify.channels`) and remediation webhooks
(`oasis.remediate.executors.webhook`). Wire format (docs/notifications.md,
docs/remediation.md), unchanged:
`X-OASIS-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with the secret>`.
Slack's request signature is a different scheme and stays in `oasis.slack.verify`.

Tokens: approval links (`oasis.approve.links`) and session cookies (`oasis.auth.sessions`)
are `TokenSigner` tokens, `<base64url JSON claims>.<base64url HMAC-SHA256 of those bytes>`,
the claims carrying their expiry as epoch seconds under `e`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson

from oasis.signals.errors import InvalidInput

SIGNATURE_HEADER = "X-OASIS-Signature"
MIN_SECRET_BYTES = 16


def sign_body(secret: str, body: bytes) -> str:
    """The `X-OASIS-Signature` value for `body`: `sha256=` and the hex HMAC-SHA256 keyed
    with `secret`. Key first, as in `hmac.new(key, msg)`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_body(secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` is `sign_body(secret, body)`, compared in constant time."""
    return hmac.compare_digest(sign_body(secret, body).encode(), signature.encode())


class TokenError(InvalidInput, ValueError):
    """A token that cannot be used."""


class TokenMalformed(TokenError):
    """Not a token: cut short, not base64, not JSON, or without an expiry."""

    status = 400


class TokenForged(TokenError):
    """Changed since it was signed, or signed with another key."""

    status = 403


class TokenExpired(TokenError):
    """Intact, but past its expiry."""

    status = 410

    def __init__(self, message: str, expires_at: datetime) -> None:
        super().__init__(message)
        self.expires_at = expires_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Signs claims with an expiry and checks them back; knows nothing of databases or HTTP.

    `what` names the key in the error for a short one ("the approval link secret")."""

    def __init__(self, secret: bytes, what: str = "token secret") -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the {what} must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret

    def sign(self, claims: dict[str, Any], expires_at: datetime) -> str:
        """A token carrying `claims` (JSON values; the key `e` is taken) until `expires_at`."""
        payload = orjson.dumps({**claims, "e": int(expires_at.timestamp())})
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, now: datetime | None = None) -> dict[str, Any]:
        """The claims inside `token` (with `e`, the expiry in epoch seconds), or
        TokenMalformed, TokenForged (the signature does not match, compared in constant
        time) or TokenExpired (at or after its expiry)."""
        try:
            body, mac = token.split(".")
            payload, given = _unb64(body), _unb64(mac)
        except ValueError:
            raise TokenMalformed("not a signed token") from None
        if not hmac.compare_digest(given, self._mac(payload)):
            raise TokenForged("the token was altered or signed with another key")
        try:
            claims = orjson.loads(payload)
            expires_at = datetime.fromtimestamp(claims["e"], UTC)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError,
                OSError):
            raise TokenMalformed("the token's claims are malformed") from None
        if (now or datetime.now(UTC)) >= expires_at:
            raise TokenExpired(f"the token expired at {expires_at:%Y-%m-%d %H:%M} UTC",
                               expires_at)
        return claims

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()


__all__ = ["SIGNATURE_HEADER", "TokenError", "TokenExpired", "TokenForged", "TokenMalformed",
           "TokenSigner", "sign_body", "verify_body"]
