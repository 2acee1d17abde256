"""Where each Slack thread started: one root message per subject (an incident, an event) and
channel, so every later update about it goes into that thread.

Kept in the state database (`SqlThreads`), so a restarted OASIS goes on threading under
the messages it posted before; `MemoryThreads` is for a notifier used on its own.
Each root also records what it shows (`label`: "ask", "ticket:<id>", "incident"), so an
update edits the root only when the root is a picture of the thing that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.state import to_db

metadata = sa.MetaData()

slack_threads = sa.Table(
    "slack_threads", metadata,
    sa.Column("subject", sa.String(600), primary_key=True),
    sa.Column("channel", sa.String(200), primary_key=True),  # as configured: "#ops" or an id
    sa.Column("posted_channel", sa.String(200), nullable=False),  # Slack's id for it
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("label", sa.String(160), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed: replies to it go to this channel and thread."""

    channel: str
    ts: str


@dataclass(frozen=True, slots=True)
class Thread:
    """A subject's root message in one channel."""

    subject: str
    channel: str
    root: Posted
    label: str


class Threads(Protocol):
    def get(self, subject: str, channel: str | None = None) -> Thread | None:
        """The root in `channel`, or (channel None) the subject's first root anywhere."""

    def of(self, subject: str) -> list[Thread]:
        """Every root of the subject, oldest first."""

    def save(self, thread: Thread) -> Thread:
        """Remember a root; if one was saved for the subject and channel first, that one."""


class MemoryThreads:
    """Roots in a dict: forgotten on restart."""

    def __init__(self) -> None:
        self._roots: dict[tuple[str, str], Thread] = {}

    def get(self, subject: str, channel: str | None = None) -> Thread | None:
        if channel is not None:
            return self._roots.get((subject, channel))
        return next(iter(self.of(subject)), None)

    def of(self, subject: str) -> list[Thread]:
        return [t for (s, _), t in self._roots.items() if s == subject]

    def save(self, thread: Thread) -> Thread:
        return self._roots.setdefault((thread.subject, thread.channel), thread)


class SqlThreads:
    """Roots in the state database (SQLite or PostgreSQL), shared by OASIS processes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def get(self, subject: str, channel: str | None = None) -> Thread | None:
        query = sa.select(slack_threads).where(slack_threads.c.subject == subject)
        if channel is not None:
            query = query.where(slack_threads.c.channel == channel)
        query = query.order_by(slack_threads.c.created_at, slack_threads.c.channel).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _thread(row._mapping) if row is not None else None

    def of(self, subject: str) -> list[Thread]:
        query = (sa.select(slack_threads).where(slack_threads.c.subject == subject)
                 .order_by(slack_threads.c.created_at, slack_threads.c.channel))
        with self.engine.connect() as conn:
            return [_thread(r._mapping) for r in conn.execute(query)]

    def save(self, thread: Thread) -> Thread:
        try:
            with self.engine.begin() as conn:
                conn.execute(slack_threads.insert().values(
                    subject=thread.subject, channel=thread.channel,
                    posted_channel=thread.root.channel, ts=thread.root.ts, label=thread.label,
                    created_at=to_db(datetime.now(UTC))))
        except sa.exc.IntegrityError:  # another sender started the thread first
            return self.get(thread.subject, thread.channel) or thread
        return thread


def _thread(m: sa.RowMapping) -> Thread:
    return Thread(subject=m["subject"], channel=m["channel"],
                  root=Posted(channel=m["posted_channel"], ts=m["ts"]), label=m["label"])
