"""The store's aggregates against a naive count in Python, and replay's read-ahead against
the store it reads: faster reads must give the same answers."""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from oasis.monitor.readahead import ReadAhead
from oasis.signals import CallEdge, parse_record
from oasis.store import DuckDBSignalStore
from tests.helpers import T0, deployment, log, metric

SERVICES = ("checkout", "gateway", "db")
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def _fleet(seed: int, minutes: int = 90) -> list[dict]:
    """Random logs (timestamps shared, to make ties), metrics, deployments over `minutes`."""
    rng = random.Random(seed)
    docs: list[dict] = []
    for i in range(minutes * 12):
        at = round(rng.uniform(0, minutes), 2) if i % 5 else float(rng.randrange(minutes))
        level = rng.choice(LEVELS)
        error_type = (
            rng.choice([None, "Timeout", "Refused"]) if level in ("ERROR", "FATAL") else None
        )
        docs.append(
            log(
                at,
                service=rng.choice(SERVICES),
                level=level,
                message=f"line {i}",
                error_type=error_type,
            )
        )
    for m in range(minutes):
        for service in SERVICES:
            for _ in range(rng.randint(0, 3)):
                docs.append(metric(m + rng.random(), rng.uniform(0, 100), service=service))
    docs += [deployment(rng.uniform(0, minutes), f"1.{n}") for n in range(4)]
    return docs


@pytest.fixture
def filled(store: DuckDBSignalStore) -> tuple[DuckDBSignalStore, list]:
    records = sorted((parse_record(d) for d in _fleet(7)), key=lambda r: r.timestamp)
    store.append(records)
    store.append_call_edges(
        [CallEdge(T0 + timedelta(minutes=m), "gateway", "checkout", m + 1) for m in range(0, 90, 7)]
    )
    return store, records


def _bucket(ts: datetime, seconds: int) -> datetime:
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


@pytest.mark.parametrize("seconds", [60, 300])
def test_log_counts_match_a_naive_count(filled, seconds: int) -> None:
    store, records = filled
    start, end = T0 + timedelta(minutes=5), T0 + timedelta(minutes=80)
    inside = [r for r in records if r.type == "log" and start <= r.timestamp < end]
    by_level = Counter((_bucket(r.timestamp, seconds), r.service, r.level.value) for r in inside)
    errors = [r for r in inside if r.level.value in ("ERROR", "FATAL")]
    by_type = Counter((_bucket(r.timestamp, seconds), r.service, r.error_type) for r in errors)

    got = store.log_counts(start, end, bucket_seconds=seconds)
    assert {(c.bucket, c.service, c.key): c.count for c in got} == by_level
    assert all(c.bucket.tzinfo is not None and c.bucket.utcoffset() == timedelta(0) for c in got)
    assert [(c.bucket, c.service, c.key) for c in got] == sorted(by_level)
    typed = store.log_counts(start, end, bucket_seconds=seconds, by="error_type", errors_only=True)
    assert {(c.bucket, c.service, c.key): c.count for c in typed} == by_type


def test_metric_stats_match_a_naive_summary(filled) -> None:
    store, records = filled
    start, end = T0, T0 + timedelta(minutes=90)
    values = defaultdict(list)
    for r in records:
        if r.type == "metric":
            values[(_bucket(r.timestamp, 60), r.service, r.name)].append(r.value)
    got = {(s.bucket, s.service, s.name): s for s in store.metric_stats(start, end)}
    assert set(got) == set(values)
    for key, vs in values.items():
        s = got[key]
        assert (s.count, s.min, s.max) == (len(vs), min(vs), max(vs))
        assert s.mean == pytest.approx(statistics.fmean(vs))
        assert s.p50 == pytest.approx(statistics.median(vs))


def test_call_edges_are_summed_per_minute(filled) -> None:
    store, _ = filled
    store.append_call_edges(
        [CallEdge(T0 + timedelta(minutes=7, seconds=30), "gateway", "checkout", 100)]
    )
    edges = store.call_edges(T0, T0 + timedelta(minutes=15))
    assert [(e.bucket, e.calls) for e in edges] == [
        (T0, 1),
        (T0 + timedelta(minutes=7), 108),
        (T0 + timedelta(minutes=14), 15),
    ]


def test_read_ahead_answers_every_check_window_as_the_store_does(filled) -> None:
    store, _ = filled
    ahead = ReadAhead(store, minutes=20)
    # The monitor's windows: a long first one, then minute after minute.
    windows = [(T0 - timedelta(days=8), T0 + timedelta(minutes=2))]
    windows += [(T0 + timedelta(minutes=m), T0 + timedelta(minutes=m + 1)) for m in range(2, 95)]
    windows += [(T0 + timedelta(minutes=30), T0 + timedelta(minutes=33))]  # not in order
    for start, end in windows:
        assert ahead.log_counts(start, end) == store.log_counts(start, end)
        assert ahead.log_counts(start, end, by="error_type", errors_only=True) == store.log_counts(
            start, end, by="error_type", errors_only=True
        )
        assert ahead.metric_stats(start, end) == store.metric_stats(start, end)
        assert ahead.deployments(start, end) == store.deployments(start, end)
        assert ahead.call_edges(start, end) == store.call_edges(start, end)
        assert ahead.read_logs(start, end) == store.read_logs(start, end)
        # A limit smaller than a span's lines: the span is cut, the answers are not.
        assert ahead.read_logs(start, end, limit=3) == store.read_logs(start, end, limit=3)
    # What the read-ahead does not cover goes to the store as asked.
    start, end = T0 + timedelta(minutes=3, seconds=20), T0 + timedelta(minutes=9)
    assert ahead.log_counts(start, end, service="db") == store.log_counts(start, end, service="db")
    assert ahead.log_counts(start, end) == store.log_counts(start, end)
    assert ahead.services() == store.services()


def test_read_logs_keeps_arrival_order_among_equal_timestamps(store: DuckDBSignalStore) -> None:
    store.append([parse_record(log(1, message=f"m{i}")) for i in range(50)])
    lines = store.read_logs(T0, T0 + timedelta(minutes=5))
    assert [x.message for x in lines] == [f"m{i}" for i in range(50)]
