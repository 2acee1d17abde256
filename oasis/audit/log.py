"""The audit log: append-only, hash-chained records in the state database.

Every detection, AI conclusion, notification, approval and action is appended here by
whichever OASIS process did it; several processes may share one PostgreSQL database. Appends
are serialised by a transaction-level lock, so the chain never forks: each record links to the
one committed before it. A separate head row (count, last seq, last hash), updated in the same
transaction, makes deleting the newest records as visible as editing or deleting older ones.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from oasis.audit import s3
from oasis.audit.chain import (
    GENESIS_HASH,
    AuditError,
    AuditRecord,
    ChainChecker,
    VerifyResult,
    canonical_json,
    normalize_data,
    record_hash,
)
from oasis.audit.settings import AuditSettings
from oasis.signals.model import utc_iso
from oasis.state import from_db as _aware
from oasis.state import state_engine
from oasis.state import to_db as _naive

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
LOCK_KEY = 0x0A51_A0D1  # pg_advisory_xact_lock key; any constant no other OASIS lock uses
CHUNK_ROWS = 5_000  # rows read per query when streaming, so a million records fit in memory
MAX_LENGTHS = {"kind": 64, "actor": 200, "subject": 200}

# `data` is read as its stored text and decoded here, so a row edited into invalid JSON is
# reported as tampering instead of crashing the reader.
_COLUMNS = (audit_records.c.seq, audit_records.c.at, audit_records.c.kind,
            audit_records.c.actor, audit_records.c.subject,
            sa.cast(audit_records.c.data, sa.Text).label("data"),
            audit_records.c.prev_hash, audit_records.c.hash)


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The newest record as of the last append: what tail truncation cannot fake."""

    count: int
    last_seq: int
    last_hash: str


