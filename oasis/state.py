"""The state database's engine, its time convention and its generated secrets, shared by
every table owner (incidents, actions, notifications, audit, approval links, sessions).

SQLite by default, PostgreSQL in production. Times are stored naive in UTC: SQLite has no
zones and PostgreSQL's would shift on display; they come back aware.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def state_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url` that several threads (and, on PostgreSQL, processes) share."""
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block writers
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@overload
def to_db(ts: datetime) -> datetime: ...
@overload
def to_db(ts: None) -> None: ...
def to_db(ts: datetime | None) -> datetime | None:
    """UTC, naive, for storing."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts is not None else None


@overload
def from_db(ts: datetime) -> datetime: ...
@overload
def from_db(ts: None) -> None: ...
def from_db(ts: datetime | None) -> datetime | None:
    """Aware UTC, as read back."""
    return ts.replace(tzinfo=UTC) if ts is not None else None


_metadata = sa.MetaData()
# One row per purpose ("approval_links", "session_cookies", "console_csrf").
secrets_table = sa.Table(
    "oasis_secrets", _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)


def stored_secret(engine: Engine, name: str) -> bytes:
    """The generated key called `name`, created once per state database: every process
    sharing the database gets the same one."""
    _metadata.create_all(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(secrets_table.c.value)
                           .where(secrets_table.c.name == name)).first()
    if row is not None:
        return row[0].encode()
    try:
        with engine.begin() as conn:
            conn.execute(secrets_table.insert().values(name=name,
                                                       value=secrets.token_urlsafe(32)))
    except sa.exc.IntegrityError:  # another process made it first; use theirs
        pass
    return stored_secret(engine, name)
