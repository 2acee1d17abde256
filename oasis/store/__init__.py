"""Signal storage behind one small interface, `SignalStore`."""

from pathlib import Path

from oasis.config import Settings
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


def open_signal_store(settings: Settings, path: Path | None = None) -> SignalStore:
    """The store the settings name, at its file under the data dir unless `path` is given."""
    return DuckDBSignalStore(
        path or settings.signal_store_path, retention_days=settings.store.retention_days
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
    "StoreLockedError",
    "open_signal_store",
]
