"""Who may use OASIS: the login settings.

Set them under `auth:` in the YAML file or as `OASIS_AUTH__...` variables. Off by default so
a laptop install works at once; production must turn it on.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class AuthSettings(BaseModel):
    """Logins for the console, chat, API and Slack."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description=(
        "Require a login or an API key. Off means local single-user mode: every request "
        "acts as an admin named 'local', so anyone who can reach the port can approve "
        "actions. Production must turn it on."))
    session_hours: float = Field(12, gt=0, le=24 * 31, description=(
        "How long a console login lasts before the user must log in again."))
    secret: SecretStr | None = Field(None, description=(
        "Key that signs session cookies (at least 16 characters). Unset: one is generated "
        "and kept in the state database, so every OASIS process sharing it accepts the "
        "same cookies. Changing it logs everyone out."))
    cookie_secure: bool | None = Field(None, description=(
        "Mark the session cookie Secure (sent over HTTPS only). Unset: on, unless "
        "server.host is a loopback address (127.0.0.1, ::1, localhost), where a laptop "
        "install serves plain HTTP. Turn it off only behind nothing but plain HTTP."))
    login_free_failures: int = Field(5, ge=1, le=100, description=(
        "Wrong passwords allowed per user and per address before each further login "
        "must wait (1 s, then twice as long each time)."))
    login_max_delay_seconds: float = Field(900, gt=0, le=86_400, description=(
        "The longest wait after repeated wrong passwords."))
