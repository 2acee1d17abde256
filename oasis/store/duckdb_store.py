"""The embedded signal store: one DuckDB file under the data dir.

Rows go in as Arrow batches (one columnar insert per batch, not one per
record) and come out through SQL aggregations, which DuckDB runs vectorised
over millions of rows. Timestamps are stored as naive UTC `TIMESTAMP`s so no
session time zone can shift them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from oasis.signals import ERROR_LEVELS, CallEdge, DeploymentRecord, Level, LogRecord, Signal
from oasis.signals.errors import Unavailable
from oasis.store.base import (
    AppendResult,
    LogCount,
    LogGroup,
    MetricStats,
    RetentionResult,
    ServiceSummary,
)
from oasis.store.batch import TABLES, TIMESTAMP, SignalBatch
from oasis.store.group_commit import GroupCommit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id VARCHAR, ts TIMESTAMP NOT NULL, service VARCHAR NOT NULL, level VARCHAR NOT NULL,
    message VARCHAR NOT NULL, error_type VARCHAR, host VARCHAR, trace_id VARCHAR,
    span_id VARCHAR, attributes VARCHAR
);
CREATE TABLE IF NOT EXISTS metrics (
    id VARCHAR, ts TIMESTAMP NOT NULL, service VARCHAR NOT NULL, name VARCHAR NOT NULL,
    value DOUBLE NOT NULL, unit VARCHAR, host VARCHAR, attributes VARCHAR
);
CREATE TABLE IF NOT EXISTS deployments (
    id VARCHAR, ts TIMESTAMP NOT NULL, service VARCHAR NOT NULL, version VARCHAR NOT NULL,
    previous_version VARCHAR, author VARCHAR, description VARCHAR, attributes VARCHAR
);
-- Calls between services seen in traces, per minute (oasis.ingest.otlp.spans).
CREATE TABLE IF NOT EXISTS call_edges (
    ts TIMESTAMP NOT NULL, caller VARCHAR NOT NULL, callee VARCHAR NOT NULL,
    calls BIGINT NOT NULL
);
-- Client-given ids already stored, so that re-sending a batch stores nothing twice.
CREATE TABLE IF NOT EXISTS signal_ids (id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ERRORS_ONLY = " AND level IN ({})".format(", ".join(f"'{lvl.value}'" for lvl in ERROR_LEVELS))


class StoreLockedError(Unavailable, RuntimeError):
    """Another process holds the store file open for writing."""


class DuckDBSignalStore:
    """`SignalStore` over a DuckDB file (or memory, with `path=None`).

    One connection guarded by a lock: DuckDB allows a single writing process,
    and within it serialising appends keeps id de-duplication exact.
    """

    def __init__(self, path: Path | None, *, retention_days: float = 14.0,
                 memory_limit_mb: float | None = None) -> None:
        self.path = path
        self.retention = timedelta(days=retention_days) if retention_days > 0 else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(path) if path is not None else ":memory:")
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(
                    f"the signal store {path} is in use by another process "
                    "(is `oasis serve` running? send data to it with `oasis ingest --url`)"
                ) from exc
            raise
        self._lock = threading.RLock()
        self._group = GroupCommit(self._append_group)
        # The default (16 MB) checkpoints every few batches; bulk ingest runs ~2x
        # faster checkpointing less often, and the WAL is replayed after a crash anyway.
        self._con.execute("SET wal_autocheckpoint = '256MB'")
        if memory_limit_mb:
            # DuckDB's own default is 80 % of RAM, and rows not yet checkpointed stay in
            # memory until then: a cap keeps a server's memory flat however much it ingests
            # (DuckDB spills to `<file>.tmp` past it).
            self._con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
        self._con.execute(_SCHEMA)

    # --- writing -----------------------------------------------------------

    def append(self, records: Sequence[Signal]) -> AppendResult:
        return self.append_batch(SignalBatch.from_records(records))

    def append_batch(self, batch: SignalBatch) -> AppendResult:
        return self._group.submit(batch)

    def _append_group(self, batches: list[SignalBatch]) -> list[AppendResult]:
        """Store batches in one transaction, all or none; each one's counts, in order. An
        `id` seen before (stored, or earlier in the group: by batch, then by kind) is
        skipped as a duplicate, as if the batches had been appended one after another."""
        names = [n for n in TABLES if any(n in b.tables for b in batches)]
        spans: list[list[tuple[str, int, int]]] = []  # each batch's rows of each table
        offsets = dict.fromkeys(names, 0)
        for batch in batches:
            own = []
            for name in names:
                rows = batch.tables[name].num_rows if name in batch.tables else 0
                own.append((name, offsets[name], offsets[name] + rows))
                offsets[name] += rows
            spans.append(own)
        combined = {
            n: pa.concat_tables([b.tables[n].cast(TABLES[n]) for b in batches if n in b.tables])
            for n in names
        }
        with self._lock:
            tables, kept = self._drop_known_ids(combined, [s for own in spans for s in own])
            results = []
            for own in spans:
                rows = sum(stop - start for _, start, stop in own)
                accepted = sum(int(kept[name][start:stop].sum()) if name in kept
                               else stop - start for name, start, stop in own)
                results.append(AppendResult(accepted=accepted, duplicates=rows - accepted))
            self._write_tables(tables)
        return results

    def _write_tables(self, tables: dict[str, pa.Table]) -> None:
        """Every table of a group, and the ids to remember, in one transaction and in one
        call to DuckDB: each call retakes the GIL many times while it runs, and under load
        each retake waits behind the threads parsing the next requests (a 1,000-row append
        that takes 7 ms alone took ~50 ms). One script instead of BEGIN, a register, an
        INSERT and an unregister per table, and COMMIT: 50 senders 36 k -> 41 k records/s
        in interleaved runs of bench/load.py's load. The SQL reads the tables by the names
        of these locals (DuckDB's replacement scan), so registering them costs no call."""
        logs_rows = tables.get("logs")  # noqa: F841  (read by name by the SQL below)
        metrics_rows = tables.get("metrics")  # noqa: F841
        deployments_rows = tables.get("deployments")  # noqa: F841
        with_ids = [t.select(["id", "ts"]) for t in tables.values()
                    if t.num_rows and t.column("id").null_count < t.num_rows]
        id_rows = pa.concat_tables(with_ids) if with_ids else None  # noqa: F841
        statements = ["BEGIN"]
        for name in TABLES:  # each read from the local `<name>_rows` above
            table = tables.get(name)
            if table is not None and table.num_rows:
                cols = ", ".join(table.column_names)
                statements.append(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {name}_rows")
        if with_ids:
            statements.append("INSERT INTO signal_ids (id, ts) SELECT id, ts FROM id_rows "
                              "WHERE id IS NOT NULL")
        statements.append("COMMIT")
        try:
            self._con.execute(";\n".join(statements))
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # no transaction left to roll back
                self._con.execute("ROLLBACK")
            raise

    def _drop_known_ids(self, tables: dict[str, pa.Table], order: list[tuple[str, int, int]]
                        ) -> tuple[dict[str, pa.Table], dict[str, np.ndarray]]:
        """Leave out rows whose id is stored already or came earlier, reading the rows in
        `order` (table, start, stop); the kept rows' mask of each table that lost any."""
        id_lists = {
            name: t.column("id").to_pylist()
            for name, t in tables.items()
            if t.column("id").null_count < t.num_rows
        }
        if not id_lists:
            return tables, {}
        batch_ids = {i for ids in id_lists.values() for i in ids if i is not None}
        self._con.register("batch_ids", pa.table({"id": pa.array(list(batch_ids), pa.string())}))
        try:
            seen = {
                row[0]
                for row in self._con.execute(
                    "SELECT b.id FROM batch_ids b SEMI JOIN signal_ids s ON s.id = b.id"
                ).fetchall()
            }
        finally:
            self._con.unregister("batch_ids")
        masks = {name: np.ones(len(ids), bool) for name, ids in id_lists.items()}
        for name, start, stop in order:
            if name not in id_lists:
                continue  # no ids in this table
            ids, mask = id_lists[name], masks[name]
            for row in range(start, stop):
                record_id = ids[row]
                if record_id is None:
                    continue
                if record_id in seen:
                    mask[row] = False
                else:
                    seen.add(record_id)
        kept: dict[str, pa.Table] = dict(tables)
        lost = {name: mask for name, mask in masks.items() if not mask.all()}
        for name, mask in lost.items():
            kept[name] = tables[name].filter(pa.array(mask))
        return kept, lost

    def _insert(self, table: str, batch: pa.Table) -> None:
        self._con.register("batch", batch)
        try:
            names = ", ".join(batch.column_names)
            self._con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM batch")
        finally:
            self._con.unregister("batch")

    def append_call_edges(self, edges: Sequence[CallEdge]) -> None:
        if not edges:
            return
        table = pa.table({
            "ts": pa.array([_naive(e.bucket) for e in edges], TIMESTAMP),
            "caller": pa.array([e.caller for e in edges], pa.string()),
            "callee": pa.array([e.callee for e in edges], pa.string()),
            "calls": pa.array([e.calls for e in edges], pa.int64()),
        })
        with self._lock:
            self._insert("call_edges", table)

    def apply_retention(self, now: datetime) -> RetentionResult:
        if self.retention is None:
            return RetentionResult(cutoff=datetime.min.replace(tzinfo=UTC), logs=0, metrics=0,
                                   deployments=0)
        cutoff = now - self.retention
        deleted = {}
        with self._lock:
            for table in ("logs", "metrics", "deployments", "signal_ids", "call_edges"):
                row = self._con.execute(
                    f"DELETE FROM {table} WHERE ts < ?", [_naive(cutoff)]
                ).fetchone()
                deleted[table] = row[0] if row else 0
        return RetentionResult(cutoff=cutoff, logs=deleted["logs"], metrics=deleted["metrics"],
                               deployments=deleted["deployments"])

    # --- reading -----------------------------------------------------------

    def log_counts(
        self,
        start: datetime,
        end: datetime,
        *,
        bucket_seconds: int = 60,
        by: LogGroup = "level",
        service: str | None = None,
        errors_only: bool = False,
    ) -> list[LogCount]:
        if by not in ("level", "error_type"):
            raise ValueError(f"cannot group log counts by {by!r}")
        where, params = _window(start, end, service)
        if errors_only:
            where += _ERRORS_ONLY
        sql = f"""
            SELECT {_bucket(bucket_seconds)} AS bucket, service, {by} AS key, count(*) AS n
            FROM logs WHERE {where}
            GROUP BY ALL ORDER BY bucket, service, key
        """
        instant = _Instants()
        return [LogCount(instant(b), s, k, n) for b, s, k, n in self._query(sql, params)]

    def metric_stats(
        self,
        start: datetime,
        end: datetime,
        *,
        bucket_seconds: int = 60,
        service: str | None = None,
        name: str | None = None,
    ) -> list[MetricStats]:
        where, params = _window(start, end, service)
        if name is not None:
            where += " AND name = ?"
            params.append(name)
        sql = f"""
            SELECT {_bucket(bucket_seconds)} AS bucket, service, name, count(*), avg(value),
                   min(value), max(value), quantile_cont(value, [0.5, 0.9, 0.99])
            FROM metrics WHERE {where}
            GROUP BY ALL ORDER BY bucket, service, name
        """
        instant = _Instants()
        return [
            MetricStats(instant(b), s, n, c, mean, lo, hi, q[0], q[1], q[2])
            for b, s, n, c, mean, lo, hi, q in self._query(sql, params)
        ]

    def sample_logs(
        self,
        start: datetime,
        end: datetime,
        *,
        service: str | None = None,
        errors_only: bool = False,
        limit: int = 20,
    ) -> list[LogRecord]:
        where, params = _window(start, end, service)
        if errors_only:
            where += _ERRORS_ONLY
        sql = f"""
            SELECT ts, service, level, message, error_type, host, trace_id, span_id,
                   attributes, id
            FROM logs WHERE {where} ORDER BY ts DESC LIMIT {int(limit)}
        """
        return [
            LogRecord(_aware(ts), svc, Level(level), msg, et, host, trace, span,
                      _attrs(attrs), rid)
            for ts, svc, level, msg, et, host, trace, span, attrs, rid in self._query(sql, params)
        ]

    def read_logs(
        self,
        start: datetime,
        end: datetime,
        *,
        levels: Sequence[Level] | None = None,
        limit: int = 100_000,
    ) -> list[LogRecord]:
        where, params = _window(start, end, None)
        if levels:
            where += " AND level IN ({})".format(", ".join("?" for _ in levels))
            params.extend(lvl.value for lvl in levels)
        sql = f"""
            SELECT ts, service, level, message, error_type, host, trace_id, span_id,
                   attributes, id
            FROM logs WHERE {where} ORDER BY ts, rowid LIMIT {int(limit)}
        """
        return [
            LogRecord(_aware(ts), svc, Level(level), msg, et, host, trace, span,
                      _attrs(attrs), rid)
            for ts, svc, level, msg, et, host, trace, span, attrs, rid in self._query(sql, params)
        ]

    def call_edges(self, start: datetime, end: datetime) -> list[CallEdge]:
        where, params = _window(start, end, None)
        sql = f"""
            SELECT {_bucket(60)} AS bucket, caller, callee, sum(calls)
            FROM call_edges WHERE {where}
            GROUP BY ALL ORDER BY bucket, caller, callee
        """
        instant = _Instants()
        return [CallEdge(instant(b), caller, callee, int(n))
                for b, caller, callee, n in self._query(sql, params)]

    def latest_timestamp(self) -> datetime | None:
        rows = self._query("SELECT max(ts) FROM (SELECT max(ts) AS ts FROM logs UNION ALL "
                           "SELECT max(ts) FROM metrics)", [])
        return _aware(rows[0][0]) if rows and rows[0][0] is not None else None

    def deployments(
        self, start: datetime, end: datetime, *, service: str | None = None
    ) -> list[DeploymentRecord]:
        where, params = _window(start, end, service)
        sql = f"""
            SELECT ts, service, version, previous_version, author, description, attributes, id
            FROM deployments WHERE {where} ORDER BY ts
        """
        return [
            DeploymentRecord(_aware(ts), svc, ver, prev, author, desc, _attrs(attrs), rid)
            for ts, svc, ver, prev, author, desc, attrs, rid in self._query(sql, params)
        ]

    def services(self) -> list[ServiceSummary]:
        sql = """
            WITH seen AS (
                SELECT service, count(*) AS logs, 0 AS metrics, 0 AS deployments,
                       min(ts) AS first, max(ts) AS last, NULL AS version
                FROM logs GROUP BY service
                UNION ALL
                SELECT service, 0, count(*), 0, min(ts), max(ts), NULL
                FROM metrics GROUP BY service
                UNION ALL
                SELECT service, 0, 0, count(*), min(ts), max(ts), arg_max(version, ts)
                FROM deployments GROUP BY service
            )
            SELECT service, sum(logs), sum(metrics), sum(deployments), min(first), max(last),
                   max(version)
            FROM seen GROUP BY service ORDER BY service
        """
        return [
            ServiceSummary(s, int(lg), int(m), int(d), _aware(first), _aware(last), version)
            for s, lg, m, d, first, last, version in self._query(sql, [])
        ]

    def count(self, table: str) -> int:
        """Rows in `logs`, `metrics` or `deployments` (for tests and benchmarks)."""
        if table not in ("logs", "metrics", "deployments"):
            raise ValueError(f"no table {table!r}")
        return self._query(f"SELECT count(*) FROM {table}", [])[0][0]

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()


# --- conversions -------------------------------------------------------------

def _naive(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError("store queries take timezone-aware datetimes")
    return ts.astimezone(UTC).replace(tzinfo=None)


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC)


def _bucket(seconds: int) -> str:
    """The SQL of a row's time bucket, as epoch microseconds: an integer crosses into
    Python several times faster than a TIMESTAMP, and `_Instants` turns it into a datetime
    once per bucket rather than once per row."""
    return f"epoch_us(time_bucket(INTERVAL '{int(seconds)} seconds', ts))"


class _Instants:
    """Aware UTC datetimes from epoch microseconds, each built once per result (an
    aggregate has many rows per bucket; building datetimes was most of the cost of reading
    a large one)."""

    def __init__(self) -> None:
        self._built: dict[int, datetime] = {}

    def __call__(self, micros: int) -> datetime:
        instant = self._built.get(micros)
        if instant is None:
            instant = self._built[micros] = _EPOCH + timedelta(microseconds=micros)
        return instant


def _window(start: datetime, end: datetime, service: str | None) -> tuple[str, list[Any]]:
    where = "ts >= ? AND ts < ?"
    params: list[Any] = [_naive(start), _naive(end)]
    if service is not None:
        where += " AND service = ?"
        params.append(service)
    return where, params


def _attrs(raw: str | None) -> dict[str, Any]:
    return orjson.loads(raw) if raw else {}
