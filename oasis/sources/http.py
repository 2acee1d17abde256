"""One HTTP client per source: its auth, TLS and timeout, retries with backoff, and one
error (`SourceUnavailable`) for everything that is not a usable answer."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from oasis.signals.retry import Backoff, retryable_status, with_retries
from oasis.sources.base import SourceUnavailable
from oasis.sources.settings import SourceAuth, SourceTLS

log = logging.getLogger(__name__)

BACKOFF = Backoff(0.5, max_seconds=8.0)


class SourceClient:
    """GET/POST JSON against one source; a failed query is retried `retries` times
    (0.5 s, 1 s, 2 s ... capped at 8 s: the shared `oasis.signals.retry` policy) before
    `SourceUnavailable`."""

    def __init__(self, name: str, url: str, *, auth: SourceAuth, tls: SourceTLS,
                 timeout_seconds: float, retries: int,
                 headers: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.retries = retries
        self.sleep = sleep
        self.queries = 0
        self.errors = 0
        self.seconds = 0.0
        self._client = httpx.Client(
            base_url=url.rstrip("/"), timeout=timeout_seconds, auth=_auth(auth),
            verify=_tls_context(tls), headers=_headers(auth, headers),
            transport=transport)

    def get(self, path: str, params: dict[str, Any]) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, json=body)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        tried = with_retries(lambda: self._send(method, path, **kwargs),
                             attempts=self.retries + 1, backoff=BACKOFF,
                             retry_on=(httpx.HTTPError,),
                             retry_if=lambda r: retryable_status(r.status_code),
                             sleep=self.sleep)
        if not tried.ok:
            self.errors += 1
            reason = tried.problem(lambda r: f"HTTP {r.status_code} from {path}")
            log.warning("source %s unavailable: %s", self.name, reason)
            raise SourceUnavailable(self.name, reason)
        response = tried.result
        if response.status_code >= 400:
            self.errors += 1
            raise SourceUnavailable(self.name, f"HTTP {response.status_code} from {path}: "
                                               f"{response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            self.errors += 1
            raise SourceUnavailable(self.name, f"{path} did not answer JSON") from None

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.queries += 1
        started = time.monotonic()
        try:
            return self._client.request(method, path, **kwargs)
        finally:
            self.seconds += time.monotonic() - started

    def close(self) -> None:
        self._client.close()


def _auth(auth: SourceAuth) -> httpx.Auth | None:
    if auth.username is not None and auth.password is not None:
        return httpx.BasicAuth(auth.username, auth.password.get_secret_value())
    return None


def _headers(auth: SourceAuth, extra: dict[str, str] | None) -> dict[str, str]:
    headers = dict(extra or {})
    if auth.token is not None:
        headers["Authorization"] = f"Bearer {auth.token.get_secret_value()}"
    return headers


def _tls_context(tls: SourceTLS) -> ssl.SSLContext | bool:
    if not tls.verify:
        return False
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context
