"""The monitor: every check interval, pull the newest complete minutes from the signal
store, run the detectors, and let the tracker turn anomalies into incidents.

Live (`oasis serve`) and replay (`oasis replay`) run this same class; only the clock
differs.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from oasis.detect.anomaly import Anomaly
from oasis.detect.detectors import ErrorRateDetector, NewErrorDetector
from oasis.detect.graph import CallGraph
from oasis.detect.metric import MetricDetector
from oasis.detect.settings import DetectSettings
from oasis.detect.templates import TemplateMiner
from oasis.detect.traffic import traffic_factors
from oasis.detect.window import ERROR_LEVEL_NAMES, SignalWindow, to_minute, window_sum
from oasis.incidents.model import Incident
from oasis.incidents.store import IncidentStore
from oasis.monitor.tracker import CheckContext, IncidentTracker
from oasis.signals.model import DeploymentRecord, utc_iso
from oasis.signals.times import floor_minute
from oasis.store.base import SignalStore

log = logging.getLogger(__name__)

MINED_LEVELS = {"WARN", "ERROR", "FATAL"}
LOG_ROWS_PER_CHECK = 200_000
FIRST_RAW_HOURS = 3  # raw lines read at start-up (for templates and the call graph)
SETTLE_SECONDS = 30  # how long after a minute's last record other services' may still come
SILENT_MINUTES = 10  # errors naming a silent dependency are counted over this many minutes


def signals_now(signals: SignalStore) -> datetime | None:
    """The signals' own clock: the newest record less the settle time; None before any.

    Detection and verification run on it, so backfilled history flows through in order and
    a simulator running at N x real time is followed.
    """
    latest = signals.latest_timestamp()
    return latest - timedelta(seconds=SETTLE_SECONDS) if latest is not None else None


class Monitor:
    def __init__(self, signals: SignalStore, incidents: IncidentStore,
                 settings: DetectSettings | None = None) -> None:
        self.signals = signals
        self.settings = settings or DetectSettings()
        self.window = SignalWindow()
        self.graph = CallGraph()
        self.miner = TemplateMiner()
        self.tracker = IncidentTracker(incidents, self.settings)
        self.detectors = [ErrorRateDetector(self.settings), NewErrorDetector(self.settings),
                          MetricDetector(self.settings)]
        self.deployments: list[DeploymentRecord] = []
        self.named_errors: dict[str, dict[int, float]] = defaultdict(dict)
        # Error lines naming a dependency that sends no telemetry of its own (a database,
        # a provider): per service, per dependency, per minute.
        self.silent_errors: dict[str, dict[str, dict[int, float]]] = defaultdict(
            lambda: defaultdict(dict))
        self.cursor: datetime | None = None
        self.last_anomalies: list[Anomaly] = []

    def check(self, now: datetime) -> list[Incident]:
        """Take in every minute that ended by `now`, detect, and update incidents."""
        end = floor_minute(now)
        if self.cursor is not None and end <= self.cursor:
            return []
        start = self.cursor or end - timedelta(minutes=self.window.keep_minutes)
        self._pull(start, end)
        self.cursor = end
        minute = to_minute(end) - 1
        self.window.freeze = {s: to_minute(t) for s, t in self.tracker.frozen_services().items()}
        self.window.traffic_factor = traffic_factors(self.window, minute, self.settings)
        anomalies = [a for d in self.detectors for a in d.detect(self.window, minute)]
        self.last_anomalies = anomalies
        if minute % 60 == 0:
            self.window.prune(minute)
            self._prune_named(minute - 24 * 60)
        ctx = CheckContext(self.graph, self._propagated_share(minute), self.deployments,
                           self._samples, self._silent_callees(minute))
        return self.tracker.update(anomalies, end, ctx)

    # -- reading the store -----------------------------------------------------------------
    def _pull(self, start: datetime, end: datetime) -> None:
        # Everything is read before anything is added: a source that fails mid-way
        # (SourceUnavailable) leaves the window untouched and the cursor where it was, so
        # the same minutes are read again next check instead of counting as quiet.
        raw_start = max(start, end - timedelta(hours=FIRST_RAW_HOURS))
        levels = self.signals.log_counts(start, end, by="level")
        error_types = self.signals.log_counts(start, end, by="error_type", errors_only=True)
        metrics = self.signals.metric_stats(start, end)
        deployments = self.signals.deployments(start, end)
        lines = self.signals.read_logs(raw_start, end, limit=LOG_ROWS_PER_CHECK)
        w = self.window
        for c in levels:
            w.add_log_count(to_minute(c.bucket), c.service, c.key or "INFO", c.count)
        for c in error_types:
            if c.key:
                w.add_error_type(to_minute(c.bucket), c.service, c.key, c.count)
        for m in metrics:
            w.add_metric(to_minute(m.bucket), m.service, m.name, m.mean)
        self.deployments.extend(deployments)
        horizon = end - timedelta(days=1)
        self.deployments = [d for d in self.deployments if d.timestamp >= horizon]
        known = set(w.services)
        for line in lines:
            if line.level.value not in MINED_LEVELS:
                continue
            minute = to_minute(line.timestamp)
            template_id, text = self.miner.add(line.message)
            w.add_template(minute, line.service, template_id, text)
            if line.level.value not in ERROR_LEVEL_NAMES:
                continue
            if self.graph.services_named(line, frozenset(known)):
                series = self.named_errors[line.service]
                series[minute] = series.get(minute, 0) + 1
            dependency = self.graph.dependency_named(line)
            if dependency is not None and not _is_known(dependency, known):
                series = self.silent_errors[line.service][dependency]
                series[minute] = series.get(minute, 0) + 1
        self.graph.learn(lines, known)
        self.graph.learn_calls(self.signals.call_edges(start, end))

    def _propagated_share(self, minute: int) -> dict[str, float]:
        share = {}
        for service, named in self.named_errors.items():
            errors = window_sum(self.window.logs[service].errors, minute, 5)
            if errors:
                share[service] = min(1.0, window_sum(named, minute, 5) / errors)
        return share

    def _prune_named(self, cutoff: int) -> None:
        series_sets = [*self.named_errors.values()]
        for by_dependency in self.silent_errors.values():
            series_sets += by_dependency.values()
        for series in series_sets:
            for m in [m for m in series if m < cutoff]:
                del series[m]

    def _silent_callees(self, minute: int) -> dict[str, tuple[str, float]]:
        """Per service: the silent dependency its recent errors name most, and the share
        of its errors that do."""
        out = {}
        for service, by_dependency in self.silent_errors.items():
            errors = window_sum(self.window.logs[service].errors, minute, SILENT_MINUTES)
            if not errors:
                continue
            named = {d: window_sum(series, minute, SILENT_MINUTES)
                     for d, series in by_dependency.items()}
            top = max(named, key=named.__getitem__)
            if named[top]:
                out[service] = (top, min(1.0, named[top] / errors))
        return out

    def _samples(self, service: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        lines = self.signals.sample_logs(start, end, service=service, errors_only=True,
                                         limit=3)
        return [{"timestamp": utc_iso(x.timestamp), "level": x.level.value,
                 "message": x.message[:500], "error_type": x.error_type,
                 "trace_id": x.trace_id} for x in lines]


def _is_known(dependency: str, known: set[str]) -> bool:
    """Whether an attribute's dependency name is a service with telemetry of its own:
    `payments.prod.svc` is `payments` when `payments` reports."""
    return dependency in known or dependency.split(".", 1)[0] in known
