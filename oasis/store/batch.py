"""`SignalBatch`: checked records in columnar (Arrow) form, the unit a store appends.

Columns, not objects, because they cross process boundaries cheaply (parallel
ingest parses in worker processes and ships Arrow IPC bytes back) and go into
DuckDB in one vectorised insert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from oasis.signals import DeploymentRecord, LogRecord, MetricRecord, Signal

_TS_AWARE = pa.timestamp("us", tz="UTC")
#: Stored timestamps are naive UTC, so no session time zone can shift them.
TIMESTAMP = pa.timestamp("us")

LOG_SCHEMA = pa.schema([
    ("id", pa.string()), ("ts", TIMESTAMP), ("service", pa.string()), ("level", pa.string()),
    ("message", pa.string()), ("error_type", pa.string()), ("host", pa.string()),
    ("trace_id", pa.string()), ("span_id", pa.string()), ("attributes", pa.string()),
])
METRIC_SCHEMA = pa.schema([
    ("id", pa.string()), ("ts", TIMESTAMP), ("service", pa.string()), ("name", pa.string()),
    ("value", pa.float64()), ("unit", pa.string()), ("host", pa.string()),
    ("attributes", pa.string()),
])
DEPLOYMENT_SCHEMA = pa.schema([
    ("id", pa.string()), ("ts", TIMESTAMP), ("service", pa.string()), ("version", pa.string()),
    ("previous_version", pa.string()), ("author", pa.string()), ("description", pa.string()),
    ("attributes", pa.string()),
])
TABLES: dict[str, pa.Schema] = {
    "logs": LOG_SCHEMA, "metrics": METRIC_SCHEMA, "deployments": DEPLOYMENT_SCHEMA,
}


@dataclass(frozen=True, slots=True)
class SignalBatch:
    """Records grouped by kind, one Arrow table per store table (`logs`, `metrics`, ...)."""

    tables: dict[str, pa.Table]

    @classmethod
    def from_records(cls, records: Sequence[Signal]) -> SignalBatch:
        logs = [r for r in records if r.type == "log"]
        metrics = [r for r in records if r.type == "metric"]
        deployments = [r for r in records if r.type == "deployment"]
        tables = {}
        if logs:
            tables["logs"] = pa.table(_log_columns(logs), schema=LOG_SCHEMA)
        if metrics:
            tables["metrics"] = pa.table(_metric_columns(metrics), schema=METRIC_SCHEMA)
        if deployments:
            tables["deployments"] = pa.table(_deployment_columns(deployments),
                                             schema=DEPLOYMENT_SCHEMA)
        return cls(tables)

    def __len__(self) -> int:
        return sum(t.num_rows for t in self.tables.values())

    def to_ipc(self) -> dict[str, bytes]:
        out = {}
        for name, table in self.tables.items():
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            out[name] = sink.getvalue().to_pybytes()
        return out

    @classmethod
    def from_ipc(cls, data: dict[str, bytes]) -> SignalBatch:
        return cls({name: pa.ipc.open_stream(raw).read_all() for name, raw in data.items()})


def _timestamps(records: Sequence[Signal]) -> pa.Array:
    # Arrow keeps UTC instants internally, so dropping the zone is a relabel, not a shift.
    return pa.array([r.timestamp for r in records], _TS_AWARE).cast(TIMESTAMP)


def _strings(records: Sequence[Any], getter: Callable[[Any], Any]) -> list[Any]:
    return [getter(r) for r in records]


def _attributes(records: Sequence[Signal]) -> list[str | None]:
    return [orjson.dumps(r.attributes).decode() if r.attributes else None for r in records]


def _log_columns(records: Sequence[LogRecord]) -> dict[str, Any]:
    # One pass building a row tuple per record, transposed in C: a comprehension per
    # column costs a Python call per field per record (a third of the time, measured).
    (ids, services, levels, messages, error_types, hosts, trace_ids, span_ids) = (
        zip(*[(r.id, r.service, r.level.value, r.message, r.error_type, r.host, r.trace_id,
               r.span_id) for r in records], strict=True))
    return {
        "id": list(ids),
        "ts": _timestamps(records),
        "service": list(services),
        "level": list(levels),
        "message": list(messages),
        "error_type": list(error_types),
        "host": list(hosts),
        "trace_id": list(trace_ids),
        "span_id": list(span_ids),
        "attributes": _attributes(records),
    }


def _metric_columns(records: Sequence[MetricRecord]) -> dict[str, Any]:
    return {
        "id": _strings(records, lambda r: r.id),
        "ts": _timestamps(records),
        "service": _strings(records, lambda r: r.service),
        "name": _strings(records, lambda r: r.name),
        "value": [r.value for r in records],
        "unit": _strings(records, lambda r: r.unit),
        "host": _strings(records, lambda r: r.host),
        "attributes": _attributes(records),
    }


def _deployment_columns(records: Sequence[DeploymentRecord]) -> dict[str, Any]:
    return {
        "id": _strings(records, lambda r: r.id),
        "ts": _timestamps(records),
        "service": _strings(records, lambda r: r.service),
        "version": _strings(records, lambda r: r.version),
        "previous_version": _strings(records, lambda r: r.previous_version),
        "author": _strings(records, lambda r: r.author),
        "description": _strings(records, lambda r: r.description),
        "attributes": _attributes(records),
    }
