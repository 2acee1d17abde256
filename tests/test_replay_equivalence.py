"""Replay (one append, reads an hour ahead) raises exactly the incidents the monitor raises
when fed minute by minute and reading the store directly, as it does live."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oasis.detect.settings import DetectSettings
from oasis.incidents.store import IncidentStore
from oasis.independent_sim import generate
from oasis.monitor.monitor import Monitor
from oasis.monitor.replay import replay
from oasis.signals import parse_record
from oasis.signals.times import floor_minute
from oasis.store import DuckDBSignalStore


def _fed_minute_by_minute(records: list) -> list[dict]:
    settings = DetectSettings()
    signals = sorted(records, key=lambda r: r.timestamp)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBSignalStore(None, retention_days=0)
        incidents = IncidentStore(f"sqlite:///{Path(tmp) / 'state.db'}")
        monitor = Monitor(store, incidents, settings)
        clock = floor_minute(signals[0].timestamp) + timedelta(minutes=1)
        i = 0
        while i < len(signals) or clock <= signals[-1].timestamp + timedelta(minutes=1):
            j = i
            while j < len(signals) and signals[j].timestamp < clock:
                j += 1
            if j > i:
                store.append(signals[i:j])
                i = j
            monitor.check(clock)
            clock += timedelta(minutes=1)
        found = sorted(incidents.list(limit=1000), key=lambda x: x.detected_at)
        out = [_comparable(incidents.get(x.id)) for x in found]
        incidents.close()
        store.close()
    return out


def _comparable(incident) -> dict:
    out = incident.to_dict(timeline=True)
    out.pop("id")
    return out


@pytest.mark.slow
def test_replay_raises_the_incidents_of_a_minute_by_minute_feed() -> None:
    run = generate("bad_release", seed=3, hours=1.5, start=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    records = [parse_record(r) for r in run.records()]
    replayed = [_comparable(i) for i in replay(records).incidents]
    assert replayed, "the scenario should raise an incident"
    assert replayed == _fed_minute_by_minute(records)
