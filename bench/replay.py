"""Replay and detection-cycle benchmark.

Measures, each as the median of several runs:
- `replay` of 3 hours of the independent 16-service fleet (~40 k records), seconds; against
  the same records fed minute by minute to a monitor reading the store directly (how a
  live monitor reads, and how replay ran before), in the same run;
- one detection cycle (a check taking in one new minute) over 200 services with 3 hours
  of history, seconds; against the same cycle over the 16 services in the same run;
- the per-service per-minute error-count query over 10 M log rows (written straight into
  the store's table by DuckDB SQL), seconds; against the same aggregate run in DuckDB
  alone, its rows counted in SQL instead of read into Python.

    python bench/replay.py [--runs 3] [--out bench/results/replay.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from oasis.incidents.store import IncidentStore
from oasis.independent_sim import generate
from oasis.monitor.monitor import Monitor
from oasis.monitor.replay import replay
from oasis.signals import Signal, parse_record
from oasis.signals.times import floor_minute
from oasis.store import DuckDBSignalStore

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
QUERY_ROWS = 10_000_000
QUERY_SERVICES = 200


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fleet(services: int | None = None) -> list[Signal]:
    """3 h of the independent fleet; with `services`, copies of it renamed up to that many."""
    docs = list(generate("bad_release", seed=1, hours=3, start=START).records())
    if services is None:
        return [parse_record(d) for d in docs]
    names = sorted({d["service"] for d in docs})
    copies = -(-services // len(names))
    renamed = [(k, n) for k in range(copies) for n in names][:services]
    out = []
    for k, name in renamed:
        out += [
            parse_record({**d, "service": f"{name}-{k:02d}"}) for d in docs if d["service"] == name
        ]
    return out


def feed_minute_by_minute(records: list[Signal]) -> int:
    """The monitor fed one minute at a time, reading the store directly; incidents raised."""
    signals = sorted(records, key=lambda r: r.timestamp)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBSignalStore(None, retention_days=0)
        incidents = IncidentStore(f"sqlite:///{Path(tmp) / 'state.db'}")
        monitor = Monitor(store, incidents)
        clock, i = floor_minute(signals[0].timestamp) + timedelta(minutes=1), 0
        while i < len(signals) or clock <= signals[-1].timestamp + timedelta(minutes=1):
            j = i
            while j < len(signals) and signals[j].timestamp < clock:
                j += 1
            if j > i:
                store.append(signals[i:j])
                i = j
            monitor.check(clock)
            clock += timedelta(minutes=1)
        raised = len(incidents.list(limit=1000))
        incidents.close()
        store.close()
    return raised


def cycle_seconds(records: list[Signal], runs: int) -> tuple[float, float]:
    """(start-up check, median of `runs` one-minute checks) with 3 h of history stored."""
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBSignalStore(None, retention_days=0)
        store.append(records)
        incidents = IncidentStore(f"sqlite:///{Path(tmp) / 'state.db'}")
        monitor = Monitor(store, incidents)
        now = floor_minute(START + timedelta(hours=3)) - timedelta(minutes=runs)
        startup = timed(lambda: monitor.check(now))
        cycles = []
        for k in range(1, runs + 1):
            at = now + timedelta(minutes=k)
            cycles.append(timed(lambda at=at: monitor.check(at)))
        incidents.close()
        store.close()
    return startup, statistics.median(cycles)


def big_store(path: Path, rows: int) -> DuckDBSignalStore:
    """`rows` log lines over one day of `QUERY_SERVICES` services, 3 % errors, by SQL."""
    store = DuckDBSignalStore(path, retention_days=0)
    store._con.execute(f"""
        INSERT INTO logs (ts, service, level, message, error_type)
        SELECT TIMESTAMP '2026-11-02 00:00:00'
                   + to_microseconds((i * 86400000000 // {rows})::BIGINT),
               'svc-' || lpad((hash(i) % {QUERY_SERVICES})::VARCHAR, 3, '0'),
               CASE WHEN hash(i * 7) % 100 < 2 THEN 'ERROR'
                    WHEN hash(i * 7) % 100 < 3 THEN 'FATAL'
                    WHEN hash(i * 7) % 100 < 8 THEN 'WARN'
                    WHEN hash(i * 7) % 100 < 30 THEN 'DEBUG' ELSE 'INFO' END,
               'request handled in ' || (hash(i * 3) % 1000)::VARCHAR || ' ms',
               CASE WHEN hash(i * 7) % 100 < 3 THEN 'E' || (hash(i * 5) % 4)::VARCHAR END
        FROM range({rows}) t(i)
    """)
    return store


def bare_error_counts(path: Path) -> None:
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("""
            SELECT count(*) FROM (
                SELECT time_bucket(INTERVAL '60 seconds', ts) AS bucket, service, level,
                       count(*)
                FROM logs WHERE level IN ('ERROR', 'FATAL')
                GROUP BY ALL ORDER BY bucket, service, level)
        """).fetchall()
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "replay.json")
    args = parser.parse_args()
    med = statistics.median
    load_before = os.getloadavg()

    records = fleet()
    services = len({r.service for r in records})
    replay_s, fed_s = [], []
    for run in range(args.runs):
        replay_s.append(timed(lambda: replay(records)))
        fed_s.append(timed(lambda: feed_minute_by_minute(records)))
        print(
            f"run {run + 1}: replay {replay_s[-1]:.2f} s, fed minute by minute {fed_s[-1]:.2f} s",
            flush=True,
        )

    _, small_cycle = cycle_seconds(records, args.runs)
    many = fleet(200)
    startup, cycle = cycle_seconds(many, args.runs)
    print(
        f"cycle: {cycle:.3f} s over 200 services ({small_cycle:.3f} s over {services}); "
        f"start-up check {startup:.1f} s",
        flush=True,
    )
    del many

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.duckdb"
        t0 = time.perf_counter()
        store = big_store(path, QUERY_ROWS)
        made = time.perf_counter() - t0
        begin, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        query_s, groups = [], 0
        for _ in range(args.runs):
            query_s.append(timed(lambda: store.log_counts(begin, end, errors_only=True)))
        groups = len(store.log_counts(begin, end, errors_only=True))
        store.close()
        bare_s = [timed(lambda: bare_error_counts(path)) for _ in range(args.runs)]
        print(
            f"query: {med(query_s):.3f} s over {QUERY_ROWS:,} rows ({groups:,} groups), "
            f"DuckDB alone {med(bare_s):.3f} s; rows written in {made:.1f} s",
            flush=True,
        )

    result = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "load_average_1_5_15": [round(x, 1) for x in load_before],
            "load_average_after": [round(x, 1) for x in os.getloadavg()],
        },
        "runs": args.runs,
        "replay": {
            "records": len(records),
            "services": services,
            "hours": 3,
            "seconds": round(med(replay_s), 2),
            "baseline_fed_minute_by_minute_seconds": round(med(fed_s), 2),
            "vs_baseline": round(med(fed_s) / med(replay_s), 2),
            "target_seconds": 5,
        },
        "detection_cycle": {
            "services": 200,
            "history_hours": 3,
            "seconds": round(cycle, 3),
            "startup_check_seconds": round(startup, 2),
            f"baseline_{services}_services_seconds": round(small_cycle, 3),
            "target_seconds": 2,
        },
        "error_count_query": {
            "rows": QUERY_ROWS,
            "services": QUERY_SERVICES,
            "groups": groups,
            "seconds": round(med(query_s), 3),
            "baseline_duckdb_alone_seconds": round(med(bare_s), 3),
            "vs_duckdb_alone": round(med(bare_s) / med(query_s), 2),
            "target_seconds": 1,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
