"""Load benchmark: many concurrent senders against a real `oasis serve`, auth on.

Scenarios, each run `--runs` times (medians reported):
- `load`: `--clients` (50) senders post 1,000-record NDJSON batches for `--seconds`; a
  sender answered 429 waits its Retry-After and sends the same batch again. Reports
  records/s, p50/p99 latency of the acknowledged batches, the 429 count, and the server's
  peak RSS (VmHWM of its process); as the same-run baseline, one thread of this process
  ingesting the same batches one by one without HTTP (this machine's speed varies by a
  third from one hour to the next: read the ratio).
- `four_clients`: 4 senders post ~4 MiB bodies of the same records until all are sent,
  against `Ingestor.ingest_file` of the same file in this process as a same-run baseline
  (issue 16: HTTP ingest >= file ingest with 4 concurrent clients).
- `stream`: one `--stream-mb` NDJSON body sent chunked, for the peak RSS of a server fed
  a body far larger than memory should hold.

    python bench/load.py [--clients 50] [--seconds 20] [--runs 3]

Prints a table and writes bench/results/load.json. Every request goes to 127.0.0.1 only,
and every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BATCH_RECORDS = 1_000
FOUR_CLIENT_BODY_BYTES = 4 * 1024 * 1024
TARGETS = {"records_per_s": 50_000, "p99_s": 1.0, "peak_rss_mb": 300}


def generate(path: Path, hours: float) -> None:
    """A simulated fleet, stamped in the last hours so no age or future check refuses it."""
    start = (datetime.now(UTC) - timedelta(hours=hours + 1)).replace(second=0, microsecond=0)
    subprocess.run(
        [sys.executable, "-m", "oasis", "simulate", "--scenario", "bad_deploy", "--hours",
         str(hours), "--seed", "11", "--log-sample", "1", "--start", start.isoformat(),
         "--out", str(path)],
        check=True, stdout=subprocess.DEVNULL)


def batches(path: Path, lines_per_batch: int) -> list[bytes]:
    with path.open("rb") as f:
        lines = f.readlines()
    return [b"".join(lines[i:i + lines_per_batch]) for i in range(0, len(lines), lines_per_batch)]


def sized_bodies(path: Path, size: int) -> list[bytes]:
    bodies, held, held_bytes = [], [], 0
    with path.open("rb") as f:
        for line in f:
            held.append(line)
            held_bytes += len(line)
            if held_bytes >= size:
                bodies.append(b"".join(held))
                held, held_bytes = [], 0
    if held:
        bodies.append(b"".join(held))
    return bodies


# --- the server -------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    api_key: str

    def peak_rss_mb(self) -> float:
        """The server process's high-water resident set (Linux VmHWM)."""
        return self._status_mb("VmHWM:")

    def rss_mb(self) -> float:
        return self._status_mb("VmRSS:")

    def _status_mb(self, field_name: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field_name} in /proc: this benchmark needs Linux")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api_key(data_dir: Path) -> str:
    from oasis.auth.roles import Role
    from oasis.auth.users import UserStore
    from oasis.config import Settings
    from oasis.runtime.services import check_schema
    from oasis.state import state_engine

    data_dir.mkdir(parents=True, exist_ok=True)
    url = Settings(data_dir=data_dir).incident_db_url
    # Made and migrated first, as after any earlier start: the server measured is one at
    # the schema head, which does not load Alembic.
    check_schema(url)
    engine = state_engine(url)
    try:
        return UserStore(engine).create_api_key("load-bench", Role.RESPONDER)[1]
    finally:
        engine.dispose()


@contextmanager
def oasis_server(data_dir: Path, **settings: str) -> Iterator[Server]:
    """`oasis serve` in its own process on a free loopback port, auth on, one API key."""
    key = _api_key(data_dir)
    port = _free_port()
    env = {**os.environ, "OASIS_DATA_DIR": str(data_dir), "OASIS_AUTH__ENABLED": "true",
           "OASIS_STORE__RETENTION_DAYS": "0", "PYTHONPATH": str(ROOT),
           **{f"OASIS_{name.upper()}": value for name, value in settings.items()}}
    env.pop("OASIS_CONFIG", None)
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "oasis", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"oasis serve exited; see {data_dir / 'server.log'}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("oasis serve did not become healthy in 120 s")
            time.sleep(0.2)
        yield Server(url, process, key)
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


