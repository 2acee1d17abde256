"""Shared fixtures: every test gets its own data dir, store and settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.store import DuckDBSignalStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


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
    """No test reads the developer's own config or data dir."""
    for name in ("OASIS_CONFIG", "OASIS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
