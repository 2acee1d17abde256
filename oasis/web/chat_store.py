"""Web chat history in the state database: conversations, and every message in and out.

Kept in SQL rather than in the socket so a reconnect (or another OASIS process behind the
same load balancer) sees the same history. An incoming message is stored under its
client-generated id with a unique constraint, so a message resent after a reconnect is
recognised as already handled even when two sockets race to deliver it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.signals.model import utc_iso
from oasis.state import from_db, to_db

metadata = sa.MetaData()
HISTORY_LIMIT = 200  # messages returned on welcome; older ones stay in the database

chat_conversations = sa.Table(
    "chat_conversations", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

chat_messages = sa.Table(
    "chat_messages", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(40), sa.ForeignKey("chat_conversations.id"),
              nullable=False, index=True),
    sa.Column("direction", sa.String(3), nullable=False),  # "in" (client) or "out"
    sa.Column("message_id", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("conversation_id", "direction", "message_id",
                        name="uq_chat_message_once"),
)

Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    owner: str
    created_at: datetime
    resumed: bool  # False when a new one was started


def new_conversation_id() -> str:
    return f"conv-{secrets.token_hex(8)}"


class ChatStore:
    """Conversations belong to the principal who started them; nobody else can resume one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def open(self, owner: str, conversation_id: str | None = None,
             now: datetime | None = None) -> Conversation:
        """Resume `conversation_id` if `owner` started it, else start a new one."""
        if conversation_id:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(chat_conversations).where(
                    chat_conversations.c.id == conversation_id)).first()
            if row is not None and row.owner == owner:
                return Conversation(row.id, row.owner, from_db(row.created_at), True)
        created = now or datetime.now(UTC)
        new_id = new_conversation_id()
        with self.engine.begin() as conn:
            conn.execute(chat_conversations.insert().values(
                id=new_id, owner=owner, created_at=to_db(created)))
        return Conversation(new_id, owner, created, False)

    def record_incoming(self, conversation_id: str, message: dict[str, Any]) -> bool:
        """Store a client message; False if its id was already stored (a resend)."""
        return self._insert(conversation_id, "in", message)

    def record_outgoing(self, conversation_id: str, message: dict[str, Any]) -> None:
        self._insert(conversation_id, "out", message)

    def replies_to(self, conversation_id: str, message_id: str) -> list[dict[str, Any]]:
        """What the server said in answer to `message_id`, oldest first."""
        return [m for m in self.history(conversation_id, limit=None)
                if m["direction"] == "out" and m.get("of") == message_id]

    def history(self, conversation_id: str,
                limit: int | None = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The newest `limit` messages, oldest first, each as sent plus its direction."""
        query = (sa.select(chat_messages)
                 .where(chat_messages.c.conversation_id == conversation_id)
                 .order_by(chat_messages.c.seq.desc()))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{**row.body, "direction": row.direction} for row in reversed(rows)]

    def _insert(self, conversation_id: str, direction: Direction,
                message: dict[str, Any]) -> bool:
        at = datetime.now(UTC)
        body = {**message, "ts": message.get("ts") or utc_iso(at)}
        try:
            with self.engine.begin() as conn:
                conn.execute(chat_messages.insert().values(
                    conversation_id=conversation_id, direction=direction,
                    message_id=str(message["id"]), kind=str(message["type"]), body=body,
                    at=to_db(at)))
        except sa.exc.IntegrityError:
            return False
        return True
