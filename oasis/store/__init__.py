"""Signal storage behind one small interface, `SignalStore`."""

from pathlib import Path
from typing import Protocol

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


class _StoreSection(Protocol):
    @property
    def retention_days(self) -> float: ...
    @property
    def memory_limit_mb(self) -> float: ...


class StoreConfig(Protocol):
    """What the store needs of `oasis.config.Settings`. Structural, so that importing the
    store does not import every package's settings (and FastAPI and Slack with them)."""

    @property
    def signal_store_path(self) -> Path: ...
    @property
    def store(self) -> _StoreSection: ...


def open_signal_store(settings: StoreConfig, path: Path | None = None) -> SignalStore:
    """The store the settings name, at its file under the data dir unless `path` is given."""
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
    "StoreLockedError",
    "open_signal_store",
]
