"""Telemetry stores read in place: Prometheus, Loki, OpenSearch (`sources:` in the config).

`open_sources(settings)` builds a reader per entry; `FederatedSignals` puts them behind
the same interface as the embedded store, so detection has one path.
"""

from __future__ import annotations

from collections.abc import Sequence

from oasis.sources.base import SourceUnavailable, TelemetrySource
from oasis.sources.federated import FederatedSignals, SourceHealth
from oasis.sources.settings import (
    LokiSource,
    OpenSearchSource,
    PrometheusSource,
    SourceSettings,
)

__all__ = ["FederatedSignals", "SourceHealth", "SourceSettings", "SourceUnavailable",
           "TelemetrySource", "open_source", "open_sources"]


def open_source(settings: SourceSettings) -> TelemetrySource:
    """The reader for one `sources:` entry."""
    if isinstance(settings, PrometheusSource):
        from oasis.sources.prometheus import PrometheusReader
        return PrometheusReader(settings)
    if isinstance(settings, LokiSource):
        from oasis.sources.loki import LokiReader
        return LokiReader(settings)
    if isinstance(settings, OpenSearchSource):
        from oasis.sources.opensearch import OpenSearchReader
        return OpenSearchReader(settings)
    raise ValueError(f"unknown source kind {settings!r}")


def open_sources(entries: Sequence[SourceSettings]) -> list[TelemetrySource]:
    names = [e.label for e in entries]
    duplicate = {n for n in names if names.count(n) > 1}
    if duplicate:
        raise ValueError(f"sources need distinct names; give `name:` to {sorted(duplicate)}")
    return [open_source(e) for e in entries]