class AuditLog:
    """Append, read, verify and export the audit trail."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            engine = state_engine(url, echo=echo)
        except (sa.exc.NoSuchModuleError, ImportError) as exc:  # unknown scheme, no driver
            raise AuditError(f"invalid database URL: {exc}") from None
        except (sa.exc.ArgumentError, ValueError):  # the message would repeat the password
            raise AuditError("invalid database URL: not a SQLAlchemy URL") from None
        self._owns_engine = True
        try:
            self._setup(engine)
        except BaseException:
            engine.dispose()
            raise

    @classmethod
    def from_engine(cls, engine: Engine) -> AuditLog:
        """An audit log in a database someone else opened (e.g. `IncidentStore.engine`)."""
        log = cls.__new__(cls)
        log._owns_engine = False
        log._setup(engine)
        return log

    def _setup(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise AuditError(f"the audit log needs SQLite or PostgreSQL, not {self.dialect}")
        with self._locked() as conn:  # several processes may start at once
            metadata.create_all(conn)

    def close(self) -> None:
        """Release the connections, if this log opened them."""
        if self._owns_engine:
            self.engine.dispose()

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A write transaction no other appender, in any process, runs alongside."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                with _sqlite_transaction(conn, "BEGIN IMMEDIATE", commit=True):
                    yield conn
            else:
                with conn.begin():
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
                    yield conn

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """One consistent view for a long read: appends made meanwhile are not seen at all,
        so they cannot look like rows missing from the head or the head missing rows."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                with _sqlite_transaction(conn, "BEGIN", commit=False):
                    yield conn
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin() as tx:
                    yield conn
                    tx.rollback()

    # -- writing ---------------------------------------------------------------------------
    def append(self, kind: str, actor: str, subject: str, data: dict[str, Any] | None = None,
               at: datetime | None = None) -> AuditRecord:
        """Add a record at the end of the chain and return it, hash included.

        `kind` is what happened (`incident.detected`, `approval.granted`, see `AuditKind`),
        `actor` who did it (`oasis`, `user:alice`), `subject` what it concerns (an incident
        or action id). `at` defaults to now and must carry a time zone.
        """
        for name, value in (("kind", kind), ("actor", actor), ("subject", subject)):
            _check_text(name, value)
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise ValueError("audit time must be a datetime with a time zone (UTC)")
        at = (at or datetime.now(UTC)).astimezone(UTC)
        body = normalize_data(data)
        with self._locked() as conn:
            head = _read_head(conn)
            if head is None and conn.execute(sa.select(sa.func.max(audit_records.c.seq)))\
                    .scalar() is not None:
                raise AuditError("the audit head row is missing while records exist: the log "
                                 "was tampered with; run `oasis audit verify`")
            seq = head.last_seq + 1 if head else 1
            prev = head.last_hash if head else GENESIS_HASH
            record = AuditRecord(seq=seq, at=at, kind=kind, actor=actor, subject=subject,
                                 data=body, prev_hash=prev,
                                 hash=record_hash(seq, utc_iso(at), kind, actor, subject, body,
                                                  prev))
            conn.execute(audit_records.insert().values(
                seq=seq, at=_naive(at), kind=kind, actor=actor, subject=subject, data=body,
                prev_hash=prev, hash=record.hash))
            values = {"count": (head.count if head else 0) + 1, "last_seq": seq,
                      "last_hash": record.hash, "updated_at": _naive(datetime.now(UTC))}
            if head is None:
                conn.execute(audit_head.insert().values(id=HEAD_ID, **values))
            else:
                conn.execute(audit_head.update().where(audit_head.c.id == HEAD_ID)
                             .values(**values))
        return record

    # -- reading ---------------------------------------------------------------------------
    def head(self) -> AuditHead | None:
        """The newest record's seq and hash as the log counts them; None when empty."""
        with self.engine.connect() as conn:
            return _read_head(conn)

    def records(self, *, subject: str | None = None, kind: str | None = None,
                since: datetime | None = None, limit: int | None = None) -> list[AuditRecord]:
        """Matching records, oldest first. `kind` ending in `.*` matches a family
        (`approval.*`); `since` keeps records at or after it; `limit` keeps the newest ones."""
        query = sa.select(*_COLUMNS)
        if subject is not None:
            query = query.where(audit_records.c.subject == subject)
        if kind is not None:
            query = query.where(
                audit_records.c.kind.startswith(kind[:-1], autoescape=True)
                if kind.endswith(".*") else audit_records.c.kind == kind)
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("`since` must be a datetime with a time zone (UTC)")
            query = query.where(audit_records.c.at >= _naive(since))
        if limit is not None:
            if limit < 1:
                raise ValueError("`limit` must be at least 1")
            query = query.order_by(audit_records.c.seq.desc()).limit(limit)
        else:
            query = query.order_by(audit_records.c.seq)
        with self.engine.connect() as conn:
            found = [_record(row) for row in conn.execute(query)]
        return sorted(found, key=lambda r: r.seq) if limit is not None else found

    # -- verifying -------------------------------------------------------------------------
    def verify(self) -> VerifyResult:
        """Re-compute every hash and link, and compare the end of the chain with the head.

        Finds edited rows (hash mismatch), deleted rows (seq gap), replaced rows (the next
        record's prev_hash) and deleted newest rows (head mismatch). Streams in chunks.
        """
        checker = ChainChecker()
        with self._snapshot() as conn:
            head = _read_head(conn)
            for row in _rows(conn):
                data = _decode(row.data)
                if data is None:
                    checker.problems.append(f"seq {row.seq}: data is not a JSON object: "
                                            f"the record was edited after it was written")
                checker.check(row.seq, utc_iso(_aware(row.at)), row.kind, row.actor,
                              row.subject, data, row.prev_hash, row.hash)
        checker.problems.extend(_head_problems(head, checker))
        return checker.result()

    # -- exporting -------------------------------------------------------------------------
    def export_jsonl(self, out: Path | str | TextIO, since_seq: int = 0) -> int:
        """Write records after `since_seq` as JSON lines, hashes included; returns how many.

        A path is written to a temporary file first and renamed, so it is never half written.
        """
        if isinstance(out, (str, Path)):
            path = Path(out)
            try:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            except OSError as exc:
                raise AuditError(f"cannot write {path}: {exc.strerror}") from None
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    count = self._write_jsonl(f, since_seq)[0]
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return count
        return self._write_jsonl(out, since_seq)[0]

    def export_s3(self, settings: AuditSettings, since_seq: int = 0) -> str:
        """Upload records after `since_seq` as one JSONL object; returns its s3:// URI.

        The object is `<prefix>/audit-<first seq>-<last seq>-<UTC time>.jsonl`; its metadata
        carries the hash the first record links to and the last record's hash.
        """
        if not settings.s3_bucket:
            raise AuditError("S3 export is not configured: set audit.s3_bucket "
                             "(OASIS_AUDIT__S3_BUCKET)")
        with tempfile.TemporaryDirectory(prefix="oasis-audit-") as tmp:
            path = Path(tmp) / "audit.jsonl"
            with path.open("w", encoding="utf-8") as f:
                count, first, last = self._write_jsonl(f, since_seq)
            if not count or first is None or last is None:
                raise AuditError(f"no audit records after seq {since_seq}: nothing to export")
            key = s3.object_key(settings.s3_prefix, first.seq, last.seq, datetime.now(UTC))
            return s3.upload(settings, path, key, {"prev-hash": first.prev_hash,
                                                   "last-hash": last.hash})

    def _write_jsonl(self, out: TextIO, since_seq: int
                     ) -> tuple[int, AuditRecord | None, AuditRecord | None]:
        if since_seq < 0:
            raise ValueError("`since_seq` must be 0 or more")
        count, first, last = 0, None, None
        with self._snapshot() as conn:
            for row in _rows(conn, after_seq=since_seq):
                last = _record(row)
                first = first or last
                out.write(canonical_json(last.to_dict()) + "\n")
                count += 1
        out.flush()
        return count, first, last


