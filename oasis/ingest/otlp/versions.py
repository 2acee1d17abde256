"""`service.version` changes as deployments.

OASIS correlates anomalies with deployments; telemetry that names its service's version
shows a deployment without a CI hook: a version the service has not reported within
`OtlpSettings.version_overlap_minutes` becomes its current one, recorded as a deployment
from the previous one. Both versions report during a rolling deployment, so the old one
reappearing within that time is not a rollback. The first version seen of a service is
only remembered (nothing says when it was deployed), as is the version the store last
recorded for it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from typing import Any

from oasis.ingest.otlp.common import iso_from_ns


class VersionTracker:
    def __init__(self, overlap_minutes: float,
                 recorded: Callable[[], Iterable[tuple[str, str | None]]]) -> None:
        """`recorded`: the (service, current version) pairs the store knows, read once."""
        self.overlap_ns = int(overlap_minutes * 60e9)
        self._recorded = recorded
        self._current: dict[str, str] | None = None
        self._seen: dict[str, dict[str, int]] = {}  # service -> version -> last seen (ns)
        self._lock = threading.Lock()

    def deployments(self, sightings: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
        """Deployment wire records for the versions a request shows, oldest first."""
        out = []
        with self._lock:
            if self._current is None:
                self._current = {s: v for s, v in self._recorded() if v}
            for (service, version), ns in sorted(sightings.items(), key=lambda kv: kv[1]):
                record = self._observe(service, version, ns)
                if record is not None:
                    out.append(record)
        return out

    def _observe(self, service: str, version: str, ns: int) -> dict[str, Any] | None:
        assert self._current is not None
        seen = self._seen.setdefault(service, {})
        last = seen.get(version)
        seen[version] = max(ns, last or 0)
        current = self._current.get(service)
        if current is None:
            self._current[service] = version
            return None
        if version == current or (last is not None and ns - last < self.overlap_ns):
            return None
        self._current[service] = version
        digest = hashlib.blake2b(f"{service}\0{current}\0{version}\0{ns // 60_000_000_000}"
                                 .encode(), digest_size=16).hexdigest()
        return {"type": "deployment", "timestamp": iso_from_ns(ns), "service": service,
                "version": version, "previous_version": current,
                "description": "service.version changed in OpenTelemetry telemetry",
                "attributes": {"source": "otlp"}, "id": f"otlp:deploy:{digest}"}
