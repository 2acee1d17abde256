"""Replay recorded signals through the live pipeline on a simulated clock.

Records go in time order into a throw-away signal store and incident database, and the
monitor checks every `check_interval_seconds` of record time, exactly as it would live:
each check reads only the minutes that ended by its clock. No network, no model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from oasis.detect.settings import DetectSettings
from oasis.incidents.model import Incident
from oasis.incidents.store import IncidentStore
from oasis.ingest import open_source
from oasis.monitor.monitor import Monitor
from oasis.monitor.readahead import ReadAhead
from oasis.signals.model import Signal
from oasis.signals.parse import RecordError, parse_line, parse_record
from oasis.signals.times import floor_minute
from oasis.store import DuckDBSignalStore


@dataclass
class ReplayResult:
    incidents: list[Incident]
    records: int
    rejected: list[tuple[str, int, str]] = field(default_factory=list)  # (source, line, why)
    checks: int = 0
    start: datetime | None = None
    end: datetime | None = None
    inspected: Any = None


def read_signals(paths: Iterable[str], rejected: list[tuple[str, int, str]]) -> list[Signal]:
    """Parse NDJSON files (gzip, `-`); bad lines are listed in `rejected`, not fatal."""
    records: list[Signal] = []
    for path in paths:
        with open_source(path) as source:
            for number, line in enumerate(source.lines, 1):
                if not line.strip():
                    continue
                try:
                    records.append(parse_line(line))
                except RecordError as exc:
                    rejected.append((source.name, number, str(exc)))
    return records


def replay(records: Iterable[Signal | dict],
           settings: DetectSettings | None = None,
           inspect: Callable[[Monitor], Any] | None = None,
           on_check: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Run detection over `records` (parsed, or wire dicts) as the live monitor would.

    `on_check(done, total)` follows the simulated clock, one call per detection check.

    `inspect` is called with the monitor (its stores still open) once the replay is over;
    what it returns is kept as `inspected` (the agent evals investigate from there).
    """
    settings = settings or DetectSettings()
    signals = sorted((r if not isinstance(r, dict) else parse_record(r) for r in records),
                     key=lambda r: r.timestamp)
    result = ReplayResult([], len(signals))
    if not signals:
        return result
    interval = timedelta(seconds=settings.check_interval_seconds)
    with tempfile.TemporaryDirectory(prefix="oasis-replay-") as tmp:
        store = DuckDBSignalStore(None, retention_days=0)
        incidents = IncidentStore(f"sqlite:///{Path(tmp) / 'state.db'}")
        try:
            monitor = Monitor(ReadAhead(store), incidents, settings)
            result.start = floor_minute(signals[0].timestamp)
            result.end = signals[-1].timestamp
            # One append, not one per check: a check reads only minutes that ended by its
            # clock, so records stamped later cannot change it, and the rows are stored in
            # the same (time) order as when fed minute by minute.
            store.append(signals)
            clock = result.start + interval
            total = int((result.end - result.start) / interval) + 1
            while True:
                monitor.check(clock)
                result.checks += 1
                if on_check is not None:
                    on_check(result.checks, total)
                if clock > result.end:
                    break
                clock += interval
            result.incidents = sorted(incidents.list(limit=10_000),
                                      key=lambda x: x.detected_at)
            result.incidents = [incidents.get(x.id) for x in result.incidents]
            if inspect is not None:
                result.inspected = inspect(monitor)
        finally:
            incidents.close()
            store.close()
    return result
