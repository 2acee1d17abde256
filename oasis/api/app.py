"""The FastAPI application: `create_app(settings)` wires the store into the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles

import oasis
from oasis import web
from oasis.agents.consultant import ModelAnswerer
from oasis.api.errors import install_error_handlers
from oasis.api.routes import (
    actions,
    consult,
    events,
    health,
    incidents,
    links,
    services,
    signals,
)
from oasis.auth import AuthContext
from oasis.auth.deps import current_principal
from oasis.config import Settings, load_settings
from oasis.incidents import IncidentStore
from oasis.knowledge import KnowledgeBase
from oasis.monitor import Monitor
from oasis.monitor.monitor import signals_now
from oasis.runtime.response import build_response
from oasis.runtime.triage import TriageNotConfigured, build_triage
from oasis.store import SignalStore, open_signal_store
from oasis.web import chat

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, store: SignalStore | None = None,
               monitor: bool = True) -> FastAPI:
    """The OASIS HTTP service; it opens (and later closes) its own stores unless given one.

    With `monitor`, detection runs every `detect.check_interval_seconds` in the background.
    """
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.settings = settings
        app.state.store = store if store is not None else open_signal_store(settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app.state.incidents = IncidentStore(settings.incident_db_url)
        app.state.auth = AuthContext.open(settings.auth, app.state.incidents.engine)
        kit = build_response(settings, app.state.incidents, app.state.store, graph=lambda: (
            app.state.monitor.graph if hasattr(app.state, "monitor") else None))
        app.state.response = kit
        app.state.responder, app.state.actions = kit.responder, kit.actions
        app.state.signer, app.state.ledger = kit.signer, kit.ledger
        app.state.executors, app.state.outbox = kit.executors, kit.outbox
        app.state.triage = None
        app.state.knowledge = KnowledgeBase.open(
            settings.data_dir, settings.knowledge,
            answerer=ModelAnswerer(settings.model) if settings.model.provider != "none"
            else None)
        try:
            app.state.triage = build_triage(settings, app.state.incidents, kit.audit,
                                            kit.outbox, with_queue=True,
                                            knowledge=app.state.knowledge)
        except TriageNotConfigured as exc:
            app.state.triage_problem = str(exc)
        tasks = [asyncio.create_task(_retention_loop(app))]
        if monitor:
            app.state.monitor = Monitor(app.state.store, app.state.incidents, settings.detect)
            tasks.append(asyncio.create_task(_monitor_loop(app)))
            tasks.append(asyncio.create_task(_respond_loop(app)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if app.state.triage is not None:
                app.state.triage.close()
            kit.close()
            app.state.incidents.close()
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="OASIS",
        version=oasis.__version__,
        summary="Self-hosted AI operations agent: signals in, incidents out, humans approve.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Every API route needs credentials when auth is on (roles on top where a route
    # decides); health and approval links (their own credential) are the public ones.
    signed_in = [Depends(current_principal)]
    app.include_router(health.router)
    app.include_router(signals.router, dependencies=signed_in)
    app.include_router(services.router, dependencies=signed_in)
    app.include_router(incidents.router, dependencies=signed_in)
    app.include_router(actions.router, dependencies=signed_in)
    app.include_router(links.router)
    app.include_router(events.router, dependencies=signed_in)
    app.include_router(consult.router, dependencies=signed_in)
    app.include_router(web.router)
    app.include_router(chat.router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    if settings.slack.signing_secret is not None:
        from oasis.api.slack_handlers import ServiceSlackHandlers
        from oasis.slack.app import create_slack_router

        app.include_router(create_slack_router(ServiceSlackHandlers(app), settings.slack))
    return app


async def _monitor_loop(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    monitor: Monitor = app.state.monitor
    holder = f"{socket.gethostname()}:{os.getpid()}:{id(app)}"
    ttl = max(30.0, 3 * settings.detect.check_interval_seconds)
    while True:
        try:
            if not await run_in_threadpool(app.state.incidents.acquire_lease, "monitor",
                                           holder, ttl):
                await asyncio.sleep(settings.detect.check_interval_seconds)
                continue  # another process runs detection on this database
            # Detection runs on the signals' own clock: a minute is checked once data from
            # a later minute has arrived (plus a short settle for stragglers). Backfilled
            # history therefore flows through in order, and a simulator running at N x real
            # time is followed. Records older than the last checked minute are stored but
            # not re-checked.
            now = await run_in_threadpool(signals_now, app.state.store)
            if now is None:
                await asyncio.sleep(settings.detect.check_interval_seconds)
                continue
            changed = await run_in_threadpool(monitor.check, now)
            for incident in changed:
                log.info("incident %s %s: %s", incident.id, incident.status, incident.title)
        except Exception:  # one failed check must not stop the next
            log.exception("detection check failed")
        await asyncio.sleep(settings.detect.check_interval_seconds)


async def _respond_loop(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    holder = f"{socket.gethostname()}:{os.getpid()}:{id(app)}:respond"
    ttl = max(15.0, 5 * settings.respond.interval_seconds)
    while True:
        try:
            # One responder per shared database proposes and verifies; actions and
            # deliveries are claimed row by row, so even two would not double-run them.
            if await run_in_threadpool(app.state.incidents.acquire_lease, "responder",
                                       holder, ttl):
                now = await run_in_threadpool(app.state.responder.clock)
                await run_in_threadpool(app.state.responder.tick, now)
        except Exception:  # one failed pass must not stop the next
            log.exception("response pass failed")
        await asyncio.sleep(settings.respond.interval_seconds)


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
