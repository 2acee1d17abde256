"""Signed session cookies: who logged in, with what role, until when.

The cookie holds no secret, only a claim signed with HMAC-SHA256
(`oasis.signals.signing.TokenSigner`); a changed byte or a passed expiry makes it worthless.
Nothing is stored per session, so every OASIS process sharing the signing key accepts it;
logging out only drops the cookie in that browser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oasis.auth.roles import Principal, Role
from oasis.signals.signing import TokenError, TokenSigner

COOKIE_NAME = "oasis_session"


class SessionSigner:
    """Issues and checks session cookie values; knows nothing of databases or HTTP."""

    def __init__(self, secret: bytes, session_hours: float = 12) -> None:
        self._tokens = TokenSigner(secret, "session cookie secret")
        self.lifetime = timedelta(hours=session_hours)

    def issue(self, principal: Principal, now: datetime | None = None) -> str:
        return self._tokens.sign({"n": principal.name, "r": principal.role.value},
                                 (now or datetime.now(UTC)) + self.lifetime)

    def verify(self, cookie: str, now: datetime | None = None) -> Principal | None:
        """Who the cookie says, if it is intact and not expired; else None."""
        try:
            data = self._tokens.verify(cookie, now)
            return Principal(str(data["n"]), Role(data["r"]), "session")
        except (TokenError, KeyError, TypeError, ValueError):
            return None

