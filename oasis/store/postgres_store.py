"""The production signal store: per-minute aggregates in PostgreSQL that any number of
`oasis serve` replicas write at once (tables: `oasis.store.postgres_tables`).

A batch is aggregated in Arrow, then added in ONE transaction: its client ids first
(`INSERT .. ON CONFLICT DO NOTHING RETURNING`, so of two replicas given the same record
exactly one counts it), then the aggregates as upserts that add up. Rows are written in
one order (table by table, keys sorted), so concurrent writers wait for each other but
never deadlock; if PostgreSQL still aborts one (a serialisation failure), the whole batch
is tried again. When `append_batch` returns, every accepted record is in the aggregates.

Reads answer the `SignalStore` questions from the aggregates. Windows are by minute: a
window starting mid-minute includes that whole minute. `read_logs` gives each template's
example line as many times as the template was counted (up to `READ_REPEAT`), which is
what the monitor's template miner and call-graph learning need.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from oasis.signals import ERROR_LEVELS, CallEdge, DeploymentRecord, Level, LogRecord, Signal
from oasis.signals.retry import Backoff, with_retries
from oasis.store.base import (
    AppendResult,
    LogCount,
    LogGroup,
    MetricStats,
    RetentionResult,
    ServiceSummary,
)
from oasis.store.batch import SignalBatch
from oasis.store.postgres_tables import TIMED_TABLES, UPSERTS, Rows, batch_rows, metadata

READ_REPEAT = 1000  # most copies of one template's example line per minute in read_logs
_ERRORS = tuple(lvl.value for lvl in ERROR_LEVELS)
_RETRY = Backoff(0.05, 1.0, jitter=0.5)


class PostgresSignalStore:
    """`SignalStore` over aggregates in a PostgreSQL database several processes share."""

    def __init__(
        self,
        url: str,
        *,
        retention_days: float = 14.0,
        create_tables: bool = True,
        pool_size: int = 5,
    ) -> None:
        self.url = url
        self.retention = timedelta(days=retention_days) if retention_days > 0 else None
        self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size)
        if create_tables:  # production runs `oasis db upgrade` first; this is a no-op then
            metadata.create_all(self.engine)
        self._local = threading.local()

    # --- writing -----------------------------------------------------------

    def append(self, records: Sequence[Signal]) -> AppendResult:
        return self.append_batch(SignalBatch.from_records(records))

    def append_batch(self, batch: SignalBatch) -> AppendResult:
        if not len(batch):
            return AppendResult(accepted=0, duplicates=0)
        tried = with_retries(
            lambda: self._append_once(batch),
            attempts=5,
            backoff=_RETRY,
            retry_on=(sa.exc.OperationalError,),
        )
        if not tried.ok:
            assert tried.error is not None
            raise tried.error
        assert tried.result is not None
        return tried.result

    def _append_once(self, batch: SignalBatch) -> AppendResult:
        with self.engine.begin() as conn:
            tables, duplicates = _drop_known_ids(
                conn, {name: _without_nul(t) for name, t in batch.tables.items()}
            )
            rows = batch_rows(tables)
            for name in ("log_minutes", "metric_minutes", "templates", "deployments", "services"):
                _execute_many(conn, UPSERTS[name], getattr(rows, name))
        accepted = sum(t.num_rows for t in tables.values())
        return AppendResult(accepted=accepted, duplicates=duplicates)

    def append_call_edges(self, edges: Sequence[CallEdge]) -> None:
        if not edges:
            return
        summed: dict[tuple[datetime, str, str], int] = {}
        for e in edges:
            key = (_naive(e.bucket).replace(second=0, microsecond=0), e.caller, e.callee)
            summed[key] = summed.get(key, 0) + e.calls
        rows = [
            {"minute": m, "caller": a, "callee": b, "calls": n}
            for (m, a, b), n in sorted(summed.items())
        ]
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO signal_call_edges (minute, caller, callee, calls) VALUES "
                "(%(minute)s, %(caller)s, %(callee)s, %(calls)s) ON CONFLICT "
                "(minute, caller, callee) DO UPDATE SET calls = signal_call_edges.calls + "
                "excluded.calls",
                rows,
            )

    def apply_retention(self, now: datetime) -> RetentionResult:
        if self.retention is None:
            return RetentionResult(
                cutoff=datetime.min.replace(tzinfo=UTC), logs=0, metrics=0, deployments=0
            )
        cutoff = now - self.retention
        at = _naive(cutoff)
        with self.engine.begin() as conn:
            logs = conn.exec_driver_sql(
                "WITH d AS (DELETE FROM signal_log_minutes WHERE minute < %s RETURNING count)"
                " SELECT coalesce(sum(count), 0) FROM d",
                (at,),
            ).scalar_one()
            metrics = conn.exec_driver_sql(
                "WITH d AS (DELETE FROM signal_metric_minutes WHERE minute < %s RETURNING "
                "count) SELECT coalesce(sum(count), 0) FROM d",
                (at,),
            ).scalar_one()
            for table in TIMED_TABLES[2:]:
                conn.exec_driver_sql(f"DELETE FROM {table} WHERE minute < %s", (at,))
            deployments = conn.exec_driver_sql(
                "DELETE FROM signal_deployments WHERE ts < %s", (at,)
            ).rowcount
            conn.exec_driver_sql("DELETE FROM signal_ids WHERE ts < %s", (at,))
        return RetentionResult(
            cutoff=cutoff, logs=int(logs), metrics=int(metrics), deployments=deployments
        )

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
        where, params = _window("minute", start, end, service)
        if errors_only:
            where += " AND level = ANY(%(errors)s)"
            params["errors"] = list(_ERRORS)
        key = "level" if by == "level" else "nullif(error_type, '')"
        sql = f"""SELECT {_bucket(bucket_seconds)} AS b, service, {key} AS k, sum(count)
                  FROM signal_log_minutes WHERE {where}
                  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
        return [LogCount(_aware(b), s, k, int(n)) for b, s, k, n in self._query(sql, params)]

    def metric_stats(
        self,
        start: datetime,
        end: datetime,
        *,
        bucket_seconds: int = 60,
        service: str | None = None,
        name: str | None = None,
    ) -> list[MetricStats]:
        where, params = _window("minute", start, end, service)
        if name is not None:
            where += " AND name = %(name)s"
            params["name"] = name
        sql = f"""
            WITH r AS (SELECT {_bucket(bucket_seconds)} AS b, service, name, count, total, lo,
                              hi, samples FROM signal_metric_minutes WHERE {where}),
            agg AS (SELECT b, service, name, sum(count) AS c, sum(total) AS t, min(lo) AS lo,
                           max(hi) AS hi FROM r GROUP BY 1, 2, 3),
            pct AS (SELECT b, service, name, percentile_cont(ARRAY[0.5, 0.9, 0.99])
                           WITHIN GROUP (ORDER BY v) AS q
                    FROM r, unnest(r.samples) AS v GROUP BY 1, 2, 3)
            SELECT agg.b, agg.service, agg.name, agg.c, agg.t / agg.c, agg.lo, agg.hi, pct.q
            FROM agg JOIN pct USING (b, service, name) ORDER BY 1, 2, 3"""
        return [
            MetricStats(_aware(b), s, n, int(c), mean, lo, hi, q[0], q[1], q[2])
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
        where, params = _window("minute", start, end, service)
        if errors_only:
            where += " AND level = ANY(%(errors)s)"
            params["errors"] = list(_ERRORS)
        sql = f"""SELECT {_LINE} FROM signal_log_templates WHERE {where}
                  ORDER BY ts DESC LIMIT {int(limit)}"""
        return [_line(r) for r in self._query(sql, params)]

    def read_logs(
        self,
        start: datetime,
        end: datetime,
        *,
        levels: Sequence[Level] | None = None,
        limit: int = 100_000,
    ) -> list[LogRecord]:
        where, params = _window("minute", start, end, None)
        if levels:
            where += " AND level = ANY(%(levels)s)"
            params["levels"] = [lvl.value for lvl in levels]
        sql = f"""SELECT {_LINE} FROM signal_log_templates,
                         generate_series(1, least(count, {READ_REPEAT}))
                  WHERE {where} ORDER BY ts LIMIT {int(limit)}"""
        return [_line(r) for r in self._query(sql, params)]

    def call_edges(self, start: datetime, end: datetime) -> list[CallEdge]:
        where, params = _window("minute", start, end, None)
        sql = f"""SELECT minute, caller, callee, calls FROM signal_call_edges WHERE {where}
                  ORDER BY 1, 2, 3"""
        return [CallEdge(_aware(m), a, b, int(n)) for m, a, b, n in self._query(sql, params)]

    def latest_timestamp(self) -> datetime | None:
        rows = self._query("SELECT max(last_signal) FROM signal_services", {})
        return _aware(rows[0][0]) if rows and rows[0][0] is not None else None

    def deployments(
        self, start: datetime, end: datetime, *, service: str | None = None
    ) -> list[DeploymentRecord]:
        where, params = _window("ts", start, end, service)
        sql = f"""SELECT ts, service, version, previous_version, author, description,
                         attributes, id FROM signal_deployments WHERE {where} ORDER BY ts, seq"""
        return [
            DeploymentRecord(_aware(ts), svc, ver, prev, author, desc, _attrs(attrs), rid)
            for ts, svc, ver, prev, author, desc, attrs, rid in self._query(sql, params)
        ]

    def services(self) -> list[ServiceSummary]:
        sql = """SELECT service, logs, metrics, deployments, first_seen, last_seen,
                        current_version FROM signal_services ORDER BY service"""
        return [
            ServiceSummary(s, int(lg), int(m), int(d), _aware(a), _aware(b), v)
            for s, lg, m, d, a, b, v in self._query(sql, {})
        ]

    def count(self, table: str) -> int:
        """Records counted in `logs`, `metrics` or `deployments` (tests and benchmarks)."""
        sql = {
            "logs": "SELECT coalesce(sum(count), 0) FROM signal_log_minutes",
            "metrics": "SELECT coalesce(sum(count), 0) FROM signal_metric_minutes",
            "deployments": "SELECT count(*) FROM signal_deployments",
        }.get(table)
        if sql is None:
            raise ValueError(f"no table {table!r}")
        return int(self._query(sql, {})[0][0])

    def close(self) -> None:
        self.engine.dispose()

    def _query(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql, params).all()]