# --- the senders ------------------------------------------------------------------------


@dataclass
class Tally:
    records: int = 0
    refused: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


class Connection:
    """A bare HTTP/1.1 keep-alive connection: the load generator shares the machine with
    the server, so it spends as little CPU per request as it can (httpx costs several
    times more, taken from the server being measured)."""

    def __init__(self, url: str, api_key: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.head = (f"POST /api/v1/signals HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Authorization: Bearer {api_key}\r\n"
                     "Content-Type: application/x-ndjson\r\n").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in head[1:] if line)}
        content = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _sender(server: Server, bodies: list[bytes], first: int, step: int, until: float,
                  tally: Tally, *, stop_when_sent: bool) -> None:
    """Post bodies `first`, `first + step`...; on 429 wait Retry-After and send it again."""
    connection = Connection(server.url, server.api_key)
    index = first
    try:
        while time.monotonic() < until:
            if index >= len(bodies):
                if stop_when_sent:
                    return
                index = first
            started = time.monotonic()
            try:
                status, headers, content = await connection.post(bodies[index])
            except (OSError, asyncio.IncompleteReadError):
                tally.errors += 1
                await connection.close()
                await asyncio.sleep(0.5)
                continue
            if status == 429:
                tally.refused += 1
                await asyncio.sleep(float(headers.get("retry-after", "1")))
                continue
            if status != 200:
                tally.errors += 1
                continue
            tally.latencies.append(time.monotonic() - started)
            tally.records += json.loads(content)["accepted"]
            index += step
    finally:
        await connection.close()


