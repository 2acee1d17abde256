"""Ingest and query benchmark on two files of at least a million records each.

The files: the simulator's (`oasis simulate`, a fleet with a bad deploy) and one with the
variety of a real fleet written without the simulator (bench/variety.py: several log
formats and level spellings, long stack traces, many attribute keys, metrics with units,
late records, zone offsets). For each, as the median of several runs:
- file ingest (`Ingestor.ingest_file` into a fresh on-disk DuckDB store, every check on,
  the time window included), in a fresh process each run so its peak RSS is its own: with
  the default parse threads, with one, with two, and with the per-record path only;
- HTTP ingest (`oasis serve` in its own process, NDJSON bodies of 4 MiB), records/s;
- the per-service per-minute error-count query over everything ingested, seconds;
and, in the same run, two baselines on the same file: DuckDB's own C++ NDJSON reader
(`read_json` into a table, no per-record checks) and a bare `orjson.loads` loop, so the
figures can be read as ratios whatever machine runs them (and however loaded it is).

    python bench/ingest.py [--records 1000000] [--runs 3] [--no-http]

Prints a table and writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import variety  # noqa: E402
from oasis.config import StoreSettings  # noqa: E402
from oasis.ingest import Ingestor, TimeWindow  # noqa: E402
from oasis.ingest.pipeline import default_workers  # noqa: E402
from oasis.runtime.memory import bound_allocators  # noqa: E402
from oasis.store import DuckDBSignalStore  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CHUNK_BYTES = 4 * 1024 * 1024
#: Both files span 2026-11-01 00:00Z .. 08:00Z; ingest runs "just after" them, so the
#: future and retention checks run on every record (and refuse none).
INGEST_CLOCK = datetime(2026, 11, 1, 8, 5, tzinfo=UTC)


def generate_simulated(path: Path, records: int) -> None:
    """Write a simulated fleet with a bad deploy, sized to at least `records` lines."""
    # Eight hours of the default fleet at 600 req/min, every trace logged, give ~0.9M
    # records; scale the traffic to the size asked for.
    rpm = max(60, int(600 * records / 860_000))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "oasis",
            "simulate",
            "--scenario",
            "bad_deploy",
            "--hours",
            "8",
            "--seed",
            "7",
            "--rpm",
            str(rpm),
            "--log-sample",
            "1",
            "--start",
            "2026-11-01T00:00:00Z",
            "--out",
            str(path),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _own_peak_rss_mb() -> float:
    """This process's peak resident set. Not getrusage's ru_maxrss: Linux carries that over
    from the forking parent (this benchmark, which holds the whole file for its orjson
    baseline), so every child reported the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: this benchmark needs Linux")


def child_file_ingest(path: str, db: str, workers: int, fast: bool) -> None:
    """One run of what `oasis ingest FILE` does, in this (fresh) process; prints JSON."""

    bound_allocators()  # as `oasis ingest` does
    store = DuckDBSignalStore(Path(db), retention_days=0,
                              memory_limit_mb=StoreSettings().memory_limit_mb)
    window = TimeWindow(
        clock=lambda: INGEST_CLOCK, max_future=timedelta(minutes=10), max_age=timedelta(days=14)
    )
    ingestor = Ingestor(store, workers=workers, window=window, fast_path=fast)
    start = time.perf_counter()
    with open(path, "rb") as f:
        report = ingestor.ingest_file(f)
    seconds = time.perf_counter() - start
    query = statistics.median(
        timed(
            lambda: store.log_counts(
                datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), errors_only=True
            )
        )
        for _ in range(5)
    )
    store.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "accepted": report.accepted,
                "rejected": report.rejected,
                "errors": [e.reason for e in report.errors[:3]],
                "query_s": query,
                "rss_mb": _own_peak_rss_mb(),
            }
        )
    )


def bench_file_ingest(path: Path, workdir: Path, run: int, workers: int, fast: bool = True) -> dict:
    db = workdir / f"file-{run}-{workers}-{fast}.duckdb"
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), str(db), str(workers), str(int(fast))],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["rejected"] == 0, result["errors"]
    shutil.rmtree(db, ignore_errors=True)
    db.unlink(missing_ok=True)
    Path(str(db) + ".wal").unlink(missing_ok=True)
    return result


def bench_http_ingest(path: Path, workdir: Path, run: int) -> float:
    data_dir = workdir / f"http-{run}"
    port = 18_500 + run
    env = {
        **os.environ,
        "OASIS_DATA_DIR": str(data_dir),
        "OASIS_STORE__RETENTION_DAYS": "0",
        # The files are history: the server takes them as it would a backfill.
        "OASIS_INGEST__MAX_FUTURE_SECONDS": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "oasis", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url)
        bodies = list(_chunks(path))
        with httpx.Client(timeout=300) as client:

            def go() -> None:
                for body in bodies:
                    r = client.post(
                        url + "/api/v1/signals",
                        content=body,
                        headers={"content-type": "application/x-ndjson"},
                    )
                    r.raise_for_status()

            return timed(go)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)


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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def baseline_duckdb_reader(path: Path, workdir: Path) -> float:
    db = workdir / "baseline.duckdb"
    con = duckdb.connect(str(db))
    try:
        return timed(
            lambda: con.execute(
                f"CREATE OR REPLACE TABLE raw AS SELECT * FROM read_json('{path}', "
                "format='newline_delimited', sample_size=-1)"
            )
        )
    finally:
        con.close()
        db.unlink(missing_ok=True)


