"""The audit log: append-only, hash-chained records in the state database.

Every detection, AI conclusion, notification, approval and action is appended here by
whichever OASIS process did it; several processes may share one PostgreSQL database. Appends
are serialised by a transaction-level lock, so the chain never forks: each record links to the
one committed before it. A separate head row (count, last seq, last hash), updated in the same
transaction, makes deleting the newest records as visible as editing or deleting older ones.
Given audit keys (`AuditKeys`), each link is an HMAC keyed with the current key, so the chain
cannot be recomputed by someone who can write the database but not read the key file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from oasis.audit import s3
from oasis.audit.chain import (
    GENESIS_HASH,
    AuditError,
    AuditHead,
    AuditRecord,
    VerifyResult,
    canonical_json,
    normalize_data,
    record_hash,
    record_link,
)
from oasis.audit.keys import AuditKeys
from oasis.audit.settings import AuditSettings
from oasis.audit.tables import (
    COLUMNS,
    HEAD_ID,
    AnchorWatch,
    audit_head,
    audit_records,
    check_text,
    create_schema,
    metadata,
    read_head,
    rows,
    sqlite_transaction,
    to_record,
    verify_rows,
)
from oasis.signals.model import utc_iso
from oasis.state import state_engine
from oasis.state import to_db as _naive

LOCK_KEY = 0x0A51_A0D1  # pg_advisory_xact_lock key; any constant no other OASIS lock uses


class AuditLog:
    """Append, read, verify and export the audit trail.

    `keys` sign new records (the current key) and check keyed ones (any key in the ring);
    without them records get a plain SHA-256 link, as before audit keys, which anyone who
    can write the database can recompute, and keyed records cannot be checked.
    """

    def __init__(self, url: str, *, keys: AuditKeys | None = None, echo: bool = False) -> None:
        try:
            engine = state_engine(url, echo=echo)
        except (sa.exc.NoSuchModuleError, ImportError) as exc:  # unknown scheme, no driver
            raise AuditError(f"invalid database URL: {exc}") from None
        except (sa.exc.ArgumentError, ValueError):  # the message would repeat the password
            raise AuditError("invalid database URL: not a SQLAlchemy URL") from None
        self._owns_engine = True
        try:
            self._setup(engine, keys)
        except BaseException:
            engine.dispose()
            raise

    @classmethod
    def from_engine(cls, engine: Engine, *, keys: AuditKeys | None = None) -> AuditLog:
        """An audit log in a database someone else opened (e.g. `IncidentStore.engine`)."""
        log = cls.__new__(cls)
        log._owns_engine = False
        log._setup(engine, keys)
        return log

    def _setup(self, engine: Engine, keys: AuditKeys | None) -> None:
        self.engine = engine
        self.keys = keys
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise AuditError(f"the audit log needs SQLite or PostgreSQL, not {self.dialect}")
        with self._locked() as conn:  # several processes may start at once
            create_schema(conn)

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
                with sqlite_transaction(conn, "BEGIN IMMEDIATE", commit=True):
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
                with sqlite_transaction(conn, "BEGIN", commit=False):
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
            check_text(name, value)
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise ValueError("audit time must be a datetime with a time zone (UTC)")
        at = (at or datetime.now(UTC)).astimezone(UTC)
        body = normalize_data(data)
        kid, key = self.keys.current() if self.keys is not None else ("", "")
        with self._locked() as conn:
            head = read_head(conn)
            if head is None and conn.execute(sa.select(sa.func.max(audit_records.c.seq)))\
                    .scalar() is not None:
                raise AuditError("the audit head row is missing while records exist: the log "
                                 "was tampered with; run `oasis audit verify`")
            seq = head.last_seq + 1 if head else 1
            prev = head.last_hash if head else GENESIS_HASH
            link = record_link(seq, utc_iso(at), kind, actor, subject, body, prev, kid, key) \
                if kid else record_hash(seq, utc_iso(at), kind, actor, subject, body, prev)
            record = AuditRecord(seq=seq, at=at, kind=kind, actor=actor, subject=subject,
                                 data=body, prev_hash=prev, hash=link, key_id=kid)
            conn.execute(audit_records.insert().values(
                seq=seq, at=_naive(at), kind=kind, actor=actor, subject=subject, data=body,
                prev_hash=prev, hash=record.hash, key_id=kid))
            values = {"count": (head.count if head else 0) + 1, "last_seq": seq,
                      "last_hash": record.hash, "updated_at": _naive(datetime.now(UTC))}
            if head is None:
                conn.execute(audit_head.insert().values(id=HEAD_ID, **values))
            else:
                conn.execute(audit_head.update().where(audit_head.c.id == HEAD_ID)
                             .values(**values))
        if kid and self.keys is not None:
            self.keys.mark_keyed_from(seq)  # once per process; a no-op when already noted
        return record

    # -- reading ---------------------------------------------------------------------------
    def head(self) -> AuditHead | None:
        """The newest record's seq and hash as the log counts them; None when empty."""
        with self.engine.connect() as conn:
            return read_head(conn)

    def records(self, *, subject: str | None = None, kind: str | None = None,
                since: datetime | None = None, limit: int | None = None) -> list[AuditRecord]:
        """Matching records, oldest first. `kind` ending in `.*` matches a family
        (`approval.*`); `since` keeps records at or after it; `limit` keeps the newest ones."""
        query = sa.select(*COLUMNS)
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
            found = [to_record(row) for row in conn.execute(query)]
        return sorted(found, key=lambda r: r.seq) if limit is not None else found

    # -- verifying -------------------------------------------------------------------------
    def verify(self, anchors: AnchorWatch | None = None) -> VerifyResult:
        """Re-compute every hash and link, and compare the end of the chain with the head.

        Finds edited rows (hash mismatch), deleted rows (seq gap), replaced rows (the next
        record's prev_hash) and deleted newest rows (head mismatch). Keyed links are checked
        with this log's keys. `anchors` (`oasis.audit.anchors.AnchorCheck`) also compares
        every anchored seq and the chain's length with heads kept outside the database,
        which is what catches a rewrite by someone holding the key, a tail cut together with
        the head, or emptied tables. Streams in chunks.
        """
        with self._snapshot() as conn:
            return verify_rows(rows(conn), read_head(conn), self.keys, anchors)

    # -- exporting -------------------------------------------------------------------------
    def export_jsonl(self, out: Path | str | TextIO, since_seq: int = 0,
                     on_record: Callable[[int], None] | None = None) -> int:
        """Write records after `since_seq` as JSON lines, hashes included; returns how many.
        `on_record(written so far)` follows the export.

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
                    count = self._write_jsonl(f, since_seq, on_record)[0]
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return count
        return self._write_jsonl(out, since_seq, on_record)[0]

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

    def _write_jsonl(self, out: TextIO, since_seq: int,
                     on_record: Callable[[int], None] | None = None,
                     ) -> tuple[int, AuditRecord | None, AuditRecord | None]:
        if since_seq < 0:
            raise ValueError("`since_seq` must be 0 or more")
        count, first, last = 0, None, None
        with self._snapshot() as conn:
            for row in rows(conn, after_seq=since_seq):
                last = to_record(row)
                first = first or last
                out.write(canonical_json(last.to_dict()) + "\n")
                count += 1
                if on_record is not None:
                    on_record(count)
        out.flush()
        return count, first, last


__all__ = ["AuditHead", "AuditLog", "audit_head", "audit_records", "metadata"]
