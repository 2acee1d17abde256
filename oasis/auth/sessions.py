"""Signed session cookies: who logged in, with what role, until when.

The cookie holds no secret, only a claim signed with HMAC-SHA256; a changed byte or a
passed expiry makes it worthless. Nothing is stored per session, so every OASIS process
sharing the signing key accepts it; logging out only drops the cookie in that browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.auth.roles import Principal, Role

COOKIE_NAME = "oasis_session"

metadata = sa.MetaData()
# The same table oasis.approve.links keeps its generated key in; one row per purpose.
secrets_table = sa.Table(
    "oasis_secrets", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks session cookie values; knows nothing of databases or HTTP."""

    def __init__(self, secret: bytes, session_hours: float = 12) -> None:
        if len(secret) < 16:
            raise ValueError("the session cookie secret must be at least 16 bytes")
        self._secret = secret
        self.lifetime = timedelta(hours=session_hours)

    def issue(self, principal: Principal, now: datetime | None = None) -> str:
        expires = (now or datetime.now(UTC)) + self.lifetime
        payload = orjson.dumps({"n": principal.name, "r": principal.role.value,
                                "e": int(expires.timestamp())})
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, cookie: str, now: datetime | None = None) -> Principal | None:
        """Who the cookie says, if it is intact and not expired; else None."""
        try:
            body, mac = cookie.split(".")
            payload, given = _unb64(body), _unb64(mac)
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(payload)):
            return None
        try:
            data = orjson.loads(payload)
            name, role = str(data["n"]), Role(data["r"])
            expires = datetime.fromtimestamp(data["e"], UTC)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError):
            return None
        if (now or datetime.now(UTC)) >= expires:
            return None
        return Principal(name, role, "session")

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()


def stored_secret(engine: Engine, purpose: str = "session_cookies") -> bytes:
    """The generated key for `purpose`, created once per state database."""
    metadata.create_all(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(secrets_table.c.value)
                           .where(secrets_table.c.name == purpose)).first()
    if row is not None:
        return row[0].encode()
    try:
        with engine.begin() as conn:
            conn.execute(secrets_table.insert().values(name=purpose,
                                                       value=secrets.token_urlsafe(32)))
    except sa.exc.IntegrityError:  # another process made it first; use theirs
        pass
    return stored_secret(engine, purpose)
