"""A streaming anomaly scorer for one metric series, point by point, with no look-ahead.

Why a second scorer next to the metric detector's robust baseline: that baseline looks at
two hours, which is right for "is this minute unlike the last hour" but forgets what a
series looked like yesterday, so every slow swing of a noisy series looks new. This scorer
keeps days of memory in constant time per point (running sums, a monotonic max queue) and
turns three views of a deviation into one score in [0, 1):

- how far the value is from the long-run mean, in long-run standard deviations;
- how large the jump from the previous value is, against the usual jumps;
- how far a short moving average is from the long-run mean of that average (a level
  shift that is small per point but persistent).

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

from pydantic import BaseModel, ConfigDict, Field


class StreamingSettings(BaseModel):
    """Knobs of `StreamingScorer`; counts are in points of the series, not minutes."""

    model_config = ConfigDict(extra="forbid")

    history_points: int = Field(8000, ge=10, description=(
        "Points of history the long-run mean and spread are taken from (8,000 five-minute "
        "points is about four weeks)."))
    min_points: int = Field(30, ge=2, description="History a series needs before it is scored.")
    smooth_points: int = Field(10, ge=2, description=(
        "Points in the moving average that catches small persistent level shifts."))
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
    quiet_points: int = Field(200, ge=0, description=(
        "Points after a strong report during which the scorer reports 0."))
    alert_score: float = Field(0.56, gt=0, lt=1, description=(
        "Score from which a point is flagged anomalous (the threshold NAB's standard "
        "profile chose for these defaults)."))


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


class Deviation:
    """How unusual a value is against the series' long history, in standard deviations:
    level + jump_weight x jump + moving-average shift."""

    def __init__(self, settings: StreamingSettings) -> None:
        self.settings = settings
        self.level = RollingMoments(settings.history_points)
        self.jumps = RollingMoments(settings.history_points)
        self.smooth = RollingMoments(settings.smooth_points)
        self.smooth_history = RollingMoments(settings.history_points)
        self.previous: float | None = None

    def add(self, value: float) -> float | None:
        """The deviation of `value` (None while history is too short), then learn it."""
        deviation = self._measure(value) if len(self.level) >= self.settings.min_points else None
        if self.previous is not None:
            self.jumps.add(value - self.previous)
        self.level.add(value)
        self.smooth.add(value)
        self.smooth_history.add(self.smooth.mean())
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
        smooth = self.smooth
        dropped = smooth.values[0] if len(smooth) == smooth.size else 0.0
        smoothed = (smooth.total + value - dropped) / min(len(smooth) + 1, smooth.size)
        shift_z = 0.0
        if len(self.smooth_history) > 5:
            shift_z = abs(smoothed - self.smooth_history.mean()) / max(
                self.smooth_history.std(), floor)
        return level_z + self.settings.jump_weight * jump_z + shift_z


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
        self.quiet_left = 0

    def add(self, value: float) -> ScoredPoint:
        """Score `value` against everything added before it, then remember it."""
        value = _finite(value)
        deviation = self.deviation.add(value)
        if deviation is None:
            return ScoredPoint(0.0, None, False)
        score = deviation / (deviation + self.settings.z_half)
        if deviation < self.records.max():
            score *= self.settings.below_record_factor
        self.records.add(deviation)
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
