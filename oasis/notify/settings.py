"""Notification settings: who hears about incidents, over which channels, how hard we retry.

Set them under `notify:` in the YAML file or as `OASIS_NOTIFY__...` variables, e.g. the SMTP
password as `OASIS_NOTIFY__SMTP__PASSWORD` so it never sits in a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# An address a person can read and a relay will accept: "Name <a@b>" or "a@b". Deliberately
# loose (real validation is the relay's job) but it refuses line breaks and commas, which
# would let one setting smuggle extra headers or recipients into every message.
_ADDRESS = re.compile(r"^(?:[^<>\r\n,]*<)?[^@\s<>,]+@[^@\s<>,]+>?$")
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.match(value) or value.count("<") != value.count(">"):
        raise ValueError(f"{value!r} is not an email address like ops@example.com "
                         "or 'Ops <ops@example.com>'")
    return value


class SmtpSettings(_Section):
    """The relay OASIS hands mail to: a local catcher, a company relay or Amazon SES."""

    host: str = Field("127.0.0.1", min_length=1, description="SMTP server host name.")
    port: int = Field(1025, ge=1, le=65535, description=(
        "SMTP port: 1025 for `oasis mail catch`, 587 for STARTTLS, 465 for implicit TLS."))
    security: Literal["none", "starttls", "ssl"] = Field("none", description=(
        "none: plain SMTP (local catcher only); starttls: upgrade after connecting (port "
        "587, Amazon SES); ssl: TLS from the first byte (port 465)."))
    username: str | None = Field(None, description="SMTP user; login happens only when set.")
    password: SecretStr | None = Field(None, description=(
        "SMTP password; prefer the OASIS_NOTIFY__SMTP__PASSWORD variable. Never printed."))
    from_addr: str = Field("OASIS <oasis@localhost>", description=(
        "Sender address; with Amazon SES it must be a verified identity."))
    timeout_seconds: float = Field(10.0, gt=0, description="Connect and per-command timeout.")
    verify_tls: bool = Field(True, description=(
        "Check the server's certificate and host name. Turn off only for a test relay."))
    ca_file: Path | None = Field(None, description=(
        "PEM file of extra trusted certificates, e.g. a company CA or a test relay's cert."))

    @field_validator("from_addr")
    @classmethod
    def _from(cls, value: str) -> str:
        return check_address(value)

    @model_validator(mode="after")
    def _login_needs_both(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both smtp.username and smtp.password, or neither")
        if self.username is not None and self.security == "none":
            raise ValueError("smtp.username is set but smtp.security is 'none': the password "
                             "would cross the network in clear; use starttls or ssl")
        return self


class WebhookChannelSettings(_Section):
    """A URL that receives every notification as JSON (chat bridge, pager, ticketing)."""

    name: str = Field(description="Channel name, shown on deliveries; letters, digits, _.-")
    url: str = Field(description="http(s) URL the JSON payload is POSTed to.")
    headers: dict[str, str] = Field(default_factory=dict, description=(
        "Extra request headers, e.g. an Authorization token (set it from a variable)."))
    secret: SecretStr | None = Field(None, description=(
        "When set, the body's HMAC-SHA256 goes in `X-OASIS-Signature: sha256=<hex>`."))
    timeout_seconds: float = Field(10.0, gt=0, description="Request timeout.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CHANNEL_NAME.match(value):
            raise ValueError(f"webhook name {value!r} must be 1-64 letters, digits, '_', '.' "
                             "or '-'")
        if value == "email":
            raise ValueError("'email' is the SMTP channel's name; pick another webhook name")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"webhook url {value!r} must start with http:// or https://")
        return value


class RetrySettings(_Section):
    """Failed deliveries wait base * 2^(attempt-1) seconds, capped, plus up to 10 % jitter."""

    base_seconds: float = Field(30.0, gt=0, description="Wait after the first failure.")
    max_seconds: float = Field(3600.0, gt=0, description="Longest wait between attempts.")
    max_attempts: int = Field(8, ge=1, description=(
        "Attempts before a delivery is marked failed (8 with the defaults: about an hour of "
        "trying)."))


class NotifySettings(_Section):
    """Who is told about incidents and how."""

    email_enabled: bool = Field(True, description="Send email through `smtp`.")
    recipients: list[str] = Field(default_factory=lambda: ["oncall@localhost"], description=(
        "Stakeholders who receive every incident email."))
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    webhooks: list[WebhookChannelSettings] = Field(default_factory=list, description=(
        "Webhook channels; each receives every notification."))
    retry: RetrySettings = Field(default_factory=RetrySettings)
    dispatch_interval_seconds: float | None = Field(None, gt=0, description=(
        "How often the service sends queued notifications (incident mail, ticket mail, "
        "Slack messages); unset: every `respond.interval_seconds`."))
    send_claim_seconds: float = Field(300.0, gt=0, description=(
        "How long a delivery being sent stays claimed by its sender. If OASIS dies "
        "mid-send, the delivery is sent again this long after it was claimed (with the "
        "same Message-ID / Idempotency-Key); keep it above the channel timeouts."))

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [check_address(v) for v in value]

    @model_validator(mode="after")
    def _unique_channels(self) -> NotifySettings:
        names = [w.name for w in self.webhooks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"webhook names must be unique; repeated: {', '.join(duplicates)}")
        if self.email_enabled and not self.recipients:
            raise ValueError("email_enabled with no recipients: add notify.recipients or set "
                             "email_enabled: false")
        return self
