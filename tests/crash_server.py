"""A real `oasis serve` process on a data dir, for crash tests: start it with a crash point
(`OASIS_TEST_CRASH_AT`, see oasis/signals/crashpoints.py), see it die of SIGKILL there,
start it again on the same files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent
from oasis.signals.crashpoints import CRASH_ENV
from tests.helpers import wait_until
from tests.servers import free_port

OASIS = [sys.executable, "-m", "oasis"]


class OasisProcess:
    """`oasis serve` with the settings `config` (data_dir and server.port are added)."""

    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = root / "oasis.yaml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    **config,
                    "data_dir": str(self.data),
                    "server": {**config.get("server", {}), "port": self.port},
                }
            )
        )
        self.runs = 0
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None

    def start(self, crash_at: str | None = None) -> subprocess.Popen:
        self.runs += 1
        self.log = self.root / f"serve-{self.runs}.log"
        env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
        env["OASIS_CONFIG"] = str(self.config)
        if crash_at:
            env[CRASH_ENV] = crash_at
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*OASIS, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        if crash_at:
            # The crash point may fire before the first health check answers (a seeded
            # incident is picked up at once): started means answering or already killed.
            wait_until(lambda: self.proc.poll() is not None or self._healthy(), 90,
                       what="the server to start or reach its crash point")
        else:
            self.wait_for(self._healthy, 90, what="the server to start")
        return self.proc

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def wait_for(self, predicate, timeout: float = 60, *, what: str):
        """`wait_until`, failing at once (with the server's output) if the server exits."""

        def check():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"oasis serve exited ({self.proc.returncode}) while "
                    f"waiting for {what}:\n{self.output()[-5000:]}"
                )
            return predicate()

        return wait_until(check, timeout, what=what)

    def killed_at_crash_point(self, timeout: float = 90) -> None:
        """Wait for the process to die of the SIGKILL its crash point sent itself."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the crash point was never reached:\n{self.output()[-5000:]}"
            ) from None
        assert self.proc.returncode == -signal.SIGKILL, self.output()[-5000:]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def get(self, path: str) -> Any:
        """The JSON at `path`, or None while the server does not answer."""
        try:
            response = httpx.get(self.url + path, timeout=5)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=30, **kwargs)

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def seed_incident(data: Path, incident_id: str, service: str, previous_version: str) -> None:
    """An analysed incident after a bad deploy of `service` 9.9.9, which a rollback to
    `previous_version` would undo, in the state database under `data`."""
    now = datetime.now(UTC)
    store = IncidentStore(f"sqlite:///{data / 'state.db'}")
    change = {
        "service": service,
        "version": "9.9.9",
        "previous_version": previous_version,
        "deployed_at": now.isoformat(),
        "minutes_before_onset": 1,
    }
    store.create(
        Incident(
            incident_id,
            Status.ANALYSIS_COMPLETE,
            Severity.HIGH,
            f"{service} errors after 9.9.9",
            [service],
            service,
            now,
            now,
            now,
            suspected_change=change,
        ),
        TimelineEvent(now, "detected", "seen"),
    )
    store.close()
