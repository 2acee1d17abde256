"""What kind of series a metric is, and what its own history already shows.

A median and a MAD describe a steady series well and a sparse one badly: a low-traffic
service's error ratio is 0 most minutes and 0.25-1.0 now and then, so its median and MAD
are both 0 and every failed request looks infinitely unusual. Before a level shift counts,
the metric detector asks three more questions here, none of them tied to a metric name
beyond the conventions documented in `MetricSettings`:

- **Is it beyond what the history already sustained?** The largest value the series held
  for a whole confirmation window in its history (the maximum of rolling minima) is the
  edge of normal for a shift; single-minute spikes in the history do not widen it.
- **Is the run improbable for this series?** For a zero-inflated or jumpy series each of
  the latest points gets the smoothed empirical chance of a value at least that extreme
  in the history; their product must fall below `run_p_value`. A series that is non-zero
  every tenth minute needs a longer run than one that never was.
- **For a ratio, is the failed count significant given the volume?** When the service has
  a known request volume, the failures behind an error ratio are tested against the
  volume (binomial tail), not the percentage: one failure in three requests is not news.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

RATIO_WORDS = ("ratio", "rate", "pct", "percent", "share", "fraction")
FAILURE_WORDS = ("error", "fail", "5xx", "fault", "reject")
PERCENT_WORDS = ("pct", "percent")
PER_SECOND_TOKENS = {"rps", "qps", "tps", "s", "sec", "second", "persecond"}
SECOND_TOKENS = {"s", "sec", "secs", "second", "seconds"}
NOT_VOLUME = ("duration", "latency", "size", "bytes", "second", "time", "sum", "bucket", "p50",
              "p90", "p95", "p99", "ms", "sec")
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


@functools.lru_cache(maxsize=8192)
def tokens(name: str) -> tuple[str, ...]:
    """The words of a metric name (`http.server.request_duration-seconds` -> http, server,
    request, duration, seconds): rules match words, so `default` is not a `fault` and
    `https` not a `tps`. Cached: every check asks about every series' name."""
    return tuple(t for t in re.split(r"[^a-z0-9]+", name.lower()) if t)


@functools.lru_cache(maxsize=65536)
def _has(name: str, words: tuple[str, ...]) -> bool:
    return any(t.startswith(w) for t in tokens(name) for w in words)


def is_failure_ratio(name: str) -> bool:
    """An error or failure share (a ratio or a percentage), by the usual naming."""
    return _has(name, FAILURE_WORDS) and _has(name, RATIO_WORDS)


def counts_failures(name: str) -> bool:
    """Errors or failures, as a share or a count."""
    return _has(name, FAILURE_WORDS)


def is_failure_count(name: str) -> bool:
    """A count of errors or failures (per minute, or a counter of them), not a share."""
    return counts_failures(name) and not is_failure_ratio(name)


def is_volume(name: str, words: list[str]) -> bool:
    """A count of requests: a volume word, and no failure, duration or size word
    (`http_request_duration_seconds` is a latency)."""
    return _has(name, tuple(words)) and not counts_failures(name) and not _has(name, NOT_VOLUME)


def in_seconds(name: str) -> bool:
    return bool(SECOND_TOKENS & set(tokens(name)))


def is_latency(name: str) -> bool:
    return _has(name, ("latency", "duration"))


def ratio_scale(name: str, history: Sequence[float], latest: Sequence[float]) -> float:
    """What to divide a failure ratio by to get a fraction: 100 for a percentage, else 1.

    The unit is not known in advance: a name that says percent, or any value above 1 in
    the history or now, makes it a percentage.
    """
    if _has(name, PERCENT_WORDS):
        return 100.0
    return 100.0 if any(v > 1.0 for v in history) or any(v > 1.0 for v in latest) else 1.0


def per_minute_factor(name: str) -> float:
    """Volume metrics named per second (rps, per_s, per_second) count x60 a minute."""
    words = tokens(name)
    per_second = bool({"rps", "qps", "tps"} & set(words)) or any(
        a == "per" and b in PER_SECOND_TOKENS for a, b in itertools.pairwise(words))
    return 60.0 if per_second else 1.0


def points_between(series: dict[int, float], start: int, end: int) -> dict[int, float]:
    """The minutes `start`..`end` of a series (a slice, so the cost is the span's, not
    the whole eight days')."""
    return {m: series[m] for m in range(start, end + 1) if m in series}


