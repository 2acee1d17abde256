"""examples/production/ as a user runs it, minus Docker (no engine on this machine): its
config and the commands of its Compose file, pointed at the local PostgreSQL. The schema is
migrated by the `migrate` service's command, and a replica started with the replicas'
command and environment passes the Compose health check while its sources are down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import wait_until
from tests.servers import free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "production"

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _compose() -> dict:
    return yaml.safe_load((EXAMPLE / "compose.yaml").read_text())


def _oasis(command: list[str]) -> list[str]:
    assert command[0] == "oasis", command
    return [sys.executable, "-m", "oasis", *command[1:]]


def test_the_production_example_migrates_and_serves_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    config = yaml.safe_load((EXAMPLE / "oasis.yaml").read_text())
    assert config["store"]["backend"] == "postgres"
    config["state_url"] = postgres_url  # the `postgres` service, here on localhost
    for source in config["sources"]:  # Prometheus and Loki are not running: nothing listens
        source["url"] = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "oasis.yaml").write_text(yaml.safe_dump(config))

    services = _compose()["services"]
    replica = services["oasis-1"]
    env = {**os.environ,
           **{k: v for k, v in replica["environment"].items() if not v.startswith("${")},
           "OASIS_CONFIG": str(tmp_path / "oasis.yaml"),
           "OASIS_DATA_DIR": str(tmp_path / "data"),
           "OASIS_AUDIT__KEY": "example-test-audit-key-0123456789abcdef"}

    migrate = subprocess.run(_oasis(services["migrate"]["command"]), env=env,
                             capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    port = free_port()
    command = [str(port) if part == "8080" else "127.0.0.1" if part == "0.0.0.0" else part
               for part in replica["command"]]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(_oasis(command), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready() -> dict | None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3)
            except httpx.HTTPError:
                return None
            if answer.status_code != 200:
                return None
            body = answer.json()  # alone on the database: it takes every loop's lease
            return body if {"monitor", "responder", "dispatcher"} <= set(body["runs"]) else None

        wait_until(ready, 120, what="the replica to be ready and running its loops")
        check = [part.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                 for part in replica["healthcheck"]["test"][1:]]
        assert check[0] == "python"
        health = subprocess.run([sys.executable, *check[1:]], capture_output=True, timeout=30)
        assert health.returncode == 0, health.stderr  # Compose would call it healthy
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    # uvicorn re-raises SIGTERM once shut down; what matters is that it shut down cleanly.
    assert proc.returncode in (0, -signal.SIGTERM), output[-3000:]
    assert "Application shutdown complete" in output
