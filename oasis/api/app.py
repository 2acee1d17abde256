"""The FastAPI application: `create_app(settings)` wires the store into the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

import oasis
from oasis.api.routes import health, services, signals
from oasis.config import Settings, load_settings
from oasis.store import SignalStore, open_signal_store

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, store: SignalStore | None = None) -> FastAPI:
    """The OASIS HTTP service; it opens (and later closes) its own store unless given one."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.settings = settings
        app.state.store = store if store is not None else open_signal_store(settings)
        retention = asyncio.create_task(_retention_loop(app))
        try:
            yield
        finally:
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="OASIS",
        version=oasis.__version__,
        summary="Self-hosted AI operations agent: signals in, incidents out, humans approve.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(signals.router)
    app.include_router(services.router)
    return app


async def _retention_loop(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    while True:
        try:
            result = await run_in_threadpool(app.state.store.apply_retention, datetime.now(UTC))
            if result.logs or result.metrics or result.deployments:
                log.info("retention removed %s", result)
        except Exception:  # a failed pass must not stop later ones
            log.exception("retention pass failed")
        await asyncio.sleep(settings.server.retention_interval_seconds)