# --- helpers -----------------------------------------------------------------

_LINE = "ts, service, level, message, error_type, host, trace_id, span_id, attributes, record_id"


def _line(row: tuple[Any, ...]) -> LogRecord:
    ts, svc, level, msg, et, host, trace, span, attrs, rid = row
    return LogRecord(_aware(ts), svc, Level(level), msg, et, host, trace, span, _attrs(attrs), rid)


def _drop_known_ids(
    conn: Connection, tables: dict[str, pa.Table]
) -> tuple[dict[str, pa.Table], int]:
    """Claim the batch's ids; keep only rows whose id is new (or absent), once each."""
    ids: list[str] = []
    stamps: list[datetime] = []
    for table in tables.values():
        with_id = table.filter(pc.is_valid(table.column("id")))
        ids += with_id.column("id").to_pylist()
        stamps += with_id.column("ts").to_pylist()
    if not ids:
        return tables, 0
    fresh = {
        r[0]
        for r in conn.exec_driver_sql(
            "INSERT INTO signal_ids (id, ts) SELECT * FROM unnest(%s::text[], %s::timestamp[]) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (ids, stamps),
        ).all()
    }
    kept, duplicates = {}, 0
    for name, table in tables.items():
        mask = []
        for record_id in table.column("id").to_pylist():
            keep = record_id is None or record_id in fresh
            if record_id is not None:
                fresh.discard(record_id)  # a second copy in this batch is a duplicate
            mask.append(keep)
        kept[name] = table.filter(pa.array(mask, pa.bool_()))
        duplicates += table.num_rows - kept[name].num_rows
    return kept, duplicates


