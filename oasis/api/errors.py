"""One translation of OASIS's errors into HTTP: an `OasisError` (`oasis.signals.errors`)
that a route does not handle itself is answered `{"detail": message}` with its `status`,
the same shape as FastAPI's own `HTTPException` answers; a `TooManyRequests` that knows
when to come back adds `Retry-After`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from oasis.signals.errors import OasisError, TooManyRequests


async def _answer(conn: HTTPConnection, exc: Exception) -> JSONResponse:
    if conn.scope["type"] != "http":  # a WebSocket has no JSON answer: fail as before
        raise exc
    assert isinstance(exc, OasisError)
    headers = {}
    if isinstance(exc, TooManyRequests) and exc.retry_after_seconds is not None:
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every unhandled `OasisError` with its status and message."""
    app.add_exception_handler(OasisError, _answer)


__all__ = ["install_error_handlers"]
