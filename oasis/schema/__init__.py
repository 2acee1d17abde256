"""The state database's schema, versioned with Alembic (revisions in `oasis/schema/versions`).

- PostgreSQL (production): `oasis db upgrade` migrates; a replica whose code expects
  another revision than the database has refuses to start (`check`, `SchemaMismatch`),
  so an old replica never writes to a newer schema nor a new one to an older schema.
- SQLite (the embedded default): `prepare` upgrades on start; there is no manual step.

A database made before migrations existed (tables created on start) is recognised by its
tables and stamped at the first revision, then upgraded from there.

Alembic is imported only when a database is not at `HEAD`: on every other start the check
is two small queries, and a server does not carry Alembic and Mako (~10 MB) for its lifetime.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from oasis.signals.errors import OasisError

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPTS = Path(__file__).parent
FIRST = "0001"
#: The newest revision: revision files are named after their revision (`0003_….py`), and a
#: test holds this equal to the head Alembic finds.
HEAD = max(p.name[:4] for p in (SCRIPTS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
# Tables of the first revision; any of them without a revision stamp means a database made
# on start by an OASIS from before migrations (or by a command such as `oasis users add`).
FIRST_TABLES = frozenset(
    {
        "actions",
        "approval_link_uses",
        "audit_head",
        "audit_records",
        "auth_api_keys",
        "auth_users",
        "chat_conversations",
        "chat_messages",
        "incident_events",
        "incidents",
        "leases",
        "notification_deliveries",
        "oasis_secrets",
        "ops_events",
        "slack_threads",
        "triage_tickets",
    }
)
LOCK_KEY = 0x0A51_5C4E  # pg_advisory_xact_lock: one upgrade at a time per database


class SchemaMismatch(OasisError):
    """The database's schema revision is not the one this OASIS was built for."""

    status = 503
    exit_code = 2


def _config(conn: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head() -> str:
    """The revision this code expects, as Alembic finds it in `versions/`."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision; None for one never migrated."""
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _at_head(engine: Engine) -> bool:
    """Whether the database is at `HEAD`, read without Alembic (two small queries)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return False
        rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return [r[0] for r in rows] == [HEAD]


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to `head()`; (revision before, revision after). Concurrent upgrades of
    one PostgreSQL database wait for each other."""
    from alembic import command
    from alembic.migration import MigrationContext

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None and FIRST_TABLES & set(sa.inspect(conn).get_table_names()):
            command.stamp(_config(conn), FIRST)  # made by an OASIS from before migrations
        command.upgrade(_config(conn), "head")
    return before, head()


def check(engine: Engine) -> None:
    """Refuse (SchemaMismatch, saying what to do) unless the database is at `head()`."""
    if _at_head(engine):
        return
    found, wanted = current(engine), head()
    if found == wanted:
        return
    where = engine.url.render_as_string(hide_password=True)
    if found is None:
        raise SchemaMismatch(
            f"the state database {where} has no OASIS schema yet (revision "
            f"{wanted} expected): run `oasis db upgrade` once, then start "
            "the replicas"
        )
    from alembic.script import ScriptDirectory

    known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
    if found not in known:
        raise SchemaMismatch(
            f"the state database {where} is at schema revision {found}, "
            f"newer than this OASIS (which expects {wanted}): upgrade OASIS "
            "on this replica before starting it"
        )
    raise SchemaMismatch(
        f"the state database {where} is at schema revision {found}, older "
        f"than this OASIS (which expects {wanted}): run `oasis db upgrade`"
    )


def prepare(engine: Engine) -> None:
    """Before any store opens: upgrade an embedded (SQLite) database in place; check a
    shared one, which only `oasis db upgrade` migrates."""
    if engine.dialect.name != "sqlite":
        check(engine)
    elif not _at_head(engine):
        upgrade(engine)


__all__ = ["HEAD", "SchemaMismatch", "check", "current", "head", "prepare", "upgrade"]