def _without_nul(table: pa.Table) -> pa.Table:
    """PostgreSQL text cannot hold U+0000, which log lines sometimes do: it becomes U+FFFD
    (as an unreadable byte would), instead of failing the whole batch."""
    for i, f in enumerate(table.schema):
        if pa.types.is_string(f.type):
            table = table.set_column(
                i, f.name, pc.replace_substring(table.column(i), "\x00", "\ufffd")
            )
    return table


def _execute_many(conn: Connection, sql: str, columns: dict[str, list[Any]]) -> None:
    if not columns or not next(iter(columns.values())):
        return
    names = list(columns)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    conn.exec_driver_sql(sql, rows)


def _bucket(seconds: int) -> str:
    return f"date_bin(interval '{int(seconds)} seconds', minute, timestamp '1970-01-01')"


def _naive(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError("store queries take timezone-aware datetimes")
    return ts.astimezone(UTC).replace(tzinfo=None)


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC)


def _window(
    column: str, start: datetime, end: datetime, service: str | None
) -> tuple[str, dict[str, Any]]:
    if column == "minute":  # a window starting mid-minute includes that minute
        start = start.replace(second=0, microsecond=0)
    where = f"{column} >= %(start)s AND {column} < %(end)s"
    params: dict[str, Any] = {"start": _naive(start), "end": _naive(end)}
    if service is not None:
        where += " AND service = %(service)s"
        params["service"] = service
    return where, params


def _attrs(raw: str | None) -> dict[str, Any]:
    return orjson.loads(raw) if raw else {}


__all__ = ["READ_REPEAT", "PostgresSignalStore", "Rows"]