def baseline_orjson(path: Path) -> float:
    def go() -> None:
        with path.open("rb") as f:
            for line in f:
                orjson.loads(line)

    return timed(go)


def bench_one(name: str, path: Path, workdir: Path, runs: int, http: bool) -> dict:
    with path.open("rb") as f:
        n = sum(1 for _ in f)
    default = default_workers()
    configs = {
        "default": (default, True),
        "one_thread": (1, True),
        "two_threads": (2, True),
        "per_record_path": (1, False),
    }
    if default == 2:  # the same run twice: measure it once
        del configs["two_threads"]
    times: dict[str, list[float]] = {k: [] for k in [*configs, "http", "duckdb", "orjson"]}
    rss: dict[str, list[float]] = {k: [] for k in configs}
    queries = []
    for run in range(runs):
        for key, (workers, fast) in configs.items():
            result = bench_file_ingest(path, workdir, run, workers, fast)
            times[key].append(result["seconds"])
            rss[key].append(result["rss_mb"])
            if key == "default":
                queries.append(result["query_s"])
        if http:
            times["http"].append(bench_http_ingest(path, workdir, run))
        times["duckdb"].append(baseline_duckdb_reader(path, workdir))
        times["orjson"].append(baseline_orjson(path))
        print(
            f"{name} run {run + 1}: "
            + "  ".join(f"{k} {n / v[-1]:,.0f}/s" for k, v in times.items() if v),
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in times.items() if v}
    out = {
        "records": n,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "default_parse_threads": default,
        "file_ingest_records_per_s": round(n / med["default"]),
        "file_ingest_one_thread_records_per_s": round(n / med["one_thread"]),
        "file_ingest_two_threads_records_per_s": round(n / med.get("two_threads", med["default"])),
        "file_ingest_per_record_path_records_per_s": round(n / med["per_record_path"]),
        "baseline_duckdb_read_json_records_per_s": round(n / med["duckdb"]),
        "baseline_orjson_loads_records_per_s": round(n / med["orjson"]),
        "file_ingest_vs_duckdb_read_json": round(med["duckdb"] / med["default"], 3),
        "file_ingest_vs_orjson_loads": round(med["orjson"] / med["default"], 3),
        "two_threads_vs_one": round(med["one_thread"] / med.get("two_threads", med["default"]), 3),
        "fast_path_vs_per_record_path": round(med["per_record_path"] / med["one_thread"], 3),
        "error_count_query_s": round(statistics.median(queries), 4),
        # As `oasis ingest` runs (the default); the reference per-record path apart.
        "file_ingest_peak_rss_mb": round(max(rss["default"])),
        "file_ingest_one_thread_peak_rss_mb": round(max(rss["one_thread"])),
        "per_record_path_peak_rss_mb": round(max(rss["per_record_path"])),
    }
    if http:
        out["http_ingest_records_per_s"] = round(n / med["http"])
        out["http_vs_file_ingest"] = round(med["default"] / med["http"], 3)
    return out


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child_file_ingest(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-http", action="store_true", help="skip HTTP ingest")
    parser.add_argument("--keep", type=Path, help="reuse/keep the generated files in this dir")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="oasis-bench-"))
    files = args.keep or workdir
    files.mkdir(parents=True, exist_ok=True)
    try:
        sim, var = files / "simulated.ndjson", files / "variety.ndjson"
        if not sim.exists():
            t = time.perf_counter()
            generate_simulated(sim, args.records)
            print(f"simulated file in {time.perf_counter() - t:.0f} s", flush=True)
        if not var.exists():
            t = time.perf_counter()
            variety.write(var, args.records)
            print(f"variety file in {time.perf_counter() - t:.0f} s", flush=True)
        result = {
            "when": datetime.now(UTC).isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "duckdb": duckdb.__version__,
                "load_average_at_start": round(os.getloadavg()[0], 1),
            },
            "runs": args.runs,
            "note": "medians; ratios are against baselines measured in the same run",
            "files": {},
            "targets": {
                "file_ingest_vs_duckdb_read_json": 1.0,
                "two_threads_vs_one": 1.6,
                "error_count_query_s": 1.0,
            },
        }
        for name, path in (("simulated", sim), ("variety", var)):
            result["files"][name] = bench_one(name, path, workdir, args.runs, not args.no_http)
        result["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 1)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
        for name, figures in result["files"].items():
            print(f"--- {name}")
            width = max(len(k) for k in figures)
            for key, value in figures.items():
                print(f"{key:<{width}}  {value:,}")
        print(f"wrote {RESULTS / 'ingest.json'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
