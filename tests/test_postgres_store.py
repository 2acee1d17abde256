"""The production signal store (per-minute aggregates in PostgreSQL) answers detection's
questions as the embedded DuckDB store does, and several writers never count a record twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from oasis.signals.parse import parse_record
from oasis.store import DuckDBSignalStore
from oasis.store.postgres_store import PostgresSignalStore
from tests.helpers import T0, deployment, log, metric

pytestmark = pytest.mark.postgres


def _records(n_minutes: int = 5, tag: str = "") -> list:
    docs = []
    for m in range(n_minutes):
        for i in range(12):
            docs.append(log(m + i / 12, "checkout", "INFO", f"served order {m * 100 + i}"))
        for i in range(m):
            docs.append(
                log(
                    m + i / 10,
                    "checkout",
                    "ERROR",
                    f"payment {i} timed out after {30 + i} ms",
                    error_type="Timeout",
                )
            )
        docs.append(log(m + 0.5, "payments", "WARN", "slow disk", host="db1"))
        for i in range(6):
            docs.append(metric(m + i / 6, 100.0 + 10 * i + m, "checkout"))
    docs.append(deployment(2.5, "v2", previous_version="v1"))
    return [parse_record(d) for d in docs]


@pytest.fixture
def pg_store(postgres_url: str):
    store = PostgresSignalStore(postgres_url)
    yield store
    store.close()


def test_aggregates_answer_like_the_embedded_store(pg_store, tmp_path) -> None:
    duck = DuckDBSignalStore(tmp_path / "s.duckdb")
    records = _records()
    half = len(records) // 2
    for store in (duck, pg_store):  # in two batches: the second adds to the first's minutes
        store.append(records[:half])
        store.append(records[half:])
    start, end = T0, T0 + timedelta(minutes=5)
    for by in ("level", "error_type"):
        assert pg_store.log_counts(start, end, by=by) == duck.log_counts(start, end, by=by)
    assert pg_store.log_counts(start, end, bucket_seconds=300, errors_only=True) == duck.log_counts(
        start, end, bucket_seconds=300, errors_only=True
    )
    for bucket in (60, 300):
        got = pg_store.metric_stats(start, end, bucket_seconds=bucket)
        want = duck.metric_stats(start, end, bucket_seconds=bucket)
        assert [(m.bucket, m.count, m.min, m.max) for m in got] == [
            (m.bucket, m.count, m.min, m.max) for m in want
        ]
        for g, w in zip(got, want, strict=True):
            assert g.mean == pytest.approx(w.mean)
            assert (g.p50, g.p90, g.p99) == pytest.approx((w.p50, w.p90, w.p99))
    assert pg_store.deployments(start, end) == duck.deployments(start, end)
    assert [(s.service, s.logs, s.metrics, s.current_version) for s in pg_store.services()] == [
        (s.service, s.logs, s.metrics, s.current_version) for s in duck.services()
    ]
    assert pg_store.latest_timestamp() == duck.latest_timestamp()
    duck.close()


def test_log_lines_are_kept_as_counted_templates(pg_store) -> None:
    pg_store.append(_records())
    start, end = T0, T0 + timedelta(minutes=5)
    errors = pg_store.read_logs(start, end, levels=[parse_record(log(0, level="ERROR")).level])
    # 0+1+2+3+4 error lines, each template (the number masked) given back once per line
    assert len(errors) == 10
    assert errors[-1].message.startswith("payment 3 timed out")  # the newest example
    sample = pg_store.sample_logs(start, end, service="payments")
    assert sample[0].host == "db1" and sample[0].message == "slow disk"
    # rows grow with minutes and templates, not with records
    with pg_store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM signal_log_templates").scalar_one()
    assert rows == 5 * 2 + 4  # per minute: INFO and WARN templates; ERROR from minute 1 on


def test_ids_are_counted_once_across_concurrent_writers(postgres_url) -> None:
    docs = [log(i / 100, "checkout", "INFO", "ok", id=f"r{i}") for i in range(400)]
    records = [parse_record(d) for d in docs]
    stores = [PostgresSignalStore(postgres_url) for _ in range(3)]
    results = []

    def push(store: PostgresSignalStore) -> None:
        for k in range(0, 400, 50):  # every writer sends every record
            results.append(store.append(records[k : k + 50]))

    threads = [threading.Thread(target=push, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.accepted for r in results) == 400
    assert sum(r.duplicates for r in results) == 800
    assert stores[0].count("logs") == 400
    for s in stores:
        s.close()


def test_retention_drops_old_minutes(pg_store) -> None:
    pg_store.append(_records())
    result = pg_store.apply_retention(T0 + timedelta(days=14, minutes=3))
    assert result.logs > 0 and result.metrics == 18
    assert all(
        c.bucket >= T0 + timedelta(minutes=3)
        for c in pg_store.log_counts(T0, T0 + timedelta(hours=1))
    )


def test_a_line_with_a_nul_character_is_kept(pg_store) -> None:
    result = pg_store.append([parse_record(log(0, "api", "ERROR", "bad\x00byte", id="nul\x00id"))])
    assert result.accepted == 1
    [line] = pg_store.sample_logs(T0, T0 + timedelta(minutes=1))
    assert line.message == "bad\ufffdbyte"
