"""Leases with fencing: which replica runs a loop (monitor, responder, dispatcher), and a
guarantee that a replica which lost its lease can no longer commit.

A lease is a row `(name, holder, token, expires_at)` in the state database. Taking it
from someone else (only once it has expired) increases `token`; renewing keeps it.
While a pass runs under `fenced(lease)`, the first write of every transaction on the
state database first reads the lease row `FOR SHARE` in that same transaction and
refuses (`LeaseLost`, the transaction rolls back) unless holder and token are still ours.
The share lock makes a takeover wait until that transaction commits, so every commit of
the old holder happened while its token was current: work of a holder that stalled past
its expiry (a long GC pause, a network partition) is refused instead of interleaved with
its successor's.

The check is one SQLAlchemy event on every engine (`before_cursor_execute`), so the
stores (incidents, actions, outbox, audit) are fenced without knowing about it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from oasis.signals.errors import Conflict
from oasis.state import from_db, to_db

metadata = sa.MetaData()
lease_table = sa.Table(
    "oasis_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    # How far the holder's work has got (the monitor: the last minute it checked), so a
    # successor resumes there instead of skipping or repeating minutes.
    sa.Column("progress", sa.DateTime),
)

Clock = Callable[[], datetime]


class LeaseLost(Conflict, RuntimeError):
    """This replica no longer holds the lease it worked under; its write was refused."""


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    token: int
    expires_at: datetime
    url: str  # the state database it fences


class LeaseStore:
    """Take, renew and release leases in the state database on `engine`."""

    def __init__(
        self, engine: Engine, *, clock: Clock = lambda: datetime.now(UTC), create: bool = True
    ) -> None:
        self.engine, self.clock = engine, clock
        if create:
            metadata.create_all(engine)

    def acquire(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        """The lease `name` for `ttl_seconds` from now if it is free, expired or ours
        (renewed, same token); None while another holder's is current."""
        now = self.clock()
        expires = now + timedelta(seconds=ttl_seconds)
        t = lease_table.c
        with self.engine.begin() as conn:
            row = conn.execute(
                lease_table.update()
                .where(t.name == name, sa.or_(t.holder == holder, t.expires_at < to_db(now)))
                .values(
                    holder=holder,
                    expires_at=to_db(expires),
                    token=sa.case((t.holder == holder, t.token), else_=t.token + 1),
                )
                .returning(t.token)
            ).first()
            if row is not None:
                return Lease(name, holder, row[0], expires, self._url)
            if conn.execute(sa.select(t.name).where(t.name == name)).first() is not None:
                return None
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    lease_table.insert().values(
                        name=name, holder=holder, token=1, expires_at=to_db(expires)
                    )
                )
        except sa.exc.IntegrityError:  # another replica made the row first
            return None
        return Lease(name, holder, 1, expires, self._url)

    def release(self, name: str, holder: str) -> None:
        """Give `name` up at once if `holder` holds it, whatever token a heartbeat last
        renewed (a clean shutdown), so a standby need not wait."""
        t = lease_table.c
        with self.engine.begin() as conn:
            conn.execute(lease_table.update().where(t.name == name, t.holder == holder)
                         .values(expires_at=self._ended()))

    def expire_others(self, holder: str) -> list[str]:
        """End every current lease not held by `holder` (tokens kept, so the next taker
        still fences the old holder out); the names. Only for a process that knows no
        other can be alive: see `oasis.runtime.services.sole_process`."""
        t = lease_table.c
        now = to_db(self.clock())
        with self.engine.begin() as conn:
            names = [r[0] for r in conn.execute(
                lease_table.update()
                .where(t.holder != holder, t.expires_at >= now)
                .values(expires_at=self._ended())
                .returning(t.name)
            )]
        return sorted(names)

    def record_progress(self, lease: Lease, at: datetime) -> bool:
        """Note how far the holder got; False (nothing written) if it lost the lease."""
        t = lease_table.c
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    lease_table.update()
                    .where(t.name == lease.name, t.holder == lease.holder, t.token == lease.token)
                    .values(progress=to_db(at))
                ).rowcount
                == 1
            )

    def progress(self, name: str) -> datetime | None:
        """How far the last holder of `name` got, if it said."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(lease_table.c.progress).where(lease_table.c.name == name)
            ).first()
        return from_db(row[0]) if row is not None else None

    def holders(self) -> dict[str, dict[str, Any]]:
        """Every lease: holder, token, expiry (for /readyz and `oasis db status`)."""
        with self.engine.connect() as conn:
            return {
                r.name: {"holder": r.holder, "token": r.token, "expires_at": from_db(r.expires_at)}
                for r in conn.execute(sa.select(lease_table))
            }

    def _ended(self) -> datetime:
        """An expiry already past: the lease is free for the next taker."""
        return to_db(self.clock() - timedelta(seconds=1))

    @property
    def _url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)


# -- fencing -------------------------------------------------------------------------------
_current: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("oasis_fence", default=None)
_CHECKED = "oasis_fence_checked"
_WRITES = ("INSERT", "UPDATE", "DELETE")


@contextlib.contextmanager
def fenced(lease: Lease) -> Iterator[None]:
    """Run the block's writes to the lease's database under the lease (this thread)."""
    _install()
    token = _current.set(lease)
    try:
        yield
    finally:
        _current.reset(token)


def _before_execute(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    lease = _current.get()
    if lease is None or conn.info.get(_CHECKED) == (lease.name, lease.token):
        return
    if statement.lstrip()[:6].upper() not in _WRITES or "oasis_leases" in statement:
        return
    if conn.engine.url.render_as_string(hide_password=False) != lease.url:
        return
    sqlite = conn.dialect.name == "sqlite"
    check = (
        "SELECT holder, token FROM oasis_leases WHERE name = ?"
        if sqlite
        else "SELECT holder, token FROM oasis_leases WHERE name = %s FOR SHARE"
    )
    cursor.execute(check, (lease.name,))
    row = cursor.fetchone()
    if row is None or (row[0], row[1]) != (lease.holder, lease.token):
        raise LeaseLost(
            f"lease {lease.name!r} (token {lease.token}) was taken over"
            + (f" by {row[0]} (token {row[1]})" if row else "")
            + "; this replica's write is refused"
        )
    conn.info[_CHECKED] = (lease.name, lease.token)


def _end_transaction(conn: Connection) -> None:
    conn.info.pop(_CHECKED, None)


def _checked_in(_dbapi_conn: Any, record: Any) -> None:
    record.info.pop(_CHECKED, None)


_installed = threading.Lock()
_done: list[bool] = []


def _install() -> None:
    with _installed:
        if _done:
            return
        sa.event.listen(Engine, "before_cursor_execute", _before_execute)
        sa.event.listen(Engine, "commit", _end_transaction)
        sa.event.listen(Engine, "rollback", _end_transaction)
        sa.event.listen(sa.pool.Pool, "checkin", _checked_in)
        _done.append(True)


__all__ = ["Lease", "LeaseLost", "LeaseStore", "fenced", "lease_table"]
