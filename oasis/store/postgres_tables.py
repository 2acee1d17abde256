"""The production signal store's tables in PostgreSQL, and how a `SignalBatch` becomes
their rows.

Sized by services x minutes, not by records: a minute of one service is a few rows of
log counts (one per level and error type), one row per metric name, one row per log
template seen in it (counted, with the newest line as its example) and, for records
that carry a client id, one small row per id for de-duplication. Raw records stay in the
user's log store. Aggregation happens in Arrow before anything is sent, so a batch of
20,000 records is a few hundred rows over the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()

#: Values kept per metric minute for its percentiles; past that, count, sum, min and max
#: stay exact and the percentiles come from the first values.
METRIC_SAMPLES = 256
#: Longest example line kept for a template.
MESSAGE_CHARS = 2000
# Numbers, hex words and ids vary between otherwise equal lines; masked, those lines
# share one template row (the monitor's template miner masks them the same way).
_VARIABLE = r"0[xX][0-9a-fA-F]+|[0-9a-fA-F]{8,}|[0-9]+"

log_minutes = sa.Table(
    "signal_log_minutes",
    metadata,
    sa.Column("minute", sa.DateTime, primary_key=True),
    sa.Column("service", sa.Text, primary_key=True),
    sa.Column("level", sa.String(8), primary_key=True),
    sa.Column("error_type", sa.Text, primary_key=True),  # '' for none
    sa.Column("count", sa.BigInteger, nullable=False),
)
metric_minutes = sa.Table(
    "signal_metric_minutes",
    metadata,
    sa.Column("minute", sa.DateTime, primary_key=True),
    sa.Column("service", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("lo", sa.Float, nullable=False),
    sa.Column("hi", sa.Float, nullable=False),
    sa.Column("samples", pg.ARRAY(sa.Float), nullable=False),
)
log_templates = sa.Table(
    "signal_log_templates",
    metadata,
    sa.Column("minute", sa.DateTime, primary_key=True),
    sa.Column("service", sa.Text, primary_key=True),
    sa.Column("level", sa.String(8), primary_key=True),
    sa.Column("fingerprint", sa.String(32), primary_key=True),  # md5 of the masked line
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("ts", sa.DateTime, nullable=False),  # the example line's
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("error_type", sa.Text),
    sa.Column("host", sa.Text),
    sa.Column("trace_id", sa.Text),
    sa.Column("span_id", sa.Text),
    sa.Column("attributes", sa.Text),
    sa.Column("record_id", sa.Text),
)
deployments = sa.Table(
    "signal_deployments",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text),
    sa.Column("ts", sa.DateTime, nullable=False, index=True),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("previous_version", sa.Text),
    sa.Column("author", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("attributes", sa.Text),
)
call_edges = sa.Table(
    "signal_call_edges",
    metadata,
    sa.Column("minute", sa.DateTime, primary_key=True),
    sa.Column("caller", sa.Text, primary_key=True),
    sa.Column("callee", sa.Text, primary_key=True),
    sa.Column("calls", sa.BigInteger, nullable=False),
)
signal_ids = sa.Table(
    "signal_ids",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("ts", sa.DateTime, nullable=False, index=True),
)
services = sa.Table(
    "signal_services",
    metadata,
    sa.Column("service", sa.Text, primary_key=True),
    sa.Column("logs", sa.BigInteger, nullable=False),
    sa.Column("metrics", sa.BigInteger, nullable=False),
    sa.Column("deployments", sa.BigInteger, nullable=False),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Column("last_signal", sa.DateTime),  # newest log or metric (not deployment)
    sa.Column("current_version", sa.Text),
    sa.Column("version_at", sa.DateTime),
)
# How each table takes a batch's rows: inserts that add up on conflict.
UPSERTS = {
    "log_minutes": """
        INSERT INTO signal_log_minutes (minute, service, level, error_type, count)
        VALUES (%(minute)s, %(service)s, %(level)s, %(error_type)s, %(count)s)
        ON CONFLICT (minute, service, level, error_type)
        DO UPDATE SET count = signal_log_minutes.count + excluded.count""",
    "metric_minutes": f"""
        INSERT INTO signal_metric_minutes AS m (minute, service, name, count, total, lo, hi,
                                                samples)
        VALUES (%(minute)s, %(service)s, %(name)s, %(count)s, %(total)s, %(lo)s, %(hi)s,
                %(samples)s)
        ON CONFLICT (minute, service, name) DO UPDATE SET
            count = m.count + excluded.count, total = m.total + excluded.total,
            lo = least(m.lo, excluded.lo), hi = greatest(m.hi, excluded.hi),
            samples = CASE WHEN cardinality(m.samples) >= {METRIC_SAMPLES} THEN m.samples
                           ELSE (m.samples || excluded.samples)[1:{METRIC_SAMPLES}] END""",
    "templates": """
        INSERT INTO signal_log_templates AS t (minute, service, level, fingerprint, count, ts,
            message, error_type, host, trace_id, span_id, attributes, record_id)
        VALUES (%(minute)s, %(service)s, %(level)s, md5(%(template)s), %(count)s, %(ts)s,
            %(message)s, %(error_type)s, %(host)s, %(trace_id)s, %(span_id)s, %(attributes)s,
            %(record_id)s)
        ON CONFLICT (minute, service, level, fingerprint) DO UPDATE SET
            count = t.count + excluded.count,
            ts = greatest(t.ts, excluded.ts),
            message = CASE WHEN excluded.ts >= t.ts THEN excluded.message ELSE t.message END,
            error_type = CASE WHEN excluded.ts >= t.ts THEN excluded.error_type
                              ELSE t.error_type END,
            host = CASE WHEN excluded.ts >= t.ts THEN excluded.host ELSE t.host END,
            trace_id = CASE WHEN excluded.ts >= t.ts THEN excluded.trace_id ELSE t.trace_id END,
            span_id = CASE WHEN excluded.ts >= t.ts THEN excluded.span_id ELSE t.span_id END,
            attributes = CASE WHEN excluded.ts >= t.ts THEN excluded.attributes
                              ELSE t.attributes END,
            record_id = CASE WHEN excluded.ts >= t.ts THEN excluded.record_id
                             ELSE t.record_id END""",
    "deployments": """
        INSERT INTO signal_deployments (id, ts, service, version, previous_version, author,
                                        description, attributes)
        VALUES (%(id)s, %(ts)s, %(service)s, %(version)s, %(previous_version)s, %(author)s,
                %(description)s, %(attributes)s)""",
    "services": """
        INSERT INTO signal_services AS s (service, logs, metrics, deployments, first_seen,
            last_seen, last_signal, current_version, version_at)
        VALUES (%(service)s, %(logs)s, %(metrics)s, %(deployments)s, %(first_seen)s,
            %(last_seen)s, %(last_signal)s, %(current_version)s, %(version_at)s)
        ON CONFLICT (service) DO UPDATE SET
            logs = s.logs + excluded.logs, metrics = s.metrics + excluded.metrics,
            deployments = s.deployments + excluded.deployments,
            first_seen = least(s.first_seen, excluded.first_seen),
            last_seen = greatest(s.last_seen, excluded.last_seen),
            last_signal = greatest(s.last_signal, excluded.last_signal),
            current_version = CASE WHEN excluded.version_at IS NOT NULL AND
                (s.version_at IS NULL OR excluded.version_at >= s.version_at)
                THEN excluded.current_version ELSE s.current_version END,
            version_at = greatest(s.version_at, excluded.version_at)""",
}

TIMED_TABLES = (
    "signal_log_minutes",
    "signal_metric_minutes",
    "signal_log_templates",
    "signal_call_edges",
)


@dataclass(frozen=True, slots=True)
class Rows:
    """One batch as rows per table: column name -> list, keys sorted (so concurrent
    writers lock rows in one order and never deadlock)."""

    log_minutes: dict[str, list[Any]]
    metric_minutes: dict[str, list[Any]]
    templates: dict[str, list[Any]]
    deployments: dict[str, list[Any]]
    services: dict[str, list[Any]]


def _minute(table: pa.Table) -> pa.Table:
    return table.append_column("minute", pc.floor_temporal(table.column("ts"), unit="minute"))


def _columns(table: pa.Table, keys: list[str]) -> dict[str, list[Any]]:
    table = table.sort_by([(k, "ascending") for k in keys])
    return {name: table.column(name).to_pylist() for name in table.column_names}


def log_minute_rows(logs: pa.Table) -> dict[str, list[Any]]:
    logs = _minute(logs).set_column(
        logs.schema.get_field_index("error_type"),
        "error_type",
        pc.fill_null(logs.column("error_type"), ""),
    )
    grouped = (
        logs.group_by(["minute", "service", "level", "error_type"])
        .aggregate([([], "count_all")])
        .rename_columns(["minute", "service", "level", "error_type", "count"])
    )
    return _columns(grouped, ["minute", "service", "level", "error_type"])


def template_rows(logs: pa.Table) -> dict[str, list[Any]]:
    masked = pc.utf8_slice_codeunits(
        pc.replace_substring_regex(logs.column("message"), _VARIABLE, "#"), 0, 500
    )
    logs = _minute(logs).append_column("template", masked).sort_by("ts")
    keys = ["minute", "service", "level", "template"]
    example = ["ts", "message", "error_type", "host", "trace_id", "span_id", "attributes", "id"]
    grouped = logs.group_by(keys, use_threads=False).aggregate(
        [([], "count_all")] + [(c, "last") for c in example]
    )
    grouped = grouped.rename_columns(
        ["count" if c == "count_all" else c.removesuffix("_last") for c in grouped.column_names]
    )
    out = _columns(grouped, keys)
    out["message"] = [m[:MESSAGE_CHARS] for m in out["message"]]
    out["record_id"] = out.pop("id")
    return out


def metric_minute_rows(metrics: pa.Table) -> dict[str, list[Any]]:
    grouped = (
        _minute(metrics)
        .group_by(["minute", "service", "name"], use_threads=False)
        .aggregate(
            [
                ([], "count_all"),
                ("value", "sum"),
                ("value", "min"),
                ("value", "max"),
                ("value", "list"),
            ]
        )
    )
    grouped = grouped.rename_columns(
        [c.replace("value_", "") if c.startswith("value_") else c for c in grouped.column_names]
    )
    out = _columns(grouped, ["minute", "service", "name"])
    return {
        "minute": out["minute"],
        "service": out["service"],
        "name": out["name"],
        "count": out["count_all"],
        "total": out["sum"],
        "lo": out["min"],
        "hi": out["max"],
        "samples": [v[:METRIC_SAMPLES] for v in out["list"]],
    }


def service_rows(tables: dict[str, pa.Table]) -> dict[str, list[Any]]:
    """Per service: records of each kind, first and last time, newest version."""
    seen: dict[str, dict[str, Any]] = {}
    for kind, table in tables.items():
        if not table.num_rows:
            continue
        grouped = table.group_by("service").aggregate(
            [([], "count_all"), ("ts", "min"), ("ts", "max")]
        )
        for service, n, lo, hi in zip(
            *(grouped.column(c).to_pylist() for c in ("service", "count_all", "ts_min", "ts_max")),
            strict=True,
        ):
            row = seen.setdefault(
                service,
                {
                    "logs": 0,
                    "metrics": 0,
                    "deployments": 0,
                    "first_seen": lo,
                    "last_seen": hi,
                    "last_signal": None,
                    "current_version": None,
                    "version_at": None,
                },
            )
            row[kind] += n
            row["first_seen"], row["last_seen"] = (
                min(row["first_seen"], lo),
                max(row["last_seen"], hi),
            )
            if kind != "deployments":
                row["last_signal"] = max(row["last_signal"] or hi, hi)
    deployed = tables.get("deployments")
    if deployed is not None and deployed.num_rows:
        for d in deployed.sort_by("ts").to_pylist():
            seen[d["service"]]["current_version"] = d["version"]
            seen[d["service"]]["version_at"] = d["ts"]
    names = sorted(seen)
    columns = [
        "logs",
        "metrics",
        "deployments",
        "first_seen",
        "last_seen",
        "last_signal",
        "current_version",
        "version_at",
    ]
    return {"service": names, **{c: [seen[s][c] for s in names] for c in columns}}


def batch_rows(tables: dict[str, pa.Table]) -> Rows:
    empty: dict[str, list[Any]] = {}
    logs, metrics, deployed = (tables.get(k) for k in ("logs", "metrics", "deployments"))
    has = lambda t: t is not None and t.num_rows > 0  # noqa: E731
    return Rows(
        log_minutes=log_minute_rows(logs) if has(logs) else empty,
        metric_minutes=metric_minute_rows(metrics) if has(metrics) else empty,
        templates=template_rows(logs) if has(logs) else empty,
        deployments=_columns(deployed, ["ts"]) if has(deployed) else empty,
        services=service_rows(tables),
    )
