"""A streaming anomaly scorer for one metric series, point by point, with no look-ahead.

Why a second scorer next to the metric detector's robust baseline: that baseline looks at
two hours, which is right for "is this minute unlike the last hour" but forgets what a
series looked like yesterday, so every slow swing of a noisy series looks new. This scorer
keeps weeks of memory in constant time per point (running sums, monotonic max queues) and
turns several views of a deviation into one score in [0, 1):

- how far the value is from the long-run mean, in long-run standard deviations;
- how large the jump from the previous value is, against the usual jumps;
- how far short and longer moving averages are from their own long-run means (level
  shifts and drifts that are small per point but persistent);
- whether the value leaves the whole range the series has ever shown (a new extreme is
  news however noisy the series is).

The score is damped when the deviation is no larger than one the series already showed in
its recent past (a series that always spikes does not alarm on every spike), and after a
strong report the scorer stays quiet for a while: a problem is reported once, when it
starts, not at every point it lasts. The score at a point uses only that point and earlier
ones. Defaults were chosen on the NAB corpus (see docs/detection.md); they are one global
set, never per series.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StreamingSettings(BaseModel):
    """Knobs of `StreamingScorer`; counts are in points of the series, not minutes."""

    model_config = ConfigDict(extra="forbid")

    history_points: int = Field(8000, ge=10, description=(
        "Points of history the long-run mean and spread are taken from (8,000 five-minute "
        "points is about four weeks)."))
    min_points: int = Field(30, ge=2, description="History a series needs before it is scored.")
    shift_windows: list[int] = Field(default_factory=lambda: [10, 60], description=(
        "Lengths (points) of the moving averages whose shift from their long-run mean is "
        "added to the deviation: a short one for level steps, a longer one for drifts."))
    jump_weight: float = Field(0.5, ge=0, description=(
        "Weight of the point-to-point jump against the level deviation."))
    z_half: float = Field(6.0, gt=0, description=(
        "Combined deviation (in standard deviations) that maps to a score of 0.5."))
    record_points: int = Field(1000, ge=1, description=(
        "Recent points whose largest deviation a new one must beat to keep its full score."))
    below_record_factor: float = Field(0.8, ge=0, le=1, description=(
        "Score factor for a deviation no larger than one seen in the last record_points "
        "(1 = no damping)."))
    quiet_after_score: float = Field(0.7, gt=0, le=1, description=(
        "A score this high is reported and then starts the quiet period."))
    quiet_points: int = Field(100, ge=0, description=(
        "Points after a strong report during which the scorer reports 0."))
    extreme_windows: list[int] = Field(default_factory=lambda: [1, 10], description=(
        "Moving averages (1 = the value itself) watched for new extremes: a short average "
        "leaving its all-time range catches a level shift that single points hide in noise."))
    range_tolerance: float = Field(0.01, ge=0, description=(
        "A value beyond the largest or smallest ever seen by more than this share of the "
        "seen range is a new extreme."))
    new_extreme_score: float = Field(0.9, ge=0, lt=1, description=(
        "Least score of a new extreme (0 = new extremes get no special treatment)."))
    new_extreme_min_deviation: float = Field(8.0, ge=0, description=(
        "Deviation a new extreme must also reach to get new_extreme_score, so that the "
        "slow creep of a noisy series' record does not alarm."))
    alert_score: float = Field(0.69, gt=0, lt=1, description=(
        "Score from which a point is flagged anomalous (the threshold NAB's standard "
        "profile chose for these defaults)."))

    @field_validator("shift_windows", "extreme_windows")
    @classmethod
    def _windows_long_enough(cls, windows: list[int]) -> list[int]:
        if any(w < 1 for w in windows):
            raise ValueError("every window needs at least 1 point")
        return windows


class RollingMoments:
    """Mean and standard deviation of the latest `size` values, in constant time per value."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: collections.deque[float] = collections.deque()
        self.total = self.squares = 0.0

    def __len__(self) -> int:
        return len(self.values)

    def add(self, value: float) -> None:
        self.values.append(value)
        self.total += value
        self.squares += value * value
        if len(self.values) > self.size:
            old = self.values.popleft()
            self.total -= old
            self.squares -= old * old

    def mean(self) -> float:
        return self.total / len(self.values)

    def std(self) -> float:
        mean = self.mean()
        # Running sums can drift a hair below zero on a flat series.
        return math.sqrt(max(self.squares / len(self.values) - mean * mean, 0.0))


