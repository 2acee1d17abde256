"""The streaming scorer flags what an operator would call an anomaly, and stays quiet on
noise and on daily seasonality once it has seen a day."""

from __future__ import annotations

import math
import random

import pytest
from pydantic import ValidationError

from oasis.detect.streaming import StreamingScorer, StreamingSettings, score_series

DAY = 288  # five-minute points


def noise(n: int, seed: int, sigma: float = 5.0) -> list[float]:
    rng = random.Random(seed)
    return [100 + rng.gauss(0, sigma) for _ in range(n)]


def flagged(values: list[float], settings: StreamingSettings | None = None) -> list[int]:
    scorer = StreamingScorer(settings)
    return [i for i, v in enumerate(values) if scorer.add(v).anomalous]


def test_spike_is_flagged_at_once() -> None:
    values = noise(1200, seed=1)
    values[1000] += 60  # 12 sigma
    assert 1000 in flagged(values)


def test_level_step_is_flagged_once_then_quiet() -> None:
    values = noise(1500, seed=2)
    values[1000:] = [v + 25 for v in values[1000:]]  # +5 sigma from here on
    hits = flagged(values)
    after = [i for i in hits if i >= 1000]
    assert after and after[0] <= 1005
    # A step that lasts is one problem: reported when it starts, not at every point.
    assert len([i for i in after if i < 1100]) == 1


def test_slow_leak_is_flagged_before_it_is_large() -> None:
    values = noise(2000, seed=3)
    for i in range(1000, 2000):
        values[i] += 0.05 * (i - 1000)  # 0.01 sigma per point
    after = [i for i in flagged(values) if i >= 1000]
    # Caught while the climb is still under 4 sigma (20), not when it is obvious.
    assert after and after[0] < 1400


def test_plain_noise_does_not_alarm() -> None:
    alarms = sum(len([i for i in flagged(noise(4000, seed)) if i >= 300]) for seed in range(8))
    # 29,600 scored points of Gaussian noise: at most about one false alarm per 10,000
    # (the NAB-tuned defaults accept that; new_extreme_min_deviation=10 makes it zero here).
    assert alarms <= 3
    quieter = StreamingSettings(new_extreme_min_deviation=10)
    assert sum(len([i for i in flagged(noise(4000, seed), quieter) if i >= 300])
               for seed in range(8)) == 0


def test_daily_seasonality_does_not_alarm_after_the_first_day() -> None:
    rng = random.Random(4)
    values = [100 + 30 * math.sin(2 * math.pi * i / DAY) + rng.gauss(0, 3)
              for i in range(5 * DAY)]
    assert [i for i in flagged(values) if i >= DAY] == []
    # The same series with a drop at its usual peak is flagged.
    values[3 * DAY + DAY // 4] -= 80
    assert 3 * DAY + DAY // 4 in flagged(values)


def test_no_look_ahead() -> None:
    values = noise(1500, seed=5)
    values[700] += 50
    full = score_series(values)
    assert score_series(values[:701]) == full[:701]


def test_learning_period_scores_zero() -> None:
    scorer = StreamingScorer(StreamingSettings(min_points=30))
    points = [scorer.add(v) for v in noise(30, seed=6)]
    assert all(p.score == 0.0 and p.deviation is None and not p.anomalous for p in points)


def test_flat_series_does_not_crash_and_a_change_is_flagged() -> None:
    values = [5.0] * 500 + [6.0]
    assert flagged(values) == [500]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "high", None])
def test_bad_values_are_rejected_clearly(bad: object) -> None:
    scorer = StreamingScorer()
    with pytest.raises(ValueError, match="metric value must be"):
        scorer.add(bad)  # type: ignore[arg-type]


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValidationError):
        StreamingSettings(shift_windows=[0])
    with pytest.raises(ValidationError):
        StreamingSettings(alert_score=1.5)
    with pytest.raises(ValidationError):
        StreamingSettings(unknown_knob=1)
