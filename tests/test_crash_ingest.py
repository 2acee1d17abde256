"""kill -9 of a real `oasis serve` during HTTP ingest loses no acknowledged record.

A sender uploads ~150 k records in 2,000-line batches, each record with its own `id`; once
some batches are acknowledged the server process is killed outright. Restarted on the same
data dir, the store opens cleanly, every record of every batch answered 200 is there, and
sending again from before the crash fills in the rest without storing anything twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from oasis.auth.roles import Role
from oasis.auth.users import UserStore
from oasis.config import Settings
from oasis.state import state_engine
from oasis.store import DuckDBSignalStore
from tests.helpers import wait_until
from tests.servers import free_port

RECORDS = 150_000
BATCH_LINES = 2_000
KILL_AFTER_BATCHES = 10

pytestmark = pytest.mark.slow


def _batches() -> list[tuple[list[str], bytes]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    batches = []
    for first in range(0, RECORDS, BATCH_LINES):
        ids = [f"rec-{n}" for n in range(first, min(first + BATCH_LINES, RECORDS))]
        lines = [orjson.dumps({
            "type": "log", "id": record_id, "service": f"svc-{n % 7}", "level": "INFO",
            "timestamp": (start + timedelta(milliseconds=20 * n)).isoformat(),
            "message": f"GET /orders/{n} 200 in 12 ms"}) for n, record_id in
            enumerate(ids, start=first)]
        batches.append((ids, b"\n".join(lines) + b"\n"))
    return batches


@contextmanager
def _oasis_serve(data_dir: Path, log: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    env = {**os.environ, "OASIS_DATA_DIR": str(data_dir), "OASIS_AUTH__ENABLED": "true",
           "OASIS_STORE__RETENTION_DAYS": "0"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "oasis", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"oasis serve exited {process.returncode}:\n"
                                 f"{log.read_text(errors='replace')}")
        try:
            return httpx.get(url + "/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, 120, what="oasis serve to answer /healthz", interval=0.2)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _send(url: str, key: str, batches: list[tuple[list[str], bytes]],
          acknowledged: list[list[str]], stop: threading.Event) -> None:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/x-ndjson"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for ids, body in batches:
            if stop.is_set():
                return
            try:
                r = client.post("/api/v1/signals", content=body)
            except httpx.HTTPError:
                return  # the server is gone: what was not answered was not acknowledged
            if r.status_code == 200:
                assert r.json()["rejected"] == 0, r.json()["errors"][:3]
                acknowledged.append(ids)


def test_kill_9_during_http_ingest_loses_no_acknowledged_record(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True)
    engine = state_engine(settings.incident_db_url)
    key = UserStore(engine).create_api_key("shipper", Role.RESPONDER)[1]
    engine.dispose()
    batches = _batches()
    log = tmp_path / "server.log"

    acknowledged: list[list[str]] = []
    stop = threading.Event()
    with _oasis_serve(data_dir, log) as (process, url):
        sender = threading.Thread(target=_send, args=(url, key, batches, acknowledged, stop))
        sender.start()
        try:
            wait_until(lambda: len(acknowledged) >= KILL_AFTER_BATCHES, 300,
                       what=f"{KILL_AFTER_BATCHES} acknowledged batches", process=process)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)
        finally:
            stop.set()
            sender.join(120)
    acked = [record_id for ids in acknowledged for record_id in ids]
    assert KILL_AFTER_BATCHES * BATCH_LINES <= len(acked) < RECORDS

    # The store opens cleanly after the crash and holds every acknowledged record.
    store = DuckDBSignalStore(settings.signal_store_path, retention_days=0)
    try:
        everything = (datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1))
        stored = {record.id for record in store.read_logs(*everything, limit=2 * RECORDS)}
    finally:
        store.close()
    missing = [record_id for record_id in acked if record_id not in stored]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"

    # A restarted server takes the rest, sent again from a little before the crash (as a
    # sender that lost its answers does); ids keep the records stored once each.
    resent = batches[len(acknowledged) - 2:]
    with _oasis_serve(data_dir, log) as (_, url):
        again: list[list[str]] = []
        _send(url, key, resent, again, threading.Event())
        assert len(again) == len(resent)
    store = DuckDBSignalStore(settings.signal_store_path, retention_days=0)
    try:
        assert store.count("logs") == RECORDS
    finally:
        store.close()
