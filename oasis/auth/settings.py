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
