"""Detectors on small synthetic series: spike, step, ramp, noise, seasonality, new errors."""

from __future__ import annotations

import math
import random

from oasis.detect.baseline import DAY, expect, expect_rate
from oasis.detect.detectors import ErrorRateDetector, NewErrorDetector, poisson_tail
from oasis.detect.metric import MetricDetector
from oasis.detect.settings import DetectSettings
from oasis.detect.window import SignalWindow, to_minute

T = 29_000_000  # a Unix minute in 2025; only differences matter
S = DetectSettings()


def errors_window(per_minute, minutes: int = 180, other: float = 50.0,
                  seed: int = 1) -> SignalWindow:
    """A service logging `per_minute(m)` errors (Poisson) and `other` normal lines."""
    rng = random.Random(seed)
    w = SignalWindow()
    for m in range(T - minutes, T + 1):
        lam = per_minute(m - T)
        w.add_log_count(m, "svc", "ERROR", _poisson(rng, lam))
        w.add_log_count(m, "svc", "INFO", _poisson(rng, other(m - T) if callable(other)
                                                   else other))
    return w


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, rng.random(), math.exp(-lam)
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def metric_window(value, minutes: int = 180, name: str = "latency_p99_ms",
                  start: int | None = None) -> SignalWindow:
    w = SignalWindow()
    for m in range((start if start is not None else T - minutes), T + 1):
        w.add_metric(m, "svc", name, value(m - T))
    return w


def noisy(level: float, sd: float, seed: int = 2):
    rng = random.Random(seed)
    return lambda _m: level + rng.gauss(0, sd)


