"""`oasis db upgrade|status`: the state database's schema (Alembic revisions, oasis.schema).

On PostgreSQL, run `oasis db upgrade` once per release before starting the replicas of that
release (docs/production.md); the embedded SQLite database upgrades itself on start.
"""

from __future__ import annotations

import sqlalchemy as sa
import typer

from oasis import schema
from oasis.cli.app import app, console, fail, settings_from
from oasis.leases import LeaseStore
from oasis.state import state_engine

db_app = typer.Typer(
    help="The state database's schema: upgrade it, or show where it is.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


def _engine(ctx: typer.Context) -> sa.Engine:
    settings = settings_from(ctx)
    if settings.state_url is None:  # the default SQLite file lives in the data dir
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return state_engine(settings.incident_db_url)


@db_app.command()
def upgrade(ctx: typer.Context) -> None:
    """Migrate the state database to this OASIS's schema revision (safe to repeat)."""
    engine = _engine(ctx)
    try:
        before, after = schema.upgrade(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise fail(f"the state database failed: {getattr(exc, 'orig', None) or exc}") from None
    finally:
        engine.dispose()
    if before == after:
        console.print(f"schema already at revision {after}")
    else:
        console.print(f"schema upgraded from {before or 'none'} to revision {after}")


@db_app.command()
def status(ctx: typer.Context) -> None:
    """The database's schema revision, this code's, and who holds each loop's lease."""
    engine = _engine(ctx)
    try:
        found, wanted = schema.current(engine), schema.head()
        console.print(f"database revision: {found or 'none'}; this OASIS expects: {wanted}")
        if found == wanted:
            for name, lease in sorted(LeaseStore(engine, create=False).holders().items()):
                console.print(
                    f"lease {name}: {lease['holder']} (token {lease['token']}, "
                    f"until {lease['expires_at']:%Y-%m-%dT%H:%M:%SZ})"
                )
    except sa.exc.SQLAlchemyError as exc:
        raise fail(f"the state database failed: {getattr(exc, 'orig', None) or exc}") from None
    finally:
        engine.dispose()
    if found != wanted:
        raise typer.Exit(1)
