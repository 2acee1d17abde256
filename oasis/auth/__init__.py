"""Logins, API keys and roles for the console, chat, API and Slack.

`AuthContext`, `current_principal` and `require` (FastAPI dependencies, `oasis.auth.deps`)
load on first use: `oasis.config` imports `oasis.auth.settings`, which runs this file, and
importing the settings must not load FastAPI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oasis.auth.roles import LOCAL_ADMIN, Principal, Role, parse_role
from oasis.auth.sessions import COOKIE_NAME, SessionSigner
from oasis.auth.settings import AuthSettings
from oasis.auth.users import ApiKey, AuthError, User, UserStore

if TYPE_CHECKING:
    from oasis.auth.deps import AuthContext, current_principal, require

_DEPS = ("AuthContext", "current_principal", "require")

__all__ = ["COOKIE_NAME", "LOCAL_ADMIN", "ApiKey", "AuthContext", "AuthError", "AuthSettings",
           "Principal", "Role", "SessionSigner", "User", "UserStore", "current_principal",
           "parse_role", "require"]


def __getattr__(name: str) -> Any:
    if name in _DEPS:
        from oasis.auth import deps

        return getattr(deps, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
