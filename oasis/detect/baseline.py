"""What a series should look like now, from its own history.

The level comes from recent history (median, with a MAD-based spread, both robust to the
odd outlier). When a day or a week of history exists, the level is adjusted by how the
same series moved at this time of day on earlier days (the same weekday when a week is
there), so a morning ramp that happens every day is expected, not alarming.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

DAY = 24 * 60
WEEK = 7 * DAY
SEASON_HALF_WIDTH = 10  # minutes either side of "the same time" on an earlier day


@dataclass(frozen=True, slots=True)
class Expectation:
    """Expected value of one minute, its robust spread, and what it was built from."""

    value: float
    spread: float
    points: int
    seasonal: str | None  # "daily", "weekly" or None

    def z(self, observed: float, floor: float = 0.0) -> float:
        return (observed - self.value) / max(self.spread, floor, 1e-9)


def expect(series: dict[int, float], minute: int, *, recent: int, guard: int,
           min_points: int, zero_fill_from: int | None = None) -> Expectation | None:
    """Expectation for `minute` from `recent` minutes of history ending `guard` minutes back.

    Count series pass `zero_fill_from` (the minute the service was first seen): a minute
    with no errors is a zero, not a gap.
    """
    end = minute - guard
    values = _values(series, end - recent, end, zero_fill_from)
    if len(values) < min_points:
        return None
    level = statistics.median(values)
    spread = 1.4826 * statistics.median(abs(v - level) for v in values)
    factor, kind = _seasonal_factor(series, minute, end - recent, end, zero_fill_from)
    if factor is not None:
        level *= factor
        spread *= max(1.0, factor)
    return Expectation(level, spread, len(values), kind)


def _values(series: dict[int, float], start: int, end: int,
            zero_fill_from: int | None) -> list[float]:
    if zero_fill_from is None:
        return [series[m] for m in range(start, end) if m in series]
    return [series.get(m, 0.0) for m in range(max(start, zero_fill_from), end)]


def _seasonal_factor(series: dict[int, float], minute: int, start: int, end: int,
                     zero_fill_from: int | None) -> tuple[float | None, str | None]:
    """How much higher the series was at this time than in the recent window, on past days."""
    first = min(series) if series else minute
    if zero_fill_from is not None:
        first = min(first, zero_fill_from)
    if minute - WEEK - SEASON_HALF_WIDTH >= first:
        offsets, kind = [WEEK], "weekly"
    elif minute - DAY - SEASON_HALF_WIDTH >= first:
        offsets = [d * DAY for d in range(1, 7) if minute - d * DAY - SEASON_HALF_WIDTH >= first]
        kind = "daily"
    else:
        return None, None
    factors = []
    for off in offsets:
        then = _values(series, minute - off - SEASON_HALF_WIDTH,
                       minute - off + SEASON_HALF_WIDTH + 1, zero_fill_from)
        before = _values(series, start - off, end - off, zero_fill_from)
        if len(then) >= 5 and len(before) >= 10:
            base = statistics.median(before)
            if base > 0:
                factors.append(statistics.median(then) / base)
    if not factors:
        return None, None
    return min(5.0, max(0.2, statistics.median(factors))), kind


def expect_rate(series: dict[int, float], minute: int, *, recent: int, guard: int,
                min_points: int, zero_fill_from: int | None) -> tuple[float, float] | None:
    """(events per minute, over-dispersion) for a count series such as errors per minute.

    The rate is a mean (a median says 0 for a service with one error every few minutes)
    over the minutes left once bursts are set aside; over-dispersion is variance / mean, at
    least 1 (Poisson), so a bursty service needs a bigger burst to alarm than a steady one.
    """
    end = minute - guard
    values = sorted(_values(series, end - recent, end, zero_fill_from))
    if len(values) < min_points:
        return None
    kept = _without_bursts(values)
    rate = sum(kept) / len(kept)
    variance = _variance(kept) if len(kept) > 1 else rate
    factor, _ = _seasonal_factor(series, minute, end - recent, end, zero_fill_from)
    if factor is not None:
        rate *= factor
    return rate, max(1.0, variance / rate) if rate > 0 else 1.0


def _without_bursts(values: list[float]) -> list[float]:
    """The sorted counts without the minutes far above the rest (an earlier burst).

    Only minutes beyond about four standard deviations of a first, deliberately low,
    estimate go: always dropping a fixed top share (as a trimmed mean does) makes the rate
    of a steady Poisson series some 10 % too low, and a chance burst then looks like a
    spike to a check that runs every minute on every service.
    """
    low = values[: max(1, len(values) - len(values) // 10)]
    rate = sum(low) / len(low)
    dispersion = max(1.0, _variance(low) / rate) if rate > 0 and len(low) > 1 else 1.0
    cutoff = rate + 4 * math.sqrt(max(rate, 0.25) * dispersion) + 2 * dispersion
    return [v for v in values if v <= cutoff] or values[:1]


def _variance(values: list[float]) -> float:
    """Population variance in plain floats (`statistics.pvariance` works in exact
    fractions: 20 times slower, and this runs for every series every minute)."""
    mean = sum(values) / len(values)
    return sum((v - mean) * (v - mean) for v in values) / len(values)
