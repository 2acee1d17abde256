"""The FastAPI application: `create_app(settings)` serves the routes on the services
`oasis.runtime.services.open_services` opens, and runs `oasis.runtime.loops` beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

import oasis
from oasis import web
from oasis.api import access
from oasis.api.admission import IngestAdmission
from oasis.api.docs import install_docs
from oasis.api.errors import install_error_handlers
from oasis.api.routes import (
    actions,
    consult,
    events,
    health,
    incidents,
    links,
    otlp,
    pagerduty,
    ready,
    services,
    signals,
)
from oasis.api.security import SecurityHeaders, install_log_redaction
from oasis.auth.deps import current_principal
from oasis.config import Settings, load_settings
from oasis.runtime.loops import start_loops
from oasis.runtime.services import Services, open_services
from oasis.store import SignalStore
from oasis.web import chat


def create_app(settings: Settings | None = None, *, store: SignalStore | None = None,
               monitor: bool = True) -> FastAPI:
    """The OASIS HTTP service; it opens (and later closes) its own stores unless given one.

    With `monitor`, detection runs every `detect.check_interval_seconds` in the background,
    and the response loop beside it; queued notifications are sent either way.
    """
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The limiter belongs to the running event loop, so it is sized here.
        to_thread.current_default_thread_limiter().total_tokens = settings.server.threads
        opened = open_services(settings, store=store, monitor=monitor)
        publish(app, opened)
        loops = start_loops(opened)
        app.state.loops = loops  # /readyz shows which loops this replica runs
        try:
            yield
        finally:
            await loops.stop()
            opened.close()

    app = FastAPI(
        title="OASIS",
        version=oasis.__version__,
        summary="Self-hosted AI operations agent: signals in, incidents out, humans approve.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by install_docs, not from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    app.state.admission = IngestAdmission(settings.ingest.max_concurrent_requests,
                                          settings.ingest.retry_after_seconds,
                                          max_waiting=settings.ingest.max_queued_requests,
                                          wait_seconds=settings.ingest.queue_seconds)
    app.add_middleware(SecurityHeaders)
    install_log_redaction()
    install_docs(app)
    # Every API route needs credentials when auth is on (roles on top where a route
    # decides); only the routes in access.PUBLIC are open, and ingest keys may use only
    # access.PUSH (oasis.auth.deps reads the list off app.state).
    app.state.push_routes = access.PUSH
    signed_in = [Depends(current_principal)]
    app.include_router(health.router)
    app.include_router(ready.router)
    app.include_router(health.metrics_router, dependencies=signed_in)
    app.include_router(signals.router, dependencies=signed_in)
    app.include_router(otlp.router, dependencies=signed_in)
    app.include_router(services.router, dependencies=signed_in)
    app.include_router(incidents.router, dependencies=signed_in)
    app.include_router(actions.router, dependencies=signed_in)
    app.include_router(links.router)
    app.include_router(events.router, dependencies=signed_in)
    app.include_router(pagerduty.router, dependencies=signed_in)
    app.include_router(consult.router, dependencies=signed_in)
    app.include_router(web.router)
    app.include_router(chat.router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    if settings.slack.signing_secret is not None:
        from oasis.api.slack_handlers import ServiceSlackHandlers
        from oasis.slack.app import create_slack_router

        app.include_router(create_slack_router(ServiceSlackHandlers(app), settings.slack))
    return app


# The parts of `Services` the console's pages, some routes and the tests read straight
# off `app.state`; the same objects as `app.state.services.<name>`.
PUBLISHED = ("settings", "store", "incidents", "auth", "knowledge", "response", "responder",
             "actions", "signer", "ledger", "executors", "outbox", "triage", "otlp")


def publish(app: FastAPI, opened: Services) -> None:
    app.state.services = opened
    for name in PUBLISHED:
        setattr(app.state, name, getattr(opened, name))
    if opened.triage_problem is not None:
        app.state.triage_problem = opened.triage_problem
    if opened.monitor is not None:
        app.state.monitor = opened.monitor
