"""Backtest: run detection over a source's history on a simulated clock.

The monitor checks every `check_interval_seconds` of history exactly as it would live,
reading the sources through `FederatedSignals` (strict: a source that fails ends the
backtest with its reason, it is never read as a quiet fleet). Records given alongside
(deployments, or any NDJSON signals) go into a throw-away store first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from oasis.detect.settings import DetectSettings
from oasis.incidents.store import IncidentStore
from oasis.monitor.monitor import Monitor
from oasis.monitor.replay import ReplayResult
from oasis.signals.model import Signal
from oasis.signals.times import floor_minute
from oasis.sources import FederatedSignals, TelemetrySource
from oasis.store import DuckDBSignalStore


def backtest(sources: Sequence[TelemetrySource], start: datetime, end: datetime,
             settings: DetectSettings | None = None, records: Sequence[Signal] = (),
             progress: Callable[[datetime], None] | None = None) -> ReplayResult:
    """Incidents the monitor would have raised over [start, end) of the sources' history."""
    if end <= start:
        raise ValueError(f"the end ({end:%Y-%m-%dT%H:%MZ}) must be after the start")
    settings = settings or DetectSettings()
    interval = timedelta(seconds=settings.check_interval_seconds)
    result = ReplayResult([], len(records), start=floor_minute(start), end=end)
    with tempfile.TemporaryDirectory(prefix="oasis-backtest-") as tmp:
        store = DuckDBSignalStore(None, retention_days=0)
        incidents = IncidentStore(f"sqlite:///{Path(tmp) / 'state.db'}")
        try:
            if records:
                store.append(list(records))
            signals = FederatedSignals(store, sources, strict=True)
            monitor = Monitor(signals, incidents, settings)
            monitor.cursor = result.start
            clock = result.start + interval
            while clock <= end:
                monitor.check(clock)
                result.checks += 1
                if progress is not None:
                    progress(clock)
                clock += interval
            listed = sorted(incidents.list(limit=10_000), key=lambda x: x.detected_at)
            result.incidents = [incidents.get(x.id) for x in listed]
        finally:
            incidents.close()
            store.close()
    return result