async def _send(server: Server, bodies: list[bytes], clients: int, seconds: float, *,
                stop_when_sent: bool) -> tuple[Tally, float]:
    tally = Tally()
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(
        _sender(server, bodies, i, clients, until, tally, stop_when_sent=stop_when_sent)
        for i in range(clients)))
    return tally, time.monotonic() - started


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine(load_before: list[float]) -> dict[str, object]:
    """What ran the benchmark; other work on the machine skews every figure, so how busy it
    was before (`load_before`, from `os.getloadavg()`) and after."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average_before": load_before, "load_average_after": list(os.getloadavg())}


def in_process_rate(bodies: list[bytes], db: Path) -> float:
    """Records/s of one thread ingesting the same bodies one by one in this process, as a
    request thread does minus HTTP: the same-run baseline of the load figure."""
    from oasis.config import Settings
    from oasis.ingest import Ingestor
    from oasis.store import DuckDBSignalStore

    store = DuckDBSignalStore(db, retention_days=0,
                              memory_limit_mb=Settings().store.memory_limit_mb)
    try:
        ingestor = Ingestor(store)
        started = time.perf_counter()
        stored = sum(ingestor.ingest_ndjson(body).accepted for body in bodies)
        return stored / (time.perf_counter() - started)
    finally:
        store.close()


def run_load(bodies: list[bytes], workdir: Path, run: int, clients: int,
             seconds: float) -> dict[str, float]:
    baseline = in_process_rate(bodies, workdir / f"in-process-{run}.duckdb")
    with oasis_server(workdir / f"load-{run}") as server:
        idle = server.rss_mb()
        tally, elapsed = asyncio.run(_send(server, bodies, clients, seconds,
                                           stop_when_sent=False))
        rss = server.peak_rss_mb()
    return {"records_per_s": tally.records / elapsed,
            "in_process_one_thread_records_per_s": baseline,
            "vs_in_process_one_thread": tally.records / elapsed / baseline,
            "p50_s": _quantile(tally.latencies, 0.50),
            "p99_s": _quantile(tally.latencies, 0.99),
            "acknowledged_batches": len(tally.latencies), "responses_429": tally.refused,
            "errors": tally.errors, "idle_rss_mb": idle, "peak_rss_mb": rss}


def run_four_clients(path: Path, bodies: list[bytes], records: int, workdir: Path,
                     run: int) -> dict[str, float]:
    from oasis.config import Settings
    from oasis.ingest import Ingestor
    from oasis.store import DuckDBSignalStore

    # What `oasis ingest FILE` opens: the default settings' store, memory limit included.
    store = DuckDBSignalStore(workdir / f"file-{run}.duckdb", retention_days=0,
                              memory_limit_mb=Settings().store.memory_limit_mb)
    try:
        started = time.perf_counter()
        with path.open("rb") as f:
            Ingestor(store).ingest_file(f)
        file_seconds = time.perf_counter() - started
    finally:
        store.close()
    with oasis_server(workdir / f"four-{run}") as server:
        tally, http_seconds = asyncio.run(_send(server, bodies, 4, 600, stop_when_sent=True))
    if tally.records != records:
        raise RuntimeError(f"4 senders stored {tally.records} of {records} records")
    return {"http_records_per_s": records / http_seconds,
            "file_records_per_s": records / file_seconds,
            "http_vs_file": file_seconds / http_seconds}


def run_stream(path: Path, workdir: Path, run: int, megabytes: int) -> dict[str, float]:
    line_source = path.read_bytes()
    size = megabytes * 1024 * 1024

    def body() -> Iterator[bytes]:  # the file over and over, in 64 KiB pieces
        sent = 0
        while sent < size:
            for start in range(0, len(line_source), 65_536):
                piece = line_source[start:start + 65_536]
                yield piece
                sent += len(piece)
                if sent >= size:
                    break
            if not line_source.endswith(b"\n"):
                yield b"\n"

    with oasis_server(workdir / f"stream-{run}",
                      ingest__max_body_mb=str(megabytes * 2)) as server:
        started = time.perf_counter()
        r = httpx.post(server.url + "/api/v1/signals", content=body(), timeout=1800,
                       headers={"authorization": f"Bearer {server.api_key}",
                                "content-type": "application/x-ndjson"})
        seconds = time.perf_counter() - started
        r.raise_for_status()
        rss = server.peak_rss_mb()
    return {"body_mb": megabytes, "records": r.json()["accepted"],
            "records_per_s": r.json()["accepted"] / seconds, "peak_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hours", type=float, default=1.0,
                        help="hours of simulated fleet to send (about 110 k records an hour)")
    parser.add_argument("--stream-mb", type=int, default=256)
    parser.add_argument("--only", choices=("load", "four_clients", "stream"), action="append")
    args = parser.parse_args()
    scenarios = args.only or ["load", "four_clients", "stream"]

    workdir = Path(tempfile.mkdtemp(prefix="oasis-load-"))
    try:
        path = workdir / "signals.ndjson"
        generate(path, args.hours)
        small = batches(path, BATCH_RECORDS)
        large = sized_bodies(path, FOUR_CLIENT_BODY_BYTES)
        records = sum(body.count(b"\n") for body in small)
        print(f"{records:,} records, {len(small)} batches of {BATCH_RECORDS}", flush=True)
        load_before = list(os.getloadavg())
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in scenarios}
        for run in range(args.runs):
            if "load" in scenarios:
                runs["load"].append(run_load(small, workdir, run, args.clients, args.seconds))
            if "four_clients" in scenarios:
                runs["four_clients"].append(
                    run_four_clients(path, large, records, workdir, run))
            if "stream" in scenarios:
                runs["stream"].append(run_stream(path, workdir, run, args.stream_mb))
            print(f"run {run + 1}: " + json.dumps({k: v[-1] for k, v in runs.items()},
                                                  default=round), flush=True)
        medians = {name: {key: round(statistics.median(r[key] for r in results), 3)
                          for key in results[0]} for name, results in runs.items()}
        result = {
            "when": datetime.now(UTC).isoformat(),
            "machine": machine(load_before),
            "records": records, "runs": args.runs, "clients": args.clients,
            "seconds": args.seconds, "batch_records": BATCH_RECORDS,
            "medians": medians, "all_runs": runs, "targets": TARGETS,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / "load.json"
        if out.exists() and args.only:  # keep the scenarios this run did not measure
            previous = json.loads(out.read_text())
            result["medians"] = {**previous.get("medians", {}), **medians}
            result["all_runs"] = {**previous.get("all_runs", {}), **runs}
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["medians"], indent=2))
        print(f"wrote {out}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
