"""Cumulative series: what changed since the previous point of the same series.

A cumulative counter or histogram reports totals since its start time. The detectors need
what happened per minute, so the receiver keeps each series' previous point in memory and
turns each new point into the increase over the interval between the two. A reset (the
process restarted: the start time changed, or a total went down) starts over: the new
point's totals are the increase since its own start.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Point:
    """One cumulative point: a counter's value, or a histogram's count, sum and buckets."""

    start_ns: int
    time_ns: int
    value: float
    total: float = 0.0
    buckets: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Increase:
    """What a series gained over `seconds`; `since_start` when the interval is the whole
    life of the series (then its minimum and maximum describe the interval too)."""

    value: float
    seconds: float
    total: float = 0.0
    buckets: tuple[int, ...] = ()
    since_start: bool = False

    def per_minute(self) -> float:
        return self.value / self.seconds * 60.0


class CumulativeSeries:
    """The last point of each series, the least recently seen forgotten past `max_series`."""

    def __init__(self, *, max_series: int, first_interval_seconds: float) -> None:
        self.max_series = max_series
        self.first_interval_ns = int(first_interval_seconds * NS)
        self._last: OrderedDict[bytes, Point] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._last)

    def increase(self, key: bytes, point: Point) -> Increase | None:
        """The increase since the series' previous point; None for the first point of a
        series that started long ago (it only sets the baseline) and for a point not newer
        than the previous one (a re-sent export)."""
        with self._lock:
            previous = self._last.get(key)
            if previous is not None and point.time_ns <= previous.time_ns:
                return None
            self._last[key] = point
            self._last.move_to_end(key)
            while len(self._last) > self.max_series:
                self._last.popitem(last=False)
        if previous is None:
            return self._since_start(point)
        if _is_reset(previous, point):
            if point.start_ns > previous.time_ns:
                return self._since_start(point, first=False)
            # The new start is unknown (or not after the previous point): the new totals
            # accrued since that point at most.
            return Increase(point.value, (point.time_ns - previous.time_ns) / NS, point.total,
                            point.buckets)
        return Increase(point.value - previous.value, (point.time_ns - previous.time_ns) / NS,
                        point.total - previous.total,
                        tuple(b - a for a, b in zip(previous.buckets, point.buckets,
                                                    strict=True)))

    def _since_start(self, point: Point, *, first: bool = True) -> Increase | None:
        span = point.time_ns - point.start_ns
        if not point.start_ns or span <= 0 or (first and span > self.first_interval_ns):
            return None
        return Increase(point.value, span / NS, point.total, point.buckets, since_start=True)


def _is_reset(previous: Point, point: Point) -> bool:
    if point.start_ns and previous.start_ns and point.start_ns != previous.start_ns:
        return True
    if point.value < previous.value or point.bounds != previous.bounds:
        return True
    return any(b < a for a, b in zip(previous.buckets, point.buckets, strict=True))
