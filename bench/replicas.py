"""Production mode on this machine: pushed records/s through 1, 2 and 3 `oasis serve`
replicas on one PostgreSQL, lease failover time, and the size of the signal aggregates.

Measures, each as the median of several runs (a fresh database per run):
- push throughput: the same simulated fleet (records with ids) sent as NDJSON batches by
  four client threads spread over the replicas, until every batch is acknowledged;
  baseline in the same run: one embedded replica (DuckDB signals, SQLite state);
- failover: SIGKILL the replica holding the `monitor` lease, time until another holds it,
  with the default `server.lease_seconds` (20 s) and a short one (3 s);
- sizing: rows and bytes per table after the push, as rows per service-day and disk per
  100 services for 30 days (rows grow with services x minutes, not with records).

    python bench/replicas.py [--hours 4] [--runs 3]

Prints a table and writes bench/results/replicas.json. Needs PostgreSQL on localhost
(OASIS_TEST_PG, as the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oasis.simulate import GeneratorConfig, simulate  # noqa: E402
from tests.cluster import Cluster, push  # noqa: E402
from tests.helpers import wait_until  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("OASIS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CLIENTS = 4
BATCH = 2000
QUIET = {"detect": {"check_interval_seconds": 5}, "notify": {"email_enabled": False}}


@contextmanager
def database() -> Iterator[str]:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"oasis_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def records(hours: float) -> tuple[list[dict], int]:
    sim = simulate(
        "bad_deploy",
        hours=hours,
        seed=11,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        config=GeneratorConfig(ids=True),
        background_deploys=False,
    )
    out = list(sim.records())
    return out, len({r["service"] for r in out})


def timed_push(cluster: Cluster, docs: list[dict]) -> float:
    """Seconds for CLIENTS threads to get every batch acknowledged."""
    share = [docs[i::CLIENTS] for i in range(CLIENTS)]
    done: list[int] = []
    started = time.perf_counter()
    threads = [
        threading.Thread(
            target=lambda part=part: done.append(push(cluster, part, batch=BATCH).acknowledged)
        )
        for part in share
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert sum(done) == len(docs), (sum(done), len(docs))
    return elapsed


def bench_push(n: int, docs: list[dict], work: Path, *, embedded: bool = False) -> float:
    with database() as url:
        root = work / f"push-{n}-{'embedded' if embedded else 'pg'}-{secrets.token_hex(2)}"
        cluster = Cluster(root, url, QUIET)
        if embedded:  # one replica, the default stores: DuckDB signals, SQLite state
            cluster.config.write_text(json.dumps({"knowledge": {"embedder": "none"}, **QUIET}))
        else:
            cluster.upgrade()
        try:
            cluster.start(n)
            return len(docs) / timed_push(cluster, docs)
        finally:
            cluster.stop()


def bench_failover(lease_seconds: float, work: Path) -> float:
    with database() as url:
        cluster = Cluster(
            work / f"failover-{lease_seconds}-{secrets.token_hex(2)}",
            url,
            {**QUIET, "server": {"lease_seconds": lease_seconds}},
        )
        cluster.upgrade()
        try:
            cluster.start(2)
            wait_until(lambda: cluster.holder("monitor"), 60, what="a monitor")
            holder, before = cluster.holder("monitor"), cluster.lease("monitor")
            assert holder is not None and before is not None
            killed = cluster.kill(holder)
            wait_until(
                lambda: (cluster.lease("monitor") or before)[1] > before[1],
                lease_seconds * 3 + 60,
                interval=0.02,
                what="the takeover",
            )
            return time.monotonic() - killed
        finally:
            cluster.stop()


def sizing(docs: list[dict], services: int, hours: float, work: Path) -> dict:
    with database() as url:
        cluster = Cluster(work / "sizing", url, QUIET)
        cluster.upgrade()
        try:
            cluster.start(1)
            timed_push(cluster, docs)
        finally:
            cluster.stop()
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            tables = {
                name: {
                    "rows": conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one(),
                    "bytes": conn.execute(
                        sa.text(f"SELECT pg_total_relation_size('{name}')")
                    ).scalar_one(),
                }
                for name in (
                    "signal_log_minutes",
                    "signal_metric_minutes",
                    "signal_log_templates",
                    "signal_call_edges",
                    "signal_deployments",
                    "signal_services",
                    "signal_ids",
                )
            }
        engine.dispose()
    service_days = services * hours / 24
    aggregates = {k: v for k, v in tables.items() if k != "signal_ids"}
    rows_day = sum(v["rows"] for v in aggregates.values()) / service_days
    bytes_day = sum(v["bytes"] for v in aggregates.values()) / service_days
    ids_bytes_per_record = tables["signal_ids"]["bytes"] / max(1, tables["signal_ids"]["rows"])
    return {
        "services": services,
        "hours": hours,
        "records": len(docs),
        "records_per_service_day": round(len(docs) / service_days),
        "tables": tables,
        "aggregate_rows_per_service_day": round(rows_day),
        "aggregate_bytes_per_service_day": round(bytes_day),
        "aggregate_gb_per_100_services_30_days": round(bytes_day * 100 * 30 / 1e9, 2),
        "ids_bytes_per_record_with_id": round(ids_bytes_per_record, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    docs, services = records(args.hours)
    out: dict = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "records": len(docs),
        "runs": args.runs,
        "clients": CLIENTS,
        "batch": BATCH,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs: dict[str, list[float]] = {"embedded_1": [], "pg_1": [], "pg_2": [], "pg_3": []}
        for _ in range(args.runs):  # interleaved, so a busy moment hits every setup alike
            runs["embedded_1"].append(bench_push(1, docs, work, embedded=True))
            for n in (1, 2, 3):
                runs[f"pg_{n}"].append(bench_push(n, docs, work))
        medians = {k: round(statistics.median(v)) for k, v in runs.items()}
        out["push_records_per_s"] = medians
        out["push_records_per_s_runs"] = {k: [round(x) for x in v] for k, v in runs.items()}
        out["push_vs_embedded"] = {
            k: round(v / medians["embedded_1"], 3) for k, v in medians.items()
        }
        failover = {}
        for lease in (20.0, 3.0):
            times = [bench_failover(lease, work) for _ in range(args.runs)]
            failover[f"lease_{lease:g}s"] = {
                "median_s": round(statistics.median(times), 2),
                "runs_s": [round(t, 2) for t in times],
                "bound_s": round(lease * 4 / 3, 2),
            }
        out["failover"] = failover
        out["sizing"] = sizing(docs, services, args.hours, work)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "replicas.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"records: {len(docs):,}  ({services} services, {args.hours:g} h)")
    for k, v in medians.items():
        print(f"  push {k:<11} {v:>8,} records/s  ({out['push_vs_embedded'][k]:.2f} x embedded)")
    for k, v in failover.items():
        print(f"  failover {k}: median {v['median_s']} s (bound {v['bound_s']} s)")
    s = out["sizing"]
    print(
        f"  sizing: {s['aggregate_rows_per_service_day']:,} rows/service-day, "
        f"{s['aggregate_gb_per_100_services_30_days']} GB per 100 services x 30 days"
    )


if __name__ == "__main__":
    main()
