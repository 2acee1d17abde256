"""What every response carries and what the logs must never carry.

`SecurityHeaders` (ASGI middleware) puts on every HTTP answer: `nosniff`, no `Referer`
(an approval link's token is in its URL), no framing, and a Content-Security-Policy that
allows scripts only from the server's own files: no inline script, no `eval`, so markup
that slipped through escaping still cannot run. The API description pages (`/docs`,
`/redoc`) are FastAPI's, with their own inline script, and get the policy without the
script rule.

`redact_secrets` (a logging filter, set on the access log and httpx's request log by
`install_log_redaction`) writes `/approve/<redacted>` for an approval link and
`oasis_<id>_<redacted>` for an API key, wherever they appear in a log line.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")

_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        docs = any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)
        policy = (DOCS_POLICY if docs else CONSOLE_POLICY).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _COMMON if n not in have]
                if b"content-security-policy" not in have:
                    extra.append((b"content-security-policy", policy))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_APPROVAL_PATH = re.compile(r"/approve/[^\s/?#\"']+")
_API_KEY = re.compile(r"\b(oasis_[0-9a-f]{12}_)[A-Za-z0-9_-]{20,100}")


def redact(text: str) -> str:
    """`text` with approval tokens and API key secrets replaced by `<redacted>`."""
    return _API_KEY.sub(r"\1<redacted>", _APPROVAL_PATH.sub("/approve/<redacted>", text))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value  # the access log formats its status code with %d
    text = str(value)  # httpx logs an httpx.URL, not a str
    return redact(text) if redact(text) != text else value


def redact_secrets(record: logging.LogRecord) -> bool:
    """Logging filter: rewrite the record's message and string arguments in place (the
    access log's formatter reads its arguments one by one, so they stay a tuple)."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redacted(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _redacted(v) for k, v in record.args.items()}
    return True


# The loggers that write request URLs: uvicorn's access log, and httpx's "HTTP Request:"
# line (the demo and the CLI open approval links with httpx).
URL_LOGGERS = ("uvicorn.access", "httpx")


def install_log_redaction() -> None:
    """Put `redact_secrets` on the URL-writing loggers (once; calling again is harmless)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if redact_secrets not in logger.filters:
            logger.addFilter(redact_secrets)


__all__ = ["CONSOLE_POLICY", "SecurityHeaders", "install_log_redaction", "redact", "redact_secrets"]
