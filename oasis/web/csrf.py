"""CSRF tokens for the console's forms.

SameSite=Lax cookies already stop most cross-site posts; the token also covers older
browsers, same-site attackers (another app on a sibling subdomain) and the login form.
A token is an HMAC of the browser's session cookie, so it is worthless in another
browser and changes at every login. Before a login, and with auth off (no session at
all), it is an HMAC of a random per-browser `oasis_csrf` cookie instead. Nothing is
stored per token, so every OASIS process sharing the state database accepts them.

Requests signed in with an API key need no token: a browser never attaches one on its
own, so another site cannot make it send one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import HTTPConnection
from starlette.responses import Response

from oasis.auth import COOKIE_NAME, Principal
from oasis.auth.deps import auth_context
from oasis.state import stored_secret

FIELD = "csrf_token"
COOKIE = "oasis_csrf"
_PURPOSE = b"oasis console csrf v1"


def csrf_key(conn: HTTPConnection) -> bytes:
    """The app's CSRF key: derived from the configured auth secret, or generated once per
    state database. Cached on the app, so only the first form pays for the lookup."""
    state = conn.app.state
    key: bytes | None = getattr(state, "csrf_key", None)
    if key is None:
        configured = auth_context(conn).settings.secret
        key = (hmac.new(configured.get_secret_value().encode(), _PURPOSE, hashlib.sha256)
               .digest() if configured else stored_secret(state.incidents.engine,
                                                          "console_csrf"))
        state.csrf_key = key
    return key


def _binding(conn: HTTPConnection) -> str | None:
    return conn.cookies.get(COOKIE_NAME) or conn.cookies.get(COOKIE) or None


def _token(key: bytes, binding: str) -> str:
    mac = hmac.new(key, b"csrf|" + binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue(conn: HTTPConnection) -> tuple[str, str | None]:
    """The token for forms on this page, and a new `oasis_csrf` cookie value to set when
    the browser has neither a session nor one yet (None otherwise)."""
    binding = _binding(conn)
    fresh = None
    if binding is None:
        fresh = binding = secrets.token_urlsafe(24)
    return _token(csrf_key(conn), binding), fresh


def set_cookie(conn: HTTPConnection, response: Response, value: str) -> None:
    response.set_cookie(COOKIE, value, httponly=True, samesite="lax",
                        secure=conn.url.scheme == "https")


def valid(conn: HTTPConnection, given: str, principal: Principal | None = None) -> bool:
    """Whether a POST carries this browser's token (always true for API-key callers)."""
    if principal is not None and principal.via == "api_key":
        return True
    binding = _binding(conn)
    if binding is None or not given:
        return False
    return hmac.compare_digest(given.encode(), _token(csrf_key(conn), binding).encode())
