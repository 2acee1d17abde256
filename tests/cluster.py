"""Several real `oasis serve` replicas on one PostgreSQL state database, for the replica
test (tests/test_replicas.py) and benchmark (bench/replicas.py).

Each replica is its own process on its own loopback port with its own data dir; they share
the state database, its signal aggregates and the audit key. `push` sends NDJSON batches
round-robin to the live replicas and re-sends a batch that was not acknowledged to the next
one (records carry ids, so a batch stored but not acknowledged is not counted twice).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
import yaml

from tests.helpers import wait_until
from tests.servers import free_port

OASIS = [sys.executable, "-m", "oasis"]
ROOT = Path(__file__).resolve().parent.parent  # this checkout, first on the path
AUDIT_KEY = "replica-test-audit-key-0123456789abcdef"


@dataclass
class Replica:
    index: int
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Cluster:
    root: Path
    state_url: str
    settings: dict[str, Any]
    replicas: list[Replica] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = self.root / "oasis.yaml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "state_url": self.state_url,
                    "store": {"backend": "postgres"},
                    "knowledge": {"embedder": "none"},
                    **self.settings,
                }
            )
        )
        self.engine = sa.create_engine(self.state_url, poolclass=sa.pool.NullPool)

    def env(self, index: int) -> dict[str, str]:
        return {
            **os.environ,
            "OASIS_CONFIG": str(self.config),
            "OASIS_DATA_DIR": str(self.root / f"replica-{index}"),
            "OASIS_AUDIT__KEY": AUDIT_KEY,
            "PYTHONPATH": str(ROOT),
        }

    def upgrade(self) -> str:
        done = subprocess.run(
            [*OASIS, "db", "upgrade"], env=self.env(0), text=True, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self, n: int) -> list[Replica]:
        for _ in range(n):
            index = len(self.replicas)
            port = free_port()
            log = self.root / f"replica-{index}.log"
            proc = subprocess.Popen(
                [*OASIS, "serve", "--port", str(port)],
                env=self.env(index),
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
            self.replicas.append(Replica(index, port, proc, log))
        for r in self.replicas[-n:]:
            wait_until(
                lambda r=r: _ready(r), 180, what=f"replica {r.index} to be ready", process=r.proc
            )
        return self.replicas[-n:]

    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    def lease(self, name: str) -> tuple[str, int] | None:
        """(holder, token) of a loop's lease."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT holder, token FROM oasis_leases WHERE name = :n"), {"n": name}
            ).first()
        return (row[0], row[1]) if row else None

    def holder(self, name: str) -> Replica | None:
        """The replica whose process holds lease `name` (holders are host:pid:...)."""
        held = self.lease(name)
        if held is None:
            return None
        pid = int(held[0].split(":")[1])
        return next((r for r in self.replicas if r.proc.pid == pid), None)

    def kill(self, replica: Replica) -> float:
        """SIGKILL: no shutdown, no lease released. The monotonic time it died."""
        replica.proc.send_signal(signal.SIGKILL)
        replica.proc.wait(30)
        return time.monotonic()

    def stop(self) -> None:
        for r in self.live():
            r.proc.send_signal(signal.SIGTERM)
        for r in self.replicas:
            try:
                r.proc.wait(30)
            except subprocess.TimeoutExpired:
                r.proc.kill()
                r.proc.wait()
        self.engine.dispose()

    def logs(self) -> str:
        return "\n".join(
            f"--- replica {r.index}\n{r.log.read_text()[-4000:]}" for r in self.replicas
        )


def _ready(replica: Replica) -> bool:
    try:
        return httpx.get(replica.url + "/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Pushed:
    acknowledged: int = 0  # records in batches a replica answered 200 for
    duplicates: int = 0
    resent: int = 0  # batches sent again after a replica failed to answer
    by_replica: dict[int, int] = field(default_factory=dict)


def push(
    cluster: Cluster,
    records: Sequence[dict[str, Any]],
    *,
    batch: int = 1000,
    after_batch: Callable[[int], None] = lambda _n: None,
    client: httpx.Client | None = None,
) -> Pushed:
    """Send `records` in batches round-robin over the live replicas, each batch until one
    acknowledges it. `after_batch(n)` runs after the n-th acknowledged batch."""
    out = Pushed()
    own = client is None
    client = client or httpx.Client(timeout=60)
    turn = 0
    try:
        for n, start in enumerate(range(0, len(records), batch), 1):
            body = b"".join(orjson.dumps(r) + b"\n" for r in records[start : start + batch])
            for _attempt in range(50):
                live = cluster.live()
                assert live, "no replica left to push to"
                target = live[turn % len(live)]
                turn += 1
                try:
                    reply = client.post(
                        target.url + "/api/v1/signals",
                        content=body,
                        headers={"content-type": "application/x-ndjson"},
                    )
                except httpx.HTTPError:
                    reply = None
                if reply is not None and reply.status_code == 200:
                    report = reply.json()
                    out.acknowledged += report["accepted"]
                    out.duplicates += report["duplicates"]
                    out.by_replica[target.index] = out.by_replica.get(target.index, 0) + 1
                    break
                out.resent += 1
            else:
                raise AssertionError(f"batch {n} was never acknowledged")
            after_batch(n)
    finally:
        if own:
            client.close()
    return out
