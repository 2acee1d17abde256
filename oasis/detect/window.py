"""Per-minute history of every series the detectors look at, kept in memory.

The monitor fills it from the signal store one check at a time; detectors only read it.
Minutes are integers (Unix minutes), so arithmetic on them is exact and cheap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from oasis.signals.model import ERROR_LEVELS

ERROR_LEVEL_NAMES = {lvl.value for lvl in ERROR_LEVELS}


def to_minute(ts: datetime) -> int:
    return int(ts.timestamp() // 60)


def from_minute(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


@dataclass
class ServiceLogs:
    """Log counts of one service, per minute."""

    errors: dict[int, float] = field(default_factory=dict)
    other: dict[int, float] = field(default_factory=dict)  # non-error lines: a traffic proxy
    by_type: dict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    first_minute: int | None = None


class SignalWindow:
    """Rolling per-minute aggregates: error and other log counts, error types, templates,
    metric values, and when each service was first seen."""

    def __init__(self, keep_minutes: int = 8 * 24 * 60) -> None:
        self.keep_minutes = keep_minutes
        self.logs: dict[str, ServiceLogs] = defaultdict(ServiceLogs)
        self.metrics: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        self.metric_first: dict[tuple[str, str], int] = {}
        self.templates: dict[str, dict[str, dict[int, float]]] = defaultdict(
            lambda: defaultdict(dict))
        self.template_text: dict[str, str] = {}
        self.template_first: dict[tuple[str, str], int] = {}
        self.type_first: dict[tuple[str, str], int] = {}
        self.latest_minute: int | None = None
        # Services in an open incident, and the minute it started: their baselines end
        # there, so a long outage never becomes the new normal.
        self.freeze: dict[str, int] = {}
        # Services' current request volume over their usual one (from request-rate
        # metrics), set by the monitor before each check: errors scale with it.
        self.traffic_factor: dict[str, float] = {}
        self._by_service: dict[str, list[tuple[str, dict[int, float]]]] = {}
        self._indexed = 0  # len(self.metrics) when _by_service was built

    # -- filling ---------------------------------------------------------------------------
    def add_log_count(self, minute: int, service: str, level: str, count: int) -> None:
        s = self.logs[service]
        target = s.errors if level in ERROR_LEVEL_NAMES else s.other
        target[minute] = target.get(minute, 0) + count
        if level in ERROR_LEVEL_NAMES:
            s.other.setdefault(minute, 0)
        else:
            s.errors.setdefault(minute, 0)
        if s.first_minute is None or minute < s.first_minute:
            s.first_minute = minute
        self._saw(minute)

    def add_error_type(self, minute: int, service: str, error_type: str, count: int) -> None:
        series = self.logs[service].by_type[error_type]
        series[minute] = series.get(minute, 0) + count
        self.type_first.setdefault((service, error_type), minute)

    def add_template(self, minute: int, service: str, template_id: str, text: str) -> None:
        series = self.templates[service][template_id]
        series[minute] = series.get(minute, 0) + 1
        self.template_text[template_id] = text
        self.template_first.setdefault((service, template_id), minute)

    def add_metric(self, minute: int, service: str, name: str, value: float) -> None:
        self.metrics[(service, name)][minute] = value
        self.metric_first.setdefault((service, name), minute)
        self._saw(minute)

    def _saw(self, minute: int) -> None:
        if self.latest_minute is None or minute > self.latest_minute:
            self.latest_minute = minute

    def prune(self, now_minute: int) -> None:
        """Forget minutes older than `keep_minutes`."""
        cutoff = now_minute - self.keep_minutes
        series_sets: list[dict[int, float]] = [*self.metrics.values()]
        for s in self.logs.values():
            series_sets += [s.errors, s.other, *s.by_type.values()]
        for per_service in self.templates.values():
            series_sets += list(per_service.values())
        for series in series_sets:
            old = [m for m in series if m < cutoff]
            for m in old:
                del series[m]

    # -- reading ---------------------------------------------------------------------------
    @property
    def services(self) -> list[str]:
        names = set(self.logs) | {s for s, _ in self.metrics}
        return sorted(names)

    def service_metrics(self, service: str) -> list[tuple[str, dict[int, float]]]:
        """(name, series) of one service's metrics, in the order they first appeared.

        Checks ask this per service, and a fleet of hundreds of services has thousands of
        series: the index is rebuilt only when a series appears (none is ever removed).
        """
        if self._indexed != len(self.metrics):
            index: dict[str, list[tuple[str, dict[int, float]]]] = defaultdict(list)
            for (owner, name), series in self.metrics.items():
                index[owner].append((name, series))
            self._by_service, self._indexed = dict(index), len(self.metrics)
        return self._by_service.get(service, [])

    def history_minutes(self, service: str, now_minute: int) -> int:
        first = self.logs[service].first_minute if service in self.logs else None
        firsts = [m for (s, _), m in self.metric_first.items() if s == service]
        if first is not None:
            firsts.append(first)
        return now_minute - min(firsts) if firsts else 0


def guard_for(window: SignalWindow, service: str, minute: int, guard: int) -> int:
    """Minutes to leave out of a baseline: at least `guard`, and the whole open incident."""
    frozen = window.freeze.get(service)
    return max(guard, minute - frozen + 1) if frozen is not None else guard


def window_sum(series: dict[int, float], end_minute: int, minutes: int) -> float:
    """Sum of the `minutes` minutes ending with `end_minute` (missing minutes count 0)."""
    return sum(series.get(m, 0) for m in range(end_minute - minutes + 1, end_minute + 1))
