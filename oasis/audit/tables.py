"""The audit tables in the state database, and how rows are read back and checked.

`audit_records` holds the chain, `audit_head` one row with the count, last seq and last hash
(updated in the same transaction as each append), so deleting the newest records shows.
Databases made before audit keys get the `key_id` column added, empty for their records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from oasis.audit.chain import (
    AuditError,
    AuditHead,
    AuditRecord,
    ChainChecker,
    KeyLookup,
    VerifyResult,
)
from oasis.signals.model import utc_iso
from oasis.state import from_db as _aware

metadata = sa.MetaData()

audit_records = sa.Table(
    "audit_records", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False, index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False, index=True),
    # Plain JSON, not JSONB: PostgreSQL keeps the text as written, so numbers read back
    # exactly as they were hashed.
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # The audit key the link is an HMAC with; "" for a plain SHA-256 link (before keys).
    sa.Column("key_id", sa.String(32), nullable=False, server_default=""),
)

audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

HEAD_ID = 1
CHUNK_ROWS = 5_000  # rows read per query when streaming, so a million records fit in memory
MAX_LENGTHS = {"kind": 64, "actor": 200, "subject": 200}

# `data` is read as its stored text and decoded here, so a row edited into invalid JSON is
# reported as tampering instead of crashing the reader.
COLUMNS = (audit_records.c.seq, audit_records.c.at, audit_records.c.kind,
           audit_records.c.actor, audit_records.c.subject,
           sa.cast(audit_records.c.data, sa.Text).label("data"),
           audit_records.c.prev_hash, audit_records.c.hash, audit_records.c.key_id)


def create_schema(conn: Connection) -> None:
    """The tables, and the `key_id` column on a trail from before audit keys (run locked)."""
    metadata.create_all(conn)
    columns = {c["name"] for c in sa.inspect(conn).get_columns("audit_records")}
    if "key_id" not in columns:
        conn.execute(sa.text("ALTER TABLE audit_records ADD COLUMN key_id VARCHAR(32) "
                             "NOT NULL DEFAULT ''"))


class AnchorWatch(Protocol):
    """What verification feeds an anchor check (`oasis.audit.anchors.AnchorCheck`)."""

    def record(self, seq: int, stored_hash: str) -> None: ...
    def problems(self, last_seq: int, checked: int) -> list[str]: ...
    def summary(self) -> tuple[int, int]: ...  # (anchors checked, newest anchored seq)


def verify_rows(rows: Iterable[Row], head: AuditHead | None, keys: KeyLookup | None,
                anchors: AnchorWatch | None = None) -> VerifyResult:
    """Check rows read in seq order against each other, the head and the anchors."""
    checker = ChainChecker(keys=keys)
    for row in rows:
        data = decode(row.data)
        if data is None:
            checker.add(f"seq {row.seq}: data is not a JSON object: the record was edited "
                        f"after it was written")
        checker.check(row.seq, utc_iso(_aware(row.at)), row.kind, row.actor, row.subject,
                      data, row.prev_hash, row.hash, row.key_id)
        if anchors is not None:
            anchors.record(row.seq, row.hash)
    for problem in head_problems(head, checker):
        checker.add(problem)
    result = checker.result()
    if anchors is not None:
        result.problems.extend(anchors.problems(checker.last_seq, checker.checked))
        result.anchors, result.anchored_seq = anchors.summary()
        result.ok = not result.problems
    return result


def rows(conn: Connection, after_seq: int = 0) -> Iterator[Row]:
    """Records in seq order, CHUNK_ROWS per query (keyset paging: each query is an index seek)."""
    while True:
        chunk = conn.execute(sa.select(*COLUMNS).where(audit_records.c.seq > after_seq)
                             .order_by(audit_records.c.seq).limit(CHUNK_ROWS)).all()
        yield from chunk
        if len(chunk) < CHUNK_ROWS:
            return
        after_seq = chunk[-1].seq


def head_problems(head: AuditHead | None, checker: ChainChecker) -> list[str]:
    last = checker.last_seq
    if head is None:
        return [f"the audit head row is missing but {checker.checked} records exist: it was "
                f"deleted"] if checker.checked else []
    if head.last_seq > last:
        missing = f"seq {last + 1}" if head.last_seq == last + 1 else \
            f"seq {last + 1}..{head.last_seq}"
        return [f"{missing} missing at the end: the head says the last record is seq "
                f"{head.last_seq}, so the newest record(s) were deleted (tail truncated)"]
    problems = []
    if head.last_seq < last:
        problems.append(f"seq {head.last_seq + 1}..{last} are beyond the head (last seq "
                        f"{head.last_seq}): added outside the audit log")
    elif head.last_hash != checker.last_hash:
        problems.append(f"seq {last}: its hash does not match the head's last hash: the "
                        f"newest record was replaced")
    if head.count != checker.checked:
        problems.append(f"the head counts {head.count} records but {checker.checked} exist")
    return problems


def read_head(conn: Connection) -> AuditHead | None:
    row = conn.execute(sa.select(audit_head.c.count, audit_head.c.last_seq,
                                 audit_head.c.last_hash)
                       .where(audit_head.c.id == HEAD_ID)).first()
    return AuditHead(row.count, row.last_seq, row.last_hash) if row else None


def to_record(row: Row) -> AuditRecord:
    data = decode(row.data)
    if data is None:
        raise AuditError(f"audit record seq {row.seq} has data that is not a JSON object: "
                         f"it was edited; run `oasis audit verify`")
    return AuditRecord(seq=row.seq, at=_aware(row.at), kind=row.kind, actor=row.actor,
                       subject=row.subject, data=data, prev_hash=row.prev_hash, hash=row.hash,
                       key_id=row.key_id)


def decode(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"audit {name} must be a non-empty string, got {value!r}")
    if len(value) > MAX_LENGTHS[name]:
        raise ValueError(f"audit {name} is longer than {MAX_LENGTHS[name]} characters")


@contextmanager
def sqlite_transaction(conn: Connection, begin: str, *, commit: bool) -> Iterator[None]:
    """Our own BEGIN on SQLite: pysqlite would otherwise open a deferred transaction late,
    and a deferred writer that finds the database changed fails instead of waiting."""
    raw = conn.connection.dbapi_connection
    saved = raw.isolation_level
    raw.isolation_level = None  # pysqlite: leave transactions to us
    try:
        conn.exec_driver_sql(begin)
        yield
        if commit:
            conn.commit()
    finally:
        conn.rollback()  # nothing left to undo after a commit
        raw.isolation_level = saved


__all__ = ["audit_head", "audit_records", "create_schema", "metadata", "verify_rows"]
