"""The embedded store: windowed aggregation, idempotency, retention, persistence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from oasis.signals import parse_record
from oasis.store import DuckDBSignalStore, StoreLockedError
from tests.helpers import T0, deployment, log, metric


def _records(*docs):
    return [parse_record(d) for d in docs]


def test_error_counts_per_service_per_minute(store: DuckDBSignalStore) -> None:
    store.append(_records(
        log(0.1, level="ERROR", error_type="Timeout"), log(0.5, level="FATAL"),
        log(0.7, level="INFO"), log(1.2, level="ERROR", error_type="Timeout"),
        log(1.3, service="gateway", level="ERROR"), log(90, level="ERROR"),
    ))
    counts = store.log_counts(T0, T0 + timedelta(minutes=60), errors_only=True)
    got = {(c.bucket, c.service, c.key): c.count for c in counts}
    assert got == {
        (T0, "checkout", "ERROR"): 1,
        (T0, "checkout", "FATAL"): 1,
        (T0 + timedelta(minutes=1), "checkout", "ERROR"): 1,
        (T0 + timedelta(minutes=1), "gateway", "ERROR"): 1,
    }
    by_type = store.log_counts(T0, T0 + timedelta(minutes=2), by="error_type", errors_only=True,
                               service="checkout")
    assert {(c.bucket, c.key): c.count for c in by_type} == {
        (T0, "Timeout"): 1, (T0, None): 1, (T0 + timedelta(minutes=1), "Timeout"): 1}


def test_window_is_half_open(store: DuckDBSignalStore) -> None:
    store.append(_records(log(0), log(5)))
    counts = store.log_counts(T0, T0 + timedelta(minutes=5), bucket_seconds=3600)
    assert sum(c.count for c in counts) == 1


def test_metric_percentiles(store: DuckDBSignalStore) -> None:
    store.append(_records(*(metric(i / 101, float(i)) for i in range(101))))
    (stats,) = store.metric_stats(T0, T0 + timedelta(minutes=1))
    assert stats.count == 101
    assert (stats.min, stats.max, stats.mean) == (0.0, 100.0, 50.0)
    assert stats.p50 == pytest.approx(50.0)
    assert stats.p90 == pytest.approx(90.0)
    assert stats.p99 == pytest.approx(99.0)


def test_duplicate_ids_are_stored_once(store: DuckDBSignalStore) -> None:
    first = store.append(_records(log(0, id="a"), log(0, id="b"), log(0)))
    assert (first.accepted, first.duplicates) == (3, 0)
    again = store.append(_records(log(0, id="a"), log(0, id="c"), log(0, id="c"), log(0)))
    assert (again.accepted, again.duplicates) == (2, 2)
    assert store.count("logs") == 5


def test_samples_deployments_and_services(store: DuckDBSignalStore) -> None:
    store.append(_records(
        log(1, level="ERROR", message="first", trace_id="t1", attributes={"k": 1}),
        log(2, level="ERROR", message="second"), log(3, message="fine"),
        deployment(0, "1.0.0"), deployment(10, "1.1.0", previous_version="1.0.0"),
        metric(4, 1.0, service="db"),
    ))
    samples = store.sample_logs(T0, T0 + timedelta(hours=1), errors_only=True)
    assert [s.message for s in samples] == ["second", "first"]
    assert samples[1].attributes == {"k": 1} and samples[1].trace_id == "t1"
    assert samples[0].timestamp.tzinfo is not None
    deploys = store.deployments(T0, T0 + timedelta(hours=1), service="checkout")
    assert [d.version for d in deploys] == ["1.0.0", "1.1.0"]
    services = {s.service: s for s in store.services()}
    assert set(services) == {"checkout", "db"}
    assert services["checkout"].current_version == "1.1.0"
    assert (services["checkout"].logs, services["checkout"].deployments) == (3, 2)
    assert services["db"].metrics == 1 and services["db"].current_version is None
    assert services["checkout"].first_seen == T0


def test_retention_deletes_only_old_signals(tmp_path: Path) -> None:
    store = DuckDBSignalStore(tmp_path / "s.duckdb", retention_days=1)
    store.append(_records(log(0, id="old"), metric(0, 1.0), log(60 * 30), deployment(0, "1")))
    result = store.apply_retention(T0 + timedelta(days=1, hours=1))
    assert (result.logs, result.metrics, result.deployments) == (1, 1, 1)
    assert store.count("logs") == 1
    # the id of a deleted record may be sent again once it has aged out
    assert store.append(_records(log(0, id="old"))).accepted == 1
    store.close()


def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    store = DuckDBSignalStore(tmp_path / "s.duckdb", retention_days=0)
    store.append(_records(log(0)))
    store.apply_retention(T0 + timedelta(days=3650))
    assert store.count("logs") == 1
    store.close()


def test_data_survives_reopen_and_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = DuckDBSignalStore(path)
    store.append(_records(log(0, id="x")))
    store.close()
    store = DuckDBSignalStore(path)
    assert store.count("logs") == 1
    assert store.append(_records(log(0, id="x"))).duplicates == 1
    store.close()


def test_naive_query_bounds_are_refused(store: DuckDBSignalStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.log_counts(T0.replace(tzinfo=None), T0 + timedelta(minutes=1))


def test_store_locked_by_another_process(tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "s.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match="in use by another process"):
            DuckDBSignalStore(path)
    finally:
        holder.communicate("")
