"""Console benchmark: the incident list page with 10,000 incidents in the state database.

Times the server's handling of `GET /` (the console's incident list, newest 200 shown) and of
`GET /api/v1/incidents?limit=200` in-process (no network), median of several runs, with a
baseline measured in the same run: the bare `IncidentStore.list` query the page is built on.
Target: the page under 300 ms on the server.

    python bench/console.py [--incidents 10000] [--runs 15]

Writes bench/results/console.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent

ROOT = Path(__file__).resolve().parent.parent


def seed(url: str, count: int) -> None:
    store = IncidentStore(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = list(Status)
    severities = list(Severity)
    for n in range(count):
        at = start + timedelta(minutes=37 * n)
        store.create(Incident(
            f"inc-bench-{n:05d}", statuses[n % len(statuses)], severities[n % 4],
            f"service-{n % 40}: error spike after deploy 1.{n % 90}.0", [f"service-{n % 40}",
                                                                       "gateway"],
            f"service-{n % 40}", at, at, at, summary="errors " * 20,
            evidence=[{"service": f"service-{n % 40}", "detector": "error_rate",
                       "summary": "errors 40/min, 1 expected"}] * 5),
            TimelineEvent(at, "detected", "seen"))
    store.close()


def timed(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), notify={"email_enabled": False})
        t0 = time.perf_counter()
        seed(settings.incident_db_url, args.incidents)
        seeded = time.perf_counter() - t0
        store = IncidentStore(settings.incident_db_url)
        with TestClient(create_app(settings, monitor=False)) as client:
            assert client.get("/").status_code == 200
            page = timed(lambda: client.get("/"), args.runs)
            api = timed(lambda: client.get("/api/v1/incidents", params={"limit": 200}),
                        args.runs)
            filtered = timed(lambda: client.get("/", params={"severity": "critical"}),
                             args.runs)
        query = timed(lambda: store.list(limit=200), args.runs)
        store.close()
    result = {"incidents": args.incidents, "runs": args.runs, "seed_seconds": round(seeded, 1),
              "page_ms_median": round(page, 1), "page_filtered_ms_median": round(filtered, 1),
              "api_ms_median": round(api, 1), "baseline_query_ms_median": round(query, 1),
              "page_vs_query": round(page / query, 2), "target_ms": 300,
              "at": datetime.now(UTC).isoformat()}
    for k, v in result.items():
        print(f"{k:>26}  {v}")
    out = ROOT / "bench" / "results" / "console.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