def _rows(conn: Connection, after_seq: int = 0) -> Iterator[Row]:
    """Records in seq order, CHUNK_ROWS per query (keyset paging: each query is an index seek)."""
    while True:
        rows = conn.execute(sa.select(*_COLUMNS).where(audit_records.c.seq > after_seq)
                            .order_by(audit_records.c.seq).limit(CHUNK_ROWS)).all()
        yield from rows
        if len(rows) < CHUNK_ROWS:
            return
        after_seq = rows[-1].seq


def _head_problems(head: AuditHead | None, checker: ChainChecker) -> list[str]:
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


def _read_head(conn: Connection) -> AuditHead | None:
    row = conn.execute(sa.select(audit_head.c.count, audit_head.c.last_seq,
                                 audit_head.c.last_hash)
                       .where(audit_head.c.id == HEAD_ID)).first()
    return AuditHead(row.count, row.last_seq, row.last_hash) if row else None


def _record(row: Row) -> AuditRecord:
    data = _decode(row.data)
    if data is None:
        raise AuditError(f"audit record seq {row.seq} has data that is not a JSON object: "
                         f"it was edited; run `oasis audit verify`")
    return AuditRecord(seq=row.seq, at=_aware(row.at), kind=row.kind, actor=row.actor,
                       subject=row.subject, data=data, prev_hash=row.prev_hash, hash=row.hash)


def _decode(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"audit {name} must be a non-empty string, got {value!r}")
    if len(value) > MAX_LENGTHS[name]:
        raise ValueError(f"audit {name} is longer than {MAX_LENGTHS[name]} characters")


@contextmanager
def _sqlite_transaction(conn: Connection, begin: str, *, commit: bool) -> Iterator[None]:
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


__all__ = ["AuditHead", "AuditLog", "audit_head", "audit_records", "metadata"]
