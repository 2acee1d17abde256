"""Shared fixtures: every test gets its own data dir, store and settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.store import DuckDBSignalStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Test records are stamped on fixed days (tests.helpers.T0): with a retention period,
    # ingest would refuse them as too old once the wall clock is far enough past those days.
    # The retention window itself is tested with an injected clock (test_ingest_fastpath).
    return Settings(data_dir=tmp_path / "data", store={"retention_days": 0})


@pytest.fixture
def store(settings: Settings) -> Iterator[DuckDBSignalStore]:
    s = DuckDBSignalStore(settings.signal_store_path, retention_days=settings.store.retention_days)
    yield s
    s.close()


@pytest.fixture
def client(settings: Settings, store: DuckDBSignalStore) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store)) as c:
        yield c


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own config or data dir, and none depends on the date:
    records stamped on the fixed days of tests.helpers would be refused as older than the
    default retention once the wall clock is two weeks past them, so retention is off. The
    environment wins over values given to Settings(...): a test of retention itself sets
    it with monkeypatch.setenv, or passes retention_days to the store directly, with an
    injected clock (test_ingest_fastpath)."""
    for name in ("OASIS_CONFIG", "OASIS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OASIS_STORE__RETENTION_DAYS", "0")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


PG_ADMIN_URL = os.environ.get("OASIS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def service_unavailable(what: str, why: object) -> None:
    """Skip a test that needs a real server, or fail when CI requires them all."""
    message = f"{what} is not reachable ({why}); start it or see .ci/start-services"
    if os.environ.get("OASIS_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server, dropped afterwards."""
    import secrets

    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"oasis_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        service_unavailable("PostgreSQL", exc.orig)
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """A moto S3 server on a free loopback port, with throw-away credentials."""
    from moto.server import ThreadedMotoServer

    from tests.servers import free_port

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
