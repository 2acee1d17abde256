"""Logins, API keys and roles for the console, chat, API and Slack."""

from oasis.auth.deps import AuthContext, current_principal, require
from oasis.auth.roles import LOCAL_ADMIN, Principal, Role, parse_role
from oasis.auth.sessions import COOKIE_NAME, SessionSigner
from oasis.auth.settings import AuthSettings
from oasis.auth.users import ApiKey, AuthError, User, UserStore

__all__ = ["COOKIE_NAME", "LOCAL_ADMIN", "ApiKey", "AuthContext", "AuthError", "AuthSettings",
           "Principal", "Role", "SessionSigner", "User", "UserStore", "current_principal",
           "parse_role", "require"]
