"""Signal storage behind one small interface, `SignalStore`."""

from pathlib import Path
from typing import Protocol

from oasis.signals.errors import InvalidInput
from oasis.store.base import (
    AppendResult,
    LogCount,
    MetricStats,
    RetentionResult,
    ServiceSummary,
    SignalStore,
)
from oasis.store.batch import SignalBatch
from oasis.store.duckdb_store import DuckDBSignalStore, StoreLockedError


class StoreConfigError(InvalidInput, ValueError):
    """The signal store settings cannot work (e.g. `postgres` without a PostgreSQL URL)."""


class _StoreSection(Protocol):
    @property
    def retention_days(self) -> float: ...
    @property
    def memory_limit_mb(self) -> float: ...
    def backend(self) -> str: ...


class StoreConfig(Protocol):
    """What the store needs of `oasis.config.Settings`. Structural, so that importing the
    store does not import every package's settings (and FastAPI and Slack with them)."""

    @property
    def signal_store_path(self) -> Path: ...
    @property
    def store(self) -> _StoreSection: ...
    @property
    def signal_store_url(self) -> str | None: ...


def open_signal_store(settings: StoreConfig, path: Path | None = None) -> SignalStore:
    """The store the settings name: the embedded DuckDB file under the data dir (or at
    `path`), or, with `store.backend: postgres`, the shared aggregates in PostgreSQL."""
    if settings.store.backend == "postgres" and path is None:
        url = settings.signal_store_url
        if not url or not url.startswith("postgresql"):
            raise StoreConfigError("store.backend: postgres needs a PostgreSQL store.url or "
                                   "state_url (postgresql+psycopg://user@host/db)")
        from oasis.store.postgres_store import PostgresSignalStore

        # Its tables come from `oasis db upgrade` (oasis.schema), not from opening it.
        return PostgresSignalStore(url, retention_days=settings.store.retention_days,
                                   create_tables=False)
    return DuckDBSignalStore(
        path or settings.signal_store_path, retention_days=settings.store.retention_days,
        memory_limit_mb=settings.store.memory_limit_mb,
    )


__all__ = [
    "AppendResult",
    "DuckDBSignalStore",
    "LogCount",
    "MetricStats",
    "RetentionResult",
    "ServiceSummary",
    "SignalBatch",
    "SignalStore",
    "StoreConfig",
    "StoreConfigError",
    "StoreLockedError",
    "open_signal_store",
]
