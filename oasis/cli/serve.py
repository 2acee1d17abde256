"""`oasis serve`: the HTTP API on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from oasis.api import create_app
from oasis.cli.app import app, console, fail, settings_from
from oasis.runtime.memory import freeze_startup_objects
from oasis.runtime.services import check_schema
from oasis.store import StoreLockedError, open_signal_store


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address [default: server.host]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [default: server.port]")] = None,
) -> None:
    """Run the OASIS service (API, OpenAPI at /openapi.json, docs at /docs)."""
    settings = settings_from(ctx)
    if settings.state_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    check_schema(settings.incident_db_url)  # a SchemaMismatch exits 2 with what to do
    try:
        store = open_signal_store(settings)
    except StoreLockedError as exc:
        raise fail(str(exc)) from None
    host = host or settings.server.host
    port = port or settings.server.port
    # The address decides whether session cookies must be Secure (auth.cookie_secure).
    settings = settings.model_copy(update={"server": settings.server.model_copy(
        update={"host": host, "port": port})})
    console.print(f"OASIS on http://{host}:{port}  (data dir {settings.data_dir})")
    service = create_app(settings, store=store)
    freeze_startup_objects()  # one server per process: what is loaded now lives until exit
    try:
        uvicorn.run(service, host=host, port=port, log_level="info")
    finally:
        store.close()
