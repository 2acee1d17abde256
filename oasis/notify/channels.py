"""Channels hand one notification to one system: an SMTP relay or a webhook.

A channel only sends; retrying is the outbox's job. So every failure is a DeliveryError
that says whether trying again could help: a full mailbox (4xx) or a relay that is down
can recover, a refused login or an address the relay rejects (5xx) cannot.
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Protocol

import httpx

from oasis.notify.message import Notification
from oasis.notify.settings import NotifySettings, SmtpSettings, WebhookChannelSettings
from oasis.signals.errors import Unavailable
from oasis.signals.retry import retryable_status
from oasis.signals.signing import SIGNATURE_HEADER, sign_body

USER_AGENT = "oasis-notify/1"


class DeliveryError(Unavailable):
    """A send failed; `retryable` says whether the same send may succeed later."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class Channel(Protocol):
    name: str

    def send(self, n: Notification) -> None:
        """Deliver `n` or raise DeliveryError."""


class EmailChannel:
    """Multipart (text + HTML) mail through any SMTP relay, Amazon SES's included."""

    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def message(self, n: Notification) -> EmailMessage:
        """The MIME message for `n`; the same notification always gets the same Message-ID,
        so a relay or reader can drop a retried duplicate."""
        if not n.recipients:
            raise DeliveryError("no recipients for email (set notify.recipients)", retryable=False)
        msg = EmailMessage()
        try:
            msg["From"] = self.settings.from_addr
            msg["To"] = ", ".join(n.recipients)
            msg["Subject"] = n.subject
            msg["Date"] = format_datetime(n.created_at)
            msg["Message-ID"] = f"<{n.id}@{self._domain()}>"
            msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
            msg["X-OASIS-Kind"] = n.kind
            if n.incident_id:
                msg["X-OASIS-Incident"] = n.incident_id
            if n.thread:
                # Every message about one incident (or ticket) answers the same root id, so
                # mail clients show them as one conversation, whichever arrives first.
                root = f"<{_id_part(n.thread)}@{self._domain()}>"
                msg["In-Reply-To"] = root
                msg["References"] = root
        except ValueError as exc:  # a line break or malformed address in a header
            raise DeliveryError(f"cannot build the email: {exc}", retryable=False) from None
        msg.set_content(n.text)
        msg.add_alternative(n.html, subtype="html")
        return msg

    def send(self, n: Notification) -> None:
        msg = self.message(n)
        envelope_from = getaddresses([self.settings.from_addr])[0][1]
        envelope_to = [addr for _, addr in getaddresses(n.recipients)]
        try:
            with self._connect() as smtp:
                if self.settings.username is not None and self.settings.password is not None:
                    smtp.login(self.settings.username, self.settings.password.get_secret_value())
                refused = smtp.send_message(msg, from_addr=envelope_from, to_addrs=envelope_to)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients, delivered=False) from None
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(
                f"SMTP server does not support what the settings ask for: "
                f"{exc} (check smtp.security and smtp.username)",
                retryable=False,
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"TLS certificate of {self._where()} not trusted: "
                f"{exc.verify_message}; set smtp.ca_file",
                retryable=False,
            ) from None
        except ssl.SSLError as exc:
            raise DeliveryError(
                f"TLS with {self._where()} failed: {exc.reason or exc}; "
                "does smtp.security match the port (starttls: 587, ssl: 465)?",
                retryable=False,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, dropped
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise DeliveryError(
                f"cannot reach SMTP server {self._where()}: {reason}", retryable=True
            ) from None
        if refused:
            raise _refused(refused, delivered=True)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=self._tls())
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            if s.security == "starttls":
                smtp.ehlo()
                smtp.starttls(context=self._tls())
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            cafile=str(self.settings.ca_file) if self.settings.ca_file else None
        )
        if not self.settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _domain(self) -> str:
        address = getaddresses([self.settings.from_addr])[0][1]
        try:
            return Address(addr_spec=address).domain or "oasis.localhost"
        except (ValueError, IndexError):
            return "oasis.localhost"

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"


def _id_part(value: str) -> str:
    """`value` as the left part of a Message-ID (RFC 5322 dot-atom text)."""
    return re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]", "-", value).strip(".") or "oasis"


def _smtp_error(exc: smtplib.SMTPResponseException) -> DeliveryError:
    text = (
        exc.smtp_error.decode(errors="replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    what = "login refused" if isinstance(exc, smtplib.SMTPAuthenticationError) else "refused"
    # 4xx: try again later (greylisting, quota, busy); 5xx: this will never work as is.
    return DeliveryError(
        f"SMTP server {what}: {exc.smtp_code} {text}", retryable=400 <= exc.smtp_code < 500
    )


def _refused(recipients: dict[str, tuple[int, bytes]], delivered: bool) -> DeliveryError:
    detail = "; ".join(
        f"{addr}: {code} {msg.decode(errors='replace')}" for addr, (code, msg) in recipients.items()
    )
    lead = (
        "delivered to the other recipients but refused for"
        if delivered
        else "all recipients refused:"
    )
    # A retry would resend to everyone who already has it, so partial refusals are final.
    retryable = not delivered and all(400 <= code < 500 for code, _ in recipients.values())
    return DeliveryError(f"{lead} {detail}", retryable=retryable)


class WebhookChannel:
    """POSTs the notification's JSON payload; receivers de-duplicate on Idempotency-Key."""

    def __init__(self, settings: WebhookChannelSettings) -> None:
        self.settings = settings
        self.name = settings.name

    def send(self, n: Notification) -> None:
        s = self.settings
        body = json.dumps(n.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            **s.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": n.id,
            "X-OASIS-Kind": n.kind,
        }
        if s.secret is not None:
            headers[SIGNATURE_HEADER] = sign_body(s.secret.get_secret_value(), body)
        try:
            response = httpx.post(
                s.url,
                content=body,
                headers=headers,
                timeout=s.timeout_seconds,
                follow_redirects=False,
            )
        except httpx.TimeoutException:
            raise DeliveryError(
                f"webhook {self.name}: no answer within {s.timeout_seconds:g} s", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"webhook {self.name}: cannot reach {_origin(s.url)}: {exc}", retryable=True
            ) from None
        if 200 <= response.status_code < 300:
            return
        excerpt = " ".join(response.text[:200].split())
        message = f"webhook {self.name} answered {response.status_code}" + (
            f": {excerpt}" if excerpt else ""
        )
        status = response.status_code
        retryable = retryable_status(status)
        if 300 <= status < 400:
            message += f" (redirect to {response.headers.get('location')}; set the final URL)"
        raise DeliveryError(message, retryable=retryable)


def _origin(url: str) -> str:
    # The path may carry a token (chat webhooks do); errors show only scheme and host.
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def channels_from(settings: NotifySettings) -> dict[str, Channel]:
    """Every configured channel by name: `email` (when enabled) and each webhook."""
    channels: dict[str, Channel] = {}
    if settings.email_enabled:
        channels["email"] = EmailChannel(settings.smtp)
    for webhook in settings.webhooks:
        channels[webhook.name] = WebhookChannel(webhook)
    return channels
