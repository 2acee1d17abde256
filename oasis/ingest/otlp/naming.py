"""Names for the series OTLP metrics become, in the words oasis.detect.shape reads.

- a time is named with its unit (`_s`, `_ms`): the detectors scale latency thresholds by
  the name, so `http.server.request.duration` in seconds becomes
  `http.server.request.duration_p99_s`; micro- and nanoseconds are turned into `ms`;
- a counter is a rate: `http.server.requests` → `http.server.requests_per_minute`
  (a `_total` suffix is dropped: the result is no longer a running total);
- a histogram's observation count is a volume: `http.server.request.duration` →
  `http.server.request_count_per_minute` (the duration word dropped on the server side,
  so the name reads as requests; a client's count keeps it, so a service's outgoing calls
  are not taken for its own traffic).
"""

from __future__ import annotations

import re

# UCUM time units: the factor to the unit kept, and that unit.
_TIME_UNITS = {"s": (1.0, "s"), "ms": (1.0, "ms"), "us": (1e-3, "ms"), "μs": (1e-3, "ms"),
               "ns": (1e-6, "ms")}
_UNIT_WORDS = {"s", "sec", "secs", "second", "seconds", "ms", "millis", "milliseconds", "us",
               "microseconds", "ns", "nanoseconds"}
_DURATION_SUFFIX = re.compile(
    r"[._-](duration|latency|time)([._-](s|ms|us|ns|seconds|milliseconds|microseconds))?$",
    re.IGNORECASE)


def time_unit(unit: str) -> tuple[float, str | None]:
    """The factor that turns values in `unit` into the unit kept, and that unit."""
    factor, kept = _TIME_UNITS.get(unit, (1.0, unit))
    return factor, kept or None


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9μ]+", name.lower()) if w]


def _unit_suffix(name: str, unit: str) -> str:
    """`_s` or `_ms` for a time not already named in its unit, else nothing."""
    kept = _TIME_UNITS.get(unit)
    if kept is None:
        return ""
    words = _words(name)
    return "" if words and words[-1] in _UNIT_WORDS else f"_{kept[1]}"


def gauge_name(name: str, unit: str) -> str:
    return name + _unit_suffix(name, unit)


def stat_name(name: str, stat: str, unit: str) -> str:
    """A statistic of a distribution: `<name>_p99_s`, `latency_ms_p99`."""
    return f"{name}_{stat}{_unit_suffix(name, unit)}"


def rate_name(name: str) -> str:
    base = name[: -len("_total")] if name.endswith("_total") else name
    return f"{base}_per_minute"


def count_name(name: str) -> str:
    stem = name
    if "client" not in _words(name):
        stem = _DURATION_SUFFIX.sub("", name) or name
    return f"{stem}_count_per_minute"