class SlidingMax:
    """Largest of the latest `size` values (monotonic queue: amortised constant time)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.queue: collections.deque[tuple[int, float]] = collections.deque()
        self.count = 0

    def add(self, value: float) -> None:
        while self.queue and self.queue[-1][1] <= value:
            self.queue.pop()
        self.queue.append((self.count, value))
        self.count += 1
        while self.queue[0][0] <= self.count - 1 - self.size:
            self.queue.popleft()

    def max(self) -> float:
        return self.queue[0][1] if self.queue else 0.0


class AverageShift:
    """How far the moving average of the latest `points` values (the new one included) is
    from the long-run mean of that average, in its long-run standard deviations."""

    def __init__(self, points: int, history_points: int) -> None:
        self.window = RollingMoments(points)
        self.averages = RollingMoments(history_points)

    def z(self, value: float, floor: float) -> float:
        if len(self.averages) <= 5:
            return 0.0
        window = self.window
        dropped = window.values[0] if len(window) == window.size else 0.0
        average = (window.total + value - dropped) / min(len(window) + 1, window.size)
        return abs(average - self.averages.mean()) / max(self.averages.std(), floor)

    def add(self, value: float) -> None:
        self.window.add(value)
        self.averages.add(self.window.mean())


class Deviation:
    """How unusual a value is against the series' long history, in standard deviations:
    level + jump_weight x jump + the shift of each moving average."""

    def __init__(self, settings: StreamingSettings) -> None:
        self.settings = settings
        self.level = RollingMoments(settings.history_points)
        self.jumps = RollingMoments(settings.history_points)
        self.shifts = [AverageShift(w, settings.history_points) for w in settings.shift_windows]
        self.previous: float | None = None

    def add(self, value: float) -> float | None:
        """The deviation of `value` (None while history is too short), then learn it."""
        deviation = self._measure(value) if len(self.level) >= self.settings.min_points else None
        if self.previous is not None:
            self.jumps.add(value - self.previous)
        self.level.add(value)
        for shift in self.shifts:
            shift.add(value)
        self.previous = value
        return deviation

    def _measure(self, value: float) -> float:
        mean = self.level.mean()
        # Floors keep a flat series from dividing by zero while staying scale-free.
        floor = max(1e-3 * abs(mean), 1e-6)
        spread = max(self.level.std(), floor)
        level_z = abs(value - mean) / spread
        previous = self.previous if self.previous is not None else value
        jump_z = abs(value - previous) / max(self.jumps.std(), 1e-3 * spread)
        shift_z = sum(shift.z(value, floor) for shift in self.shifts)
        return level_z + self.settings.jump_weight * jump_z + shift_z


class RangeWatch:
    """Whether a value leaves everything the series has shown so far, by a margin."""

    def __init__(self, tolerance: float, min_points: int) -> None:
        self.tolerance = tolerance
        self.min_points = min_points
        self.low = math.inf
        self.high = -math.inf
        self.count = 0

    def add(self, value: float) -> bool:
        """True if `value` is a new extreme; then widen the range to include it."""
        margin = self.tolerance * (self.high - self.low)
        extreme = (self.count >= self.min_points and self.high > self.low
                   and (value > self.high + margin or value < self.low - margin))
        self.low, self.high = min(self.low, value), max(self.high, value)
        self.count += 1
        return extreme


class AverageExtremes:
    """New extremes of one moving average (of the value itself when `points` is 1)."""

    def __init__(self, points: int, tolerance: float, min_points: int) -> None:
        self.window = RollingMoments(points)
        self.range = RangeWatch(tolerance, min_points)

    def add(self, value: float) -> bool:
        self.window.add(value)
        if len(self.window) < self.window.size:
            return False
        return self.range.add(self.window.mean())


@dataclass(frozen=True)
class ScoredPoint:
    score: float  # in [0, 1); 0 while learning or quiet
    deviation: float | None  # combined z-score, None while history is too short
    anomalous: bool  # score >= alert_score


class StreamingScorer:
    """Scores one series point by point; feed values in time order with `add`."""

    def __init__(self, settings: StreamingSettings | None = None) -> None:
        self.settings = settings or StreamingSettings()
        self.deviation = Deviation(self.settings)
        self.records = SlidingMax(self.settings.record_points)
        self.extremes = [AverageExtremes(w, self.settings.range_tolerance,
                                         self.settings.min_points)
                         for w in self.settings.extreme_windows]
        self.quiet_left = 0

    def add(self, value: float) -> ScoredPoint:
        """Score `value` against everything added before it, then remember it."""
        value = _finite(value)
        deviation = self.deviation.add(value)
        # Every watch must see every value, so no short-circuit here.
        extreme = any([watch.add(value) for watch in self.extremes])
        if deviation is None:
            return ScoredPoint(0.0, None, False)
        score = deviation / (deviation + self.settings.z_half)
        if deviation < self.records.max():
            score *= self.settings.below_record_factor
        self.records.add(deviation)
        if extreme and deviation >= self.settings.new_extreme_min_deviation:
            score = max(score, self.settings.new_extreme_score)
        if self.quiet_left > 0:
            self.quiet_left -= 1
            score = 0.0
        elif self.settings.quiet_points and score >= self.settings.quiet_after_score:
            self.quiet_left = self.settings.quiet_points
        return ScoredPoint(score, deviation, score >= self.settings.alert_score)


def score_series(values: Iterable[float], settings: StreamingSettings | None = None,
                 ) -> list[float]:
    """Streaming scores of a whole series, each computed as if the later points did not exist."""
    scorer = StreamingScorer(settings)
    return [scorer.add(v).score for v in values]


def _finite(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metric value must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"metric value must be finite, got {value!r}")
    return number


# -- one scorer per series, as the metric detector keeps them -------------------------

@dataclass(frozen=True, slots=True)
class StreamFlag:
    """A minute the streaming scorer marked anomalous, and the long-run level and spread it
    was scored against (taken before the scorer learnt the minute)."""

    minute: int
    value: float
    mean: float
    spread: float
    deviation: float


@dataclass(frozen=True, slots=True)
class StreamAlarm:
    """A flag that passed the level check's rules, reported once the latest minutes all
    lie beyond `threshold` (a shift, not a spike)."""

    flag: StreamFlag
    sign: int
    threshold: float


class SeriesStream:
    """The streaming scorer of one series, the last minute it was fed, and its alarm."""

    def __init__(self, settings: StreamingSettings, first_minute: int) -> None:
        self.scorer = StreamingScorer(settings)
        self.first_minute = first_minute
        self.fed_until = first_minute - 1
        self.alarm: StreamAlarm | None = None

    def feed(self, series: dict[int, float], minute: int, frozen: int | None) -> StreamFlag | None:
        """Feed every minute not yet fed up to `minute`, oldest first; the latest flag.

        Minutes at or after `frozen` (the service's open incident) are skipped for good: an
        outage must not become what the scorer thinks is normal.
        """
        last = minute if frozen is None else min(minute, frozen - 1)
        flag = None
        for m in range(self.fed_until + 1, last + 1):
            value = series.get(m)
            if value is None or not math.isfinite(value):
                continue
            level = self.scorer.deviation.level
            mean, spread = (level.mean(), level.std()) if len(level) else (value, 0.0)
            point = self.scorer.add(value)
            if point.anomalous and point.deviation is not None:
                flag = StreamFlag(m, value, mean, spread, point.deviation)
        self.fed_until = max(self.fed_until, minute)
        return flag
