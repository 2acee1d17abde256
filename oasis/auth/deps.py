"""FastAPI dependencies: who is asking, and may they.

`current_principal` accepts, in order, an API key (`Authorization: Bearer oasis_...` or
`X-API-Key`) and the `oasis_session` cookie. With auth off every request is the local
admin. They read `app.state.auth`, an `AuthContext` the app sets up at start.

A key with the `ingest` role is refused (403) everywhere except on the push routes the app
lists in `app.state.push_routes` ((method, route path) pairs; none when unset, so a route
not listed is closed to senders).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from fastapi import Depends, HTTPException
from sqlalchemy.engine import Engine
from starlette.requests import HTTPConnection
from starlette.responses import Response

from oasis.auth.roles import LOCAL_ADMIN, Principal, Role
from oasis.auth.sessions import COOKIE_NAME, SessionSigner
from oasis.auth.settings import AuthSettings
from oasis.auth.throttle import LoginLocked, LoginThrottle
from oasis.auth.users import UserStore
from oasis.state import stored_secret

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
log = logging.getLogger("oasis.auth")


@dataclass(frozen=True, slots=True)
class AuthContext:
    settings: AuthSettings
    users: UserStore
    signer: SessionSigner
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Whether session cookies carry Secure: `auth.cookie_secure`, or (unset) whether the
    # server listens beyond loopback, where a cookie must never travel in clear.
    cookie_secure: bool = True

    @classmethod
    def open(cls, settings: AuthSettings, engine: Engine, *,
             listens_on_loopback: bool = False) -> AuthContext:
        """Users on `engine`, cookies signed with the configured or the stored secret."""
        secret = (settings.secret.get_secret_value().encode() if settings.secret
                  else stored_secret(engine, "session_cookies"))
        secure = settings.cookie_secure if settings.cookie_secure is not None \
            else not listens_on_loopback
        return cls(settings, UserStore(engine), SessionSigner(secret, settings.session_hours),
                   LoginThrottle(free=settings.login_free_failures,
                                 max_delay=timedelta(seconds=settings.login_max_delay_seconds)),
                   secure)

    def login(self, name: str, password: str, address: str = "unknown") -> str | None:
        """A session cookie value for `name`, or None if the password is wrong;
        `LoginLocked` (429) while the user or the address must wait after too many wrong
        passwords, without checking this one."""
        try:
            self.throttle.check(name, address)
        except LoginLocked:
            log.warning("login refused for %r from %s: locked after failed logins",
                        name[:64], address)
            raise
        user = self.users.verify_password(name, password)
        if user is None:
            failures = self.throttle.failed(name, address)
            log.warning("failed login for %r from %s (%d in a row)", name[:64], address,
                        failures)
            return None
        self.throttle.succeeded(name)
        return self.signer.issue(Principal(user.name, user.role, "session"))

    def set_cookie(self, response: Response, value: str) -> None:
        """Put a session on `response`: HTTP-only, same-site, Secure unless
        `cookie_secure` is off, as long as a session lasts."""
        response.set_cookie(COOKIE_NAME, value, max_age=int(self.signer.lifetime.total_seconds()),
                            httponly=True, secure=self.cookie_secure, samesite="lax")

    def authenticate(self, conn: HTTPConnection) -> Principal:
        """The principal of `conn`, or HTTPException 401 saying what was wrong (403 for an
        ingest key off the push routes)."""
        if not self.settings.enabled:
            return LOCAL_ADMIN
        key = _api_key(conn)
        if key is not None:
            principal = self.users.verify_api_key(key)
            if principal is None:
                raise HTTPException(401, "that API key is unknown, revoked or altered",
                                    headers=_CHALLENGE)
            if principal.role is Role.INGEST and not is_push_route(conn):
                raise HTTPException(403, "an ingest key may only send signals and events "
                                         "(the push routes); it cannot read or decide")
            return principal
        cookie = conn.cookies.get(COOKIE_NAME)
        if cookie:
            return self._session(cookie)
        raise HTTPException(401, "log in or send an API key (Authorization: Bearer oasis_...)",
                            headers=_CHALLENGE)

    def _session(self, cookie: str) -> Principal:
        claimed = self.signer.verify(cookie)
        # Re-read the user so disabling someone or lowering their role counts at once.
        user = self.users.get_user(claimed.name) if claimed is not None else None
        if claimed is None or user is None or user.disabled:
            raise HTTPException(401, "your session expired or is no longer valid; log in again",
                                headers=_CHALLENGE)
        return replace(claimed, role=user.role)


def is_loopback(host: str) -> bool:
    """Whether a listen address reaches only this machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _api_key(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return conn.headers.get("x-api-key") or None


def is_push_route(conn: HTTPConnection) -> bool:
    """Whether `conn` is on a route the app lists in `app.state.push_routes`."""
    route = conn.scope.get("route")
    listed = getattr(conn.app.state, "push_routes", frozenset())
    return route is not None and (conn.scope.get("method"), getattr(route, "path", None)) in listed


def auth_context(conn: HTTPConnection) -> AuthContext:
    auth = getattr(conn.app.state, "auth", None)
    if not isinstance(auth, AuthContext):
        raise RuntimeError("app.state.auth is not set up; create an AuthContext at start")
    return auth


def current_principal(request: HTTPConnection) -> Principal:
    """FastAPI dependency: who the request acts as (401 if auth is on and nobody valid)."""
    return auth_context(request).authenticate(request)


def require(role: Role) -> Any:
    """FastAPI dependency (`Depends`) that returns the principal, or 403 if their role is
    below `role`."""
    needed = Role(role)

    def check(principal: Principal = Depends(current_principal)) -> Principal:
        # On a push route an ingest key stands in for the role the route asks of people.
        if principal.role is Role.INGEST:
            return principal
        if not principal.role.allows(needed):
            raise HTTPException(403, f"{needed.value} role needed; you are "
                                     f"{principal.role.value}")
        return principal

    return Depends(check)