def test_error_spike_alarms_and_estimates_its_onset() -> None:
    w = errors_window(lambda m: 2.0 if m < -4 else 30.0)
    [found] = ErrorRateDetector(S).detect(w, T)
    assert found.signal == "errors" and found.observed > 60
    assert abs((found.started_at.timestamp() // 60) - (T - 4)) <= 1


def test_steady_noise_never_alarms_however_loud() -> None:
    for level in (0.05, 1.0, 20.0):
        w = errors_window(lambda m, lv=level: lv, minutes=400, seed=int(level * 10))
        for minute in range(T - 200, T + 1):
            assert list(ErrorRateDetector(S).detect(w, minute)) == [], (level, minute)


def test_a_quiet_service_with_a_few_new_errors_alarms_a_noisy_one_does_not() -> None:
    quiet = errors_window(lambda m: 0.0 if m < -2 else 3.0)
    loud = errors_window(lambda m: 30.0 if m < -2 else 33.0)
    assert list(ErrorRateDetector(S).detect(quiet, T))
    assert not list(ErrorRateDetector(S).detect(loud, T))


def test_more_traffic_with_the_same_error_ratio_is_not_a_spike() -> None:
    # Traffic and errors both triple over 20 minutes: the ratio is unchanged.
    def factor(m):
        return 1 + 2 * min(1.0, max(0.0, (m + 20) / 20))
    w = errors_window(lambda m: 3.0 * factor(m), other=lambda m: 60 * factor(m))
    assert not list(ErrorRateDetector(S).detect(w, T))


def test_errors_need_history_before_they_can_alarm() -> None:
    w = errors_window(lambda m: 0.0 if m < -3 else 40.0, minutes=30)
    assert not list(ErrorRateDetector(S).detect(w, T))


def test_new_error_type_is_reported_as_new_and_old_types_stay_quiet() -> None:
    w = errors_window(lambda m: 1.0)
    for m in range(T - 170, T + 1):
        w.add_error_type(m, "svc", "TimeoutError", 1)
    for m in range(T - 2, T + 1):
        w.add_error_type(m, "svc", "NullPointerException", 8)
    found = list(NewErrorDetector(S).detect(w, T))
    assert [a.signal for a in found] == ["error_type:NullPointerException"]
    assert "new error type" in found[0].summary


def test_metric_step_alarms_with_its_onset_and_noise_does_not() -> None:
    base = noisy(100, 5)
    step = metric_window(lambda m: base(m) if m < -5 else 260 + base(m) - 100)
    [found] = MetricDetector(S).detect(step, T)
    assert found.signal == "metric:latency_p99_ms" and found.role == "symptom"
    assert abs(found.started_at.timestamp() // 60 - (T - 5)) <= 1
    calm = metric_window(noisy(100, 5, seed=9), minutes=600)
    assert all(not list(MetricDetector(S).detect(calm, m)) for m in range(T - 300, T + 1))


def test_single_minute_spike_is_not_a_shift() -> None:
    base = noisy(100, 5)
    w = metric_window(lambda m: 500 if m == 0 else base(m))
    assert not list(MetricDetector(S).detect(w, T))


def test_lower_is_fine_for_latency_but_bad_for_success_rate() -> None:
    base = noisy(100, 3)
    drop = metric_window(lambda m: base(m) if m < -5 else base(m) / 3)
    assert not list(MetricDetector(S).detect(drop, T))
    success = metric_window(lambda m: base(m) if m < -5 else base(m) / 3,
                            name="success_rate_percent")
    assert [a.signal for a in MetricDetector(S).detect(success, T)] == \
        ["metric:success_rate_percent"]


def test_steady_climb_is_a_trend_before_it_is_a_big_shift() -> None:
    base = noisy(45, 0.8)
    leak = metric_window(lambda m: base(m) + (0.5 * (m + 25) if m > -25 else 0),
                         name="memory_percent")
    found = list(MetricDetector(S).detect(leak, T))
    assert [a.detector for a in found] == ["metric_trend"]
    assert found[0].detail["slope_per_minute"] > 0.3


def test_daily_ramp_seen_on_earlier_days_is_expected() -> None:
    # Two days of a metric that triples every morning within an hour.
    def daily(m):
        minute_of_day = (m + 8 * 60) % DAY
        ramp = min(1.0, max(0.0, (minute_of_day - 8 * 60) / 60))
        return 100 * (1 + 2 * ramp)
    rng = random.Random(4)
    w = metric_window(lambda m: daily(m) + rng.gauss(0, 3), start=T - 2 * DAY - 60,
                      name="latency_p99_ms")
    morning = T + 30  # half-way up today's ramp
    for m in range(T + 1, morning + 1):
        w.add_metric(m, "svc", "latency_p99_ms", daily(m - T) + rng.gauss(0, 3))
    exp = expect(w.metrics[("svc", "latency_p99_ms")], morning, recent=120, guard=10,
                 min_points=30)
    assert exp.seasonal == "daily"
    assert not list(MetricDetector(S).detect(w, morning))
    # Without the earlier days the same ramp would alarm.
    fresh = SignalWindow()
    for m, v in w.metrics[("svc", "latency_p99_ms")].items():
        if m > morning - 180:
            fresh.add_metric(m, "svc", "latency_p99_ms", v)
    assert list(MetricDetector(S).detect(fresh, morning))


def test_cpu_rising_with_traffic_is_context_not_a_symptom() -> None:
    w = SignalWindow()
    rng = random.Random(3)
    for m in range(T - 180, T + 1):
        load = 1 if m < T - 5 else 2.2
        w.add_metric(m, "svc", "request_rate", 10 * load + rng.gauss(0, 0.2))
        w.add_metric(m, "svc", "cpu_percent", 30 * load + rng.gauss(0, 0.5))
    roles = {a.signal: a.role for a in MetricDetector(S).detect(w, T)}
    assert roles == {"metric:request_rate": "context", "metric:cpu_percent": "context"}


def test_poisson_tail_matches_known_values() -> None:
    assert math.isclose(poisson_tail(3, 3), 0.5768, rel_tol=1e-3)
    assert math.isclose(poisson_tail(11, 1.4), 2.83e-7, rel_tol=1e-2)
    assert poisson_tail(0, 5) == 1.0
    # Over-dispersion makes the same burst far less surprising.
    assert poisson_tail(20, 5, dispersion=4) > 1000 * poisson_tail(20, 5)



# -- the streaming scorer inside the metric detector (series with a day of history) --------

NO_STREAMING = DetectSettings(metrics={"streaming_min_history_minutes": 10**6})


def checked(detector: MetricDetector, value, start: int, end: int, check_from: int,
            name: str = "latency_p99_ms", incidents: bool = False) -> dict[int, list]:
    """Anomalies per minute, the detector checking once a minute from `check_from` (after
    one backfill check). With `incidents`, a report freezes the service from its onset, as
    an open incident does, until 15 minutes after the series is back under 120."""
    w = SignalWindow()
    found: dict[int, list] = {}
    calm = 0
    for m in range(start, end + 1):
        v = value(m - T)
        w.add_metric(m, "svc", name, v)
        if m < check_from - 1:
            continue
        found[m] = list(detector.detect(w, m))
        if incidents and found[m] and "svc" not in w.freeze:
            w.freeze = {"svc": min(to_minute(a.started_at) for a in found[m])}
        calm = calm + 1 if v < 120 else 0
        if calm >= 15:
            w.freeze = {}
    return found


def slow_climb(seed: int = 1, to: float = 70.0, minutes: int = 240):
    """Latency around 100 (sd 5) that climbs by `to` over `minutes` from T, then stays."""
    rng = random.Random(seed)
    return lambda m: 100 + rng.gauss(0, 5) + (0 if m < 0 else min(to, to * m / minutes))


def reports(run: dict[int, list], check: str | None = None) -> list[int]:
    return [m - T for m, found in run.items()
            if any(check is None or a.detail.get("check") == check for a in found)]


def test_slow_climb_to_a_level_never_seen_is_flagged_once_a_day_is_known() -> None:
    run = checked(MetricDetector(S), slow_climb(), T - 2 * DAY, T + 300, T)
    [a] = run[T + reports(run)[0]]
    assert a.detector == "metric" and a.signal == "metric:latency_p99_ms"
    assert a.role == "symptom" and a.detail["check"] == "streaming"
    assert "long-run mean" in a.summary and 0.5 < a.strength < 1
    assert a.observed > 1.08 * a.expected and 95 < a.expected < 105
    assert 0 < to_minute(a.started_at) - T <= reports(run)[0] < 240
    # The two-hour checks follow the same climb without ever alarming.
    quiet = checked(MetricDetector(NO_STREAMING), slow_climb(), T - 2 * DAY, T + 300, T)
    assert reports(quiet) == []


def test_a_climb_that_is_not_worse_or_too_small_is_not_reported() -> None:
    down = checked(MetricDetector(S), slow_climb(to=-70), T - 2 * DAY, T + 300, T)
    assert reports(down) == []  # lower latency is fine
    small = checked(MetricDetector(S), slow_climb(to=5), T - 2 * DAY, T + 300, T)
    assert reports(small) == []  # +5 % is under streaming_min_relative_change


def test_daily_seasonal_series_over_three_days_raises_nothing() -> None:
    rng = random.Random(5)
    for name in ("latency_p99_ms", "request_rate"):
        run = checked(MetricDetector(S),
                      lambda m: 100 + 30 * math.sin(2 * math.pi * m / DAY) + rng.gauss(0, 3),
                      T - 3 * DAY, T, T - 2 * DAY, name=name)
        assert reports(run) == [], name


def test_below_a_day_of_history_nothing_changes() -> None:
    # Twelve hours, then a climb: the level and trend checks alone decide.
    args = (T - 12 * 60, T + 300, T - 11 * 60)
    default = checked(MetricDetector(S), slow_climb(seed=3, to=60), *args)
    without = checked(MetricDetector(NO_STREAMING), slow_climb(seed=3, to=60), *args)
    assert {m: [x.to_evidence() for x in f] for m, f in default.items()} == \
        {m: [x.to_evidence() for x in f] for m, f in without.items()}
    # With a shorter gate the scorer would have spoken on this very series.
    early = DetectSettings(metrics={"streaming_min_history_minutes": 6 * 60})
    assert reports(checked(MetricDetector(early), slow_climb(seed=3, to=60), *args),
                   "streaming")


def test_a_single_never_seen_spike_is_not_a_shift() -> None:
    rng = random.Random(6)
    run = checked(MetricDetector(S), lambda m: 400 if m == 0 else 100 + rng.gauss(0, 5),
                  T - 2 * DAY, T + 30, T - 10)
    assert reports(run) == []


def test_an_open_incident_teaches_the_scorer_nothing() -> None:
    def twice(seed):  # the same slow climb and plateau twice, a normal evening between
        first, rng = slow_climb(seed), random.Random(seed + 1)
        return lambda m: first(m if m < 720 else m - 720) if m < 480 or m >= 720 \
            else 100 + rng.gauss(0, 5)
    args = (T - 2 * DAY, T + 1100, T)
    frozen_detector, learnt_detector = MetricDetector(S), MetricDetector(S)
    frozen = checked(frozen_detector, twice(8), *args, incidents=True)
    learnt = checked(learnt_detector, twice(8), *args)
    # Both flag the first climb.
    assert [m for m in reports(frozen, "streaming") if m < 480]
    assert [m for m in reports(learnt, "streaming") if m < 480]
    # Frozen through its incident, the scorer never learnt the plateau: its long-run
    # mean is still the normal level, and the second climb is flagged as well.
    assert [m for m in reports(frozen, "streaming") if m >= 720]

    def long_run_mean(detector: MetricDetector) -> float:
        return detector.streams[("svc", "latency_p99_ms")].scorer.deviation.level.mean()
    assert long_run_mean(frozen_detector) < 103 < long_run_mean(learnt_detector)


def test_a_restart_does_not_report_history_again() -> None:
    # Two days, the last four hours at a level never seen before (its flag is history by
    # now): a fresh detector reads them all at its first check and reports nothing.
    rng = random.Random(9)
    run = checked(MetricDetector(S), lambda m: 100 + rng.gauss(0, 5) + (70 if m >= -240 else 0),
                  T - 2 * DAY, T + 5, T)
    assert reports(run) == []


def test_a_series_back_after_a_long_silence_starts_afresh() -> None:
    rng = random.Random(10)
    w = SignalWindow()
    detector = MetricDetector(S)
    for m in range(T - 2 * DAY, T + 1):
        w.add_metric(m, "svc", "latency_p99_ms", 100 + rng.gauss(0, 5))
    list(detector.detect(w, T))
    back = T + 9 * DAY  # silent for longer than the window keeps
    w.prune(back)
    list(detector.detect(w, back))
    # Back at a new level: yesterday's history is gone, so this is its first day again.
    found = []
    for m in range(back + 1, back + 180):
        w.add_metric(m, "svc", "latency_p99_ms", 170 + rng.gauss(0, 5))
        found += detector.detect(w, m)
    assert found == []


def test_a_five_minute_series_is_confirmed_by_time_not_by_points() -> None:
    # CloudWatch-style: one point every five minutes. A lasting step is reported soon after
    # it starts (the streaming path once), nothing before it; the level check too needs
    # three of its points (15 minutes), not three minutes of points.
    rng = random.Random(11)
    w, detector, reported, streamed = SignalWindow(), MetricDetector(S), [], []
    for m in range(T - 3 * DAY, T + 120):
        if m % 5 == 0:
            w.add_metric(m, "svc", "latency_p99_ms", 100 + rng.gauss(0, 5) + (80 if m >= T else 0))
        if m < T - 60:
            continue
        found = list(detector.detect(w, m))
        reported += [m - T] if found else []
        streamed += [m - T for a in found if a.detail.get("check") == "streaming"]
    assert reported and 0 <= reported[0] <= 10
    assert len(streamed) == 1


def test_a_five_minute_series_without_a_day_of_history_is_confirmed_by_three_points() -> None:
    rng = random.Random(13)
    w, detector, reported = SignalWindow(), MetricDetector(S), []
    for m in range(T - 180, T + 30):
        if m % 5 == 0:
            w.add_metric(m, "svc", "latency_p99_ms", 100 + rng.gauss(0, 5) + (80 if m >= T else 0))
        if m >= T - 60 and list(detector.detect(w, m)):
            reported.append(m - T)
    assert reported and reported[0] == 10


def test_a_steady_error_rate_is_not_underestimated() -> None:
    # Poisson errors at 3.5 a minute: the baseline's rate must not be biased low (a trimmed
    # mean was 10 % low, and a chance burst a day later became an "error spike").
    rng = random.Random(12)

    def poisson(lam: float) -> int:
        k, p, limit = 0, rng.random(), math.exp(-lam)
        while p > limit:
            k, p = k + 1, p * rng.random()
        return k

    errors = {m: float(poisson(3.5)) for m in range(T - 200, T + 1)}
    rate, dispersion = expect_rate(errors, T, recent=120, guard=10, min_points=30,
                                   zero_fill_from=T - 200)
    window = [errors[m] for m in range(T - 130, T - 10)]
    assert abs(rate - sum(window) / len(window)) < 0.01 and dispersion < 1.5
    # An earlier burst is still set aside, not averaged into the normal rate.
    errors.update({m: 60.0 for m in range(T - 60, T - 55)})
    burst_rate, _ = expect_rate(errors, T, recent=120, guard=10, min_points=30,
                                zero_fill_from=T - 200)
    assert burst_rate < rate * 1.05
