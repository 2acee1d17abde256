"""Ingest and query benchmark over at least a million simulated records.

Measures, each as the median of several runs:
- file ingest (`Ingestor` into a fresh on-disk DuckDB store), records/s;
- HTTP ingest (`oasis serve` in its own process, NDJSON bodies of 4 MiB), records/s;
- the per-service per-minute error-count query over everything ingested, seconds;
and, in the same run, two baselines on the same file: DuckDB's own C++ NDJSON reader
(`read_json`, no per-record checks) and a bare `orjson.loads` loop, so the figures can
be read as ratios whatever machine runs them.

    python bench/ingest.py [--records 1000000] [--runs 3]

Prints a table and writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import orjson

from oasis.ingest import Ingestor
from oasis.store import DuckDBSignalStore

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHUNK_BYTES = 4 * 1024 * 1024


def generate(path: Path, records: int) -> int:
    """Write a simulated fleet with a bad deploy, sized to at least `records` lines."""
    # Eight hours of the default fleet at 600 req/min, every trace logged, give ~0.9M
    # records; scale the traffic to the size asked for.
    hours = 8
    rpm = max(60, int(600 * records / 860_000))
    subprocess.run(
        [sys.executable, "-m", "oasis", "simulate", "--scenario", "bad_deploy",
         "--hours", str(hours), "--seed", "7", "--rpm", str(rpm), "--log-sample", "1",
         "--start", "2026-11-01T00:00:00Z", "--out", str(path)],
        check=True, stdout=subprocess.DEVNULL,
    )
    with path.open("rb") as f:
        return sum(1 for _ in f)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_file_ingest(path: Path, workdir: Path, run: int,
                      workers: int) -> tuple[float, DuckDBSignalStore]:
    """What `oasis ingest FILE` does: parse in `workers` processes, one writer."""
    store = DuckDBSignalStore(workdir / f"file-{run}-{workers}.duckdb", retention_days=0)
    ingestor = Ingestor(store, workers=workers)

    def go() -> None:
        with path.open("rb") as f:
            report = ingestor.ingest_file(f)
        assert report.rejected == 0, report.errors[:3]

    return timed(go), store


def bench_http_ingest(path: Path, workdir: Path, run: int) -> float:
    data_dir = workdir / f"http-{run}"
    port = 18_500 + run
    env = {**os.environ, "OASIS_DATA_DIR": str(data_dir), "OASIS_STORE__RETENTION_DAYS": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "oasis", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url)
        bodies = list(_chunks(path))
        with httpx.Client(timeout=300) as client:
            def go() -> None:
                for body in bodies:
                    r = client.post(url + "/api/v1/signals", content=body,
                                    headers={"content-type": "application/x-ndjson"})
                    r.raise_for_status()
            return timed(go)
    finally:
        server.terminate()
        server.wait(30)


def _chunks(path: Path):
    buf, size = [], 0
    with path.open("rb") as f:
        for line in f:
            buf.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                yield b"".join(buf)
                buf, size = [], 0
    if buf:
        yield b"".join(buf)


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def bench_query(store: DuckDBSignalStore, runs: int) -> float:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    end = datetime.now(UTC) + timedelta(days=365)
    return statistics.median(
        timed(lambda: store.log_counts(start, end, errors_only=True)) for _ in range(runs)
    )


def baseline_duckdb_reader(path: Path, workdir: Path) -> float:
    con = duckdb.connect(str(workdir / "baseline.duckdb"))
    try:
        return timed(lambda: con.execute(
            f"CREATE OR REPLACE TABLE raw AS SELECT * FROM read_json('{path}', "
            "format='newline_delimited', sample_size=-1)"
        ))
    finally:
        con.close()


def baseline_orjson(path: Path) -> float:
    def go() -> None:
        with path.open("rb") as f:
            for line in f:
                orjson.loads(line)
    return timed(go)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="reuse/keep the generated file at this path")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="oasis-bench-"))
    try:
        path = Path(args.keep) if args.keep else workdir / "signals.ndjson"
        if path.exists():
            with path.open("rb") as f:
                n = sum(1 for _ in f)
        else:
            t = time.perf_counter()
            n = generate(path, args.records)
            print(f"generated {n:,} records in {time.perf_counter() - t:.1f} s", flush=True)
        size_mb = path.stat().st_size / 1e6

        workers = min(4, os.cpu_count() or 1)
        file_times, http_times, duck_times, orjson_times, query_times = [], [], [], [], []
        single_times = []
        for run in range(args.runs):
            seconds, store = bench_file_ingest(path, workdir, run, workers)
            file_times.append(seconds)
            query_times.append(bench_query(store, 5))
            store.close()
            seconds, store = bench_file_ingest(path, workdir, run, 1)
            single_times.append(seconds)
            store.close()
            http_times.append(bench_http_ingest(path, workdir, run))
            duck_times.append(baseline_duckdb_reader(path, workdir))
            orjson_times.append(baseline_orjson(path))
            print(f"run {run + 1}: file {n / seconds:,.0f}/s  http {n / http_times[-1]:,.0f}/s  "
                  f"query {query_times[-1] * 1000:.1f} ms", flush=True)

        med = statistics.median
        result = {
            "when": datetime.now(UTC).isoformat(),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "duckdb": duckdb.__version__},
            "records": n,
            "file_mb": round(size_mb, 1),
            "runs": args.runs,
            "file_ingest_workers": workers,
            "file_ingest_records_per_s": round(n / med(file_times)),
            "file_ingest_one_process_records_per_s": round(n / med(single_times)),
            "http_ingest_records_per_s": round(n / med(http_times)),
            "error_count_query_s": round(med(query_times), 4),
            "baseline_duckdb_read_json_records_per_s": round(n / med(duck_times)),
            "baseline_orjson_loads_records_per_s": round(n / med(orjson_times)),
            "file_ingest_vs_duckdb_read_json": round(med(duck_times) / med(file_times), 3),
            "file_ingest_vs_orjson_loads": round(med(orjson_times) / med(file_times), 3),
            "http_vs_file_ingest": round(med(file_times) / med(http_times), 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "targets": {"file_ingest_records_per_s": 100_000, "error_count_query_s": 1.0},
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
        width = max(len(k) for k in result)
        for key, value in result.items():
            if key not in ("machine", "targets", "when"):
                print(f"{key:<{width}}  {value:,}" if isinstance(value, int | float)
                      else f"{key:<{width}}  {value}")
        print(f"wrote {RESULTS / 'ingest.json'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
