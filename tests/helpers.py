"""Small builders for test signals, and waiting for what other threads and processes do."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

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


def seed_bad_deploy_incident(settings: Any, incident_id: str = "inc-1",
                             service: str = "api") -> None:
    """An analysed incident whose suspected change a rollback would undo, in the settings'
    state database, for tests of what people decide about it."""
    from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent

    now = datetime.now(UTC).replace(microsecond=0)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = IncidentStore(settings.incident_db_url)
    store.create(Incident(incident_id, Status.ANALYSIS_COMPLETE, Severity.HIGH, "errors",
                          [service], service, now, now, now, suspected_change={
                              "service": service, "version": "2", "previous_version": "1",
                              "minutes_before_onset": 1}),
                 TimelineEvent(now, "detected", "seen"))
    store.close()


FLEET_NOWHERE = {"executors": [{"type": "fleet", "name": "sim", "url": "http://127.0.0.1:9",
                                "kinds": ["rollback"]}]}


def wait_until(predicate: Callable[[], T], timeout: float = 30, *, what: str = "the condition",
               interval: float = 0.05, process: subprocess.Popen | None = None) -> T:
    """Call `predicate` until it returns something truthy, and return that.

    For work another thread or process does in its own time (a background loop's next
    pass, a server starting). The timeout is generous on purpose: a slow machine waits
    longer, it does not fail. With `process`, fail at once if it exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"process exited ({process.returncode}) while waiting for "
                                 f"{what}:\n{output}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