def looks_cumulative(name: str, series: dict[int, float], minute: int) -> bool:
    """A monotonic counter (Prometheus' `_total`, a histogram's `_count`/`_sum`): by its
    name, and only if it rarely falls (a fall is a reset). A gauge that climbs (a leak,
    a filling disk) is never taken for a counter by its shape alone."""
    if not name.lower().endswith(COUNTER_SUFFIXES):
        return False
    points = [series[m] for m in range(minute - 120, minute + 1) if m in series]
    falls = sum(b < a for a, b in itertools.pairwise(points))
    return falls <= max(2, len(points) // 20)


def counter_increase(series: dict[int, float]) -> dict[int, float]:
    """Per-minute increase of a cumulative counter, spread over gaps; a drop is a reset
    (the counter restarted from 0), so the new value itself is the increase."""
    out: dict[int, float] = {}
    previous: tuple[int, float] | None = None
    for minute in sorted(series):
        value = series[minute]
        if previous is not None:
            gap = minute - previous[0]
            increase = value - previous[1] if value >= previous[1] else value
            out[minute] = increase / gap
        previous = (minute, value)
    return out


@dataclass(frozen=True, slots=True)
class HistoryShape:
    """The history of one series, sorted, with the shift its history already sustained."""

    values: tuple[float, ...]  # sorted ascending
    sustained_high: float  # largest value held for a whole window (max of rolling minima)
    sustained_low: float  # smallest value held for a whole window (min of rolling maxima)
    zero_share: float

    @classmethod
    def of(cls, history: Sequence[float], window_points: int) -> HistoryShape:
        w = max(1, window_points)
        if len(history) >= w:
            high, low = _sustained(history, w)
        else:
            high, low = max(history, default=0.0), min(history, default=0.0)
        zeros = sum(1 for v in history if v == 0)
        return cls(tuple(sorted(history)), high, low, zeros / len(history) if history else 0)

    def exceed_chance(self, value: float, sign: int) -> float:
        """Smoothed chance of a history value at least as extreme as `value` (Laplace)."""
        n = len(self.values)
        if sign > 0:
            count = n - bisect_left(self.values, value)
        else:
            count = bisect_right(self.values, value)
        return (count + 0.5) / (n + 1)

    def run_chance(self, latest: Sequence[float], sign: int) -> float:
        """Chance of the latest points all being this extreme, as if independent."""
        log_p = sum(math.log(self.exceed_chance(v, sign)) for v in latest)
        return math.exp(log_p)

    def irregular(self, level: float, band: float) -> bool:
        """Zero-inflated, or with a history whose own top 1 % already lies beyond the band
        (heavy tails): a z-score misjudges these, the run test does not."""
        if not self.values:
            return False
        if self.zero_share >= 0.2:
            return True
        top = self.values[-max(1, len(self.values) // 100)]
        bottom = self.values[max(1, len(self.values) // 100) - 1]
        return top - level >= band or level - bottom >= band

    def beyond_sustained(self, latest: Sequence[float], sign: int) -> bool:
        """Whether every latest point lies past what the history held for a whole window."""
        if sign > 0:
            return min(latest) > self.sustained_high
        return max(latest) < self.sustained_low


def _sustained(values: Sequence[float], w: int) -> tuple[float, float]:
    """(max of the rolling minima, min of the rolling maxima) over windows of `w` points;
    the windows as zipped tuples, so min and max run in C."""
    windows = list(zip(*(values[i:] for i in range(w)), strict=False))
    return max(map(min, windows)), min(map(max, windows))


def binomial_tail(failures: float, trials: float, p: float) -> float:
    """P(X >= failures) for X ~ Binomial(trials, p); trials and failures rounded."""
    n, k = round(trials), round(failures)
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    p = min(max(p, 1e-9), 1 - 1e-9)
    log_p, log_q = math.log(p), math.log(1 - p)
    base = math.lgamma(n + 1)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p
                        + (n - i) * log_q)
        total += term
        if i > k and term < total * 1e-12:
            break
    return min(1.0, total)


def sampling_step(series: dict[int, float], minute: int, points: int = 12) -> int:
    """Minutes between a series' points (1 for per-minute series, 5 for five-minute ones),
    the median gap of its latest points."""
    # Walking back from `minute`: the latest points are found without scanning the span.
    recent = []
    for m in range(minute, minute - 12 * points - 1, -1):
        if m in series:
            recent.append(m)
            if len(recent) == points:
                break
    recent.reverse()
    gaps = sorted(b - a for a, b in itertools.pairwise(recent))
    return max(1, gaps[len(gaps) // 2]) if gaps else 1
