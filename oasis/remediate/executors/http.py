"""HTTP calls with retries, for executors whose target is an HTTP API.

Retrying a POST is safe only because every request carries the action id, which the far
end uses to answer a repeat instead of acting twice. Connection errors, timeouts and 5xx
are retried with exponential backoff; a 4xx is the far end's considered answer and is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from oasis.remediate.executors.base import ExecutorError
from oasis.signals.retry import Backoff, with_retries


@dataclass(frozen=True, slots=True)
class Reply:
    """The last response (if any) after retrying, or why there was none worth having."""

    response: httpx.Response | None
    error: str | None
    attempts: int


def check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExecutorError(f"executor {name!r}: {url!r} is not an http(s) URL")
    return url.rstrip("/")


def send(client: httpx.Client, method: str, url: str, *, attempts: int,
         backoff_seconds: float, sleep: Callable[[float], None] = time.sleep,
         **kwargs: Any) -> Reply:
    """`method url`, retried on connection errors, timeouts and 5xx answers
    (`oasis.signals.retry`); `sleep` waits out the backoff between tries."""
    tried = with_retries(lambda: client.request(method, url, **kwargs), attempts=attempts,
                         backoff=Backoff(backoff_seconds), retry_on=(httpx.TransportError,),
                         retry_if=lambda response: response.status_code >= 500, sleep=sleep)
    error = None if tried.ok else tried.problem(
        lambda response: f"HTTP {response.status_code}: {detail_of(response)}")
    return Reply(tried.result, error, tried.attempts)


def detail_of(response: httpx.Response, limit: int = 500) -> str:
    """What the server said: its JSON `detail`/`message`, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if isinstance(body.get(key), str):
                return body[key][:limit]
    text = response.text.strip()
    return (text[:limit] + "...") if len(text) > limit else (text or response.reason_phrase)


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or its text under `text` when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {"text": response.text[:10_000]} if response.text else {}
    return body if isinstance(body, dict) else {"body": body}
