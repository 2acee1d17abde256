"""Small builders for test signals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def log(minute: float, service: str = "checkout", level: str = "INFO", message: str = "ok",
        **extra: Any) -> dict[str, Any]:
    ts = T0 + timedelta(minutes=minute)
    return {"type": "log", "timestamp": ts.isoformat(), "service": service, "level": level,
            "message": message, **extra}


def metric(minute: float, value: float, service: str = "checkout",
           name: str = "latency_p99_ms", **extra: Any) -> dict[str, Any]:
    ts = T0 + timedelta(minutes=minute)
    return {"type": "metric", "timestamp": ts.isoformat(), "service": service, "name": name,
            "value": value, **extra}


def deployment(minute: float, version: str, service: str = "checkout",
               **extra: Any) -> dict[str, Any]:
    ts = T0 + timedelta(minutes=minute)
    return {"type": "deployment", "timestamp": ts.isoformat(), "service": service,
            "version": version, **extra}


def ndjson(*docs: Any) -> bytes:
    return b"".join(orjson.dumps(d) + b"\n" for d in docs)
