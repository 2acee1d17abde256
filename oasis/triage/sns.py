"""Amazon SNS posting to OASIS: confirm the subscription, verify every message first.

Anyone can post a body that looks like SNS, so nothing in one is trusted before its
signature checks out: the string SNS signs (the message's fields in its documented order)
is verified with the public key of the certificate at `SigningCertURL`, RSA PKCS#1 v1.5
with SHA1 (`SignatureVersion` 1) or SHA256 (2). The certificate is fetched only over
HTTPS from an SNS host (`triage.sns.hosts`), so a forger cannot point at their own.
A `SubscriptionConfirmation` is answered by fetching its `SubscribeURL`, again only on an
SNS host. Unsigned, forged or foreign-certificate messages are 403.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx

from oasis.signals.errors import Forbidden, Unavailable
from oasis.signals.retry import Backoff, retryable_status, with_retries
from oasis.triage.settings import SnsSettings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

MessageType = Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
MESSAGE_TYPES: tuple[str, ...] = (
    "Notification",
    "SubscriptionConfirmation",
    "UnsubscribeConfirmation",
)
#: The fields SNS signs, in the order it signs them (Subject only when present).
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]
_CACHE_LIMIT = 32


class SnsRejected(Forbidden):
    """An SNS-shaped message that cannot be trusted; the message says why."""


class SnsUnavailable(Unavailable):
    """The signing certificate or the subscribe URL could not be reached (SNS retries)."""


def looks_like_sns(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("Type") in MESSAGE_TYPES
        and ("Message" in body or "SubscribeURL" in body)
    )


def string_to_sign(message: dict[str, Any]) -> bytes:
    kind = message.get("Type")
    if kind not in _SIGNED:
        raise SnsRejected(f"Type {kind!r} is not an SNS message type")
    parts = []
    for name in _SIGNED[kind]:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise SnsRejected(f"{name}: required in a signed SNS {kind}")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


@dataclass(frozen=True)
class SnsOutcome:
    """What to answer: a verified notification goes on to triage; a confirmation is done."""

    kind: MessageType
    topic: str
    confirmed: bool = False


def http_get(url: str) -> bytes:
    """GET with the one retry policy; a refusal or an outage is SnsUnavailable."""
    tried = with_retries(
        lambda: httpx.get(url, timeout=10, follow_redirects=False),
        attempts=3,
        backoff=Backoff(0.5, 5),
        retry_on=(httpx.TransportError,),
        retry_if=lambda r: retryable_status(r.status_code),
    )
    if not tried.ok or tried.result is None or tried.result.status_code != 200:
        why = (
            tried.problem(lambda r: f"HTTP {r.status_code}")
            if not tried.ok or tried.result is None
            else f"HTTP {tried.result.status_code}"
        )
        raise SnsUnavailable(f"could not fetch {url}: {why}")
    return tried.result.content


class SnsGate:
    """Verifies SNS messages and answers subscription confirmations."""

    def __init__(self, settings: SnsSettings, fetch: Callable[[str], bytes] = http_get) -> None:
        self.settings = settings
        self.fetch = fetch
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def admit(self, message: dict[str, Any]) -> SnsOutcome:
        """Verify `message` (SnsRejected if it cannot be trusted) and act on a confirmation."""
        kind = message["Type"]
        if self.settings.verify_signatures:
            self.verify(message)
        topic = str(message.get("TopicArn") or "")
        if kind == "SubscriptionConfirmation" and self.settings.confirm_subscriptions:
            url = self._allowed(message.get("SubscribeURL"), "SubscribeURL")
            self.fetch(url)
            return SnsOutcome(kind, topic, confirmed=True)
        return SnsOutcome(kind, topic)

    def verify(self, message: dict[str, Any]) -> None:
        version = message.get("SignatureVersion")
        if version not in ("1", "2"):
            raise SnsRejected(
                'SignatureVersion must be "1" or "2" (an unsigned message is not trusted)'
            )
        signature_text = message.get("Signature")
        if not isinstance(signature_text, str) or not signature_text:
            raise SnsRejected("Signature: missing; an unsigned SNS message is not trusted")
        try:
            signature = base64.b64decode(signature_text, validate=True)
        except (binascii.Error, ValueError):
            raise SnsRejected("Signature: not base64") from None
        key = self._key(self._allowed(message.get("SigningCertURL"), "SigningCertURL"))
        # Imported here: ~8 MB of every server's memory for a route few deployments use.
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        try:
            key.verify(signature, string_to_sign(message), padding.PKCS1v15(), digest)
        except InvalidSignature:
            raise SnsRejected("Signature: does not match the message (forged or altered)") from None

    def _allowed(self, url: Any, field: str) -> str:
        if not isinstance(url, str) or not url:
            raise SnsRejected(f"{field}: missing")
        parts = urlsplit(url)
        schemes = ("https",) if self.settings.require_https else ("https", "http")
        host = (parts.hostname or "").lower()
        if parts.scheme not in schemes or not any(
            fnmatchcase(host, p.lower()) for p in self.settings.hosts
        ):
            raise SnsRejected(
                f"{field}: {url!r} is not on an SNS host "
                f"({', '.join(self.settings.hosts)}; https only)"
                if self.settings.require_https
                else f"{field}: {url!r} is not on an allowed host"
            )
        return url

    def _key(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            cached = self._keys.get(url)
        if cached is not None:
            return cached
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import rsa

        try:
            certificate = x509.load_pem_x509_certificate(self.fetch(url))
        except ValueError:
            raise SnsRejected(f"SigningCertURL: {url} is not a PEM certificate") from None
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsRejected("SigningCertURL: the certificate's key is not RSA")
        with self._lock:
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.pop(next(iter(self._keys)))
            self._keys[url] = key
        return key
