"""Signed, single-use, expiring approval links.

A link carries the incident, the action, the decision and an expiry, signed with HMAC-SHA256
(`oasis.signals.signing.TokenSigner`).
Opening it (GET) only shows a confirmation page, so mail scanners that prefetch links
approve nothing; the page's form POSTs the token back, and that use is recorded, so a
link works once. Anyone holding a link can use it: send links only to people who may
approve, and keep the TTL short.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.signals.errors import OasisError
from oasis.signals.signing import TokenExpired, TokenForged, TokenMalformed, TokenSigner
from oasis.state import stored_secret


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class LinkError(OasisError, ValueError):
    """A link that cannot be used; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, status=status)


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """What a valid link allows."""

    incident_id: str
    action_id: str
    decision: Decision
    expires_at: datetime
    nonce: str


class LinkSigner:
    """Makes and checks link tokens (`TokenSigner` tokens); knows nothing of databases or
    HTTP."""

    def __init__(self, secret: bytes) -> None:
        self._tokens = TokenSigner(secret, "approval link secret")

    def sign(self, incident_id: str, action_id: str, decision: Decision,
             expires_at: datetime) -> str:
        return self._tokens.sign({"i": incident_id, "a": action_id, "d": decision.value,
                                  "n": secrets.token_urlsafe(12)}, expires_at)

    def verify(self, token: str, now: datetime | None = None) -> LinkClaim:
        """The claim inside `token`, or LinkError: 400 malformed, 403 forged, 410 expired."""
        try:
            data = self._tokens.verify(token, now)
        except TokenForged:
            raise LinkError("this approval link was altered or signed by another OASIS",
                            403) from None
        except TokenExpired as exc:
            raise LinkError(f"this approval link expired at {exc.expires_at:%Y-%m-%d %H:%M} "
                            "UTC; ask for a new one or decide in OASIS", 410) from None
        except TokenMalformed:
            raise LinkError("this approval link is malformed; copy the whole link",
                            400) from None
        try:
            return LinkClaim(_text(data["i"]), _text(data["a"]), Decision(data["d"]),
                             datetime.fromtimestamp(data["e"], UTC), _text(data["n"]))
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            raise LinkError("this approval link is malformed", 400) from None


def _text(value: object, limit: int = 64) -> str:
    """A claim's id or nonce: a short string, whatever a (validly signed) token holds."""
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ValueError("not an id")
    return value


metadata = sa.MetaData()
link_uses = sa.Table(
    "approval_link_uses", metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("action_id", sa.String(64), nullable=False),
    sa.Column("used_at", sa.DateTime, nullable=False),
    sa.Column("used_by", sa.String(200), nullable=False),
)


class LinkLedger:
    """Remembers used links (so each works once) and keeps the generated signing key."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def use(self, claim: LinkClaim, by: str, now: datetime | None = None) -> None:
        """Record the one use of `claim`'s link; LinkError 409 if it was used already."""
        now = now or datetime.now(UTC)
        try:
            with self.engine.begin() as conn:
                conn.execute(link_uses.insert().values(
                    nonce=claim.nonce, action_id=claim.action_id,
                    used_at=now.astimezone(UTC).replace(tzinfo=None), used_by=by[:200]))
        except sa.exc.IntegrityError:
            raise LinkError("this approval link was already used; each link works once",
                            409) from None

    def was_used(self, claim: LinkClaim) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(link_uses.c.nonce)
                                .where(link_uses.c.nonce == claim.nonce)).first() is not None

    def shared_secret(self) -> bytes:
        """The generated signing key, created once per state database."""
        return stored_secret(self.engine, "approval_links")


def expiry(ttl_minutes: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) + timedelta(minutes=ttl_minutes)
