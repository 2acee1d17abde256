"""Baselines that know the shape of a series: zero-inflated and low-count ratios, units,
always-noisy services, minimum changes, counters, cold start, and sustained evidence."""

from __future__ import annotations

import random

from oasis.detect.detectors import ErrorRateDetector
from oasis.detect.metric import MetricDetector
from oasis.detect.settings import DetectSettings
from oasis.detect.shape import HistoryShape, binomial_tail, counter_increase
from oasis.detect.window import SignalWindow

T = 29_000_000
S = DetectSettings()


def low_traffic(window: SignalWindow, rng: random.Random, start: int, end: int,
                failing=lambda m: False, scale: float = 1.0, volume: bool = True,
                name: str = "error_rate") -> None:
    """A service with 0-4 requests a minute, now and then one of them failing."""
    for m in range(start, end):
        requests = rng.choice([0, 1, 1, 2, 3, 3, 4])
        failed = requests if failing(m) and requests else sum(
            rng.random() < 0.08 for _ in range(requests))
        if volume:
            window.add_metric(m, "svc", "requests_per_min", requests)
        window.add_metric(m, "svc", name, scale * (failed / requests if requests else 0.0))


def reports(window_fill, minutes: range, detector_cls=MetricDetector) -> list[int]:
    """Minutes (relative to T) at which the detector reports a symptom."""
    detector = detector_cls(S)
    window = SignalWindow()
    found = []
    for m in minutes:
        window_fill(window, m)
        if m >= T and [a for a in detector.detect(window, m) if a.role == "symptom"]:
            found.append(m - T)
    return found


def test_a_zero_inflated_error_ratio_of_a_low_traffic_service_is_normal_for_itself() -> None:
    for scale, name in ((1.0, "error_rate"), (100.0, "error_pct")):
        for seed in range(3):
            rng = random.Random(seed)
            found = reports(lambda w, m, r=rng, s=scale, n=name: low_traffic(w, r, m, m + 1,
                                                                             scale=s, name=n),
                            range(T - 180, T + 180))
            assert found == [], (name, seed, found)


def test_the_same_ratio_without_a_known_volume_is_still_normal_for_itself() -> None:
    for seed in range(3):
        rng = random.Random(seed)
        found = reports(lambda w, m, r=rng: low_traffic(w, r, m, m + 1, volume=False),
                        range(T - 180, T + 180))
        assert found == [], (seed, found)


def test_a_low_traffic_service_failing_every_request_is_found_fraction_or_percent() -> None:
    for scale, name in ((1.0, "error_rate"), (100.0, "errors_percent")):
        rng = random.Random(4)
        found = reports(lambda w, m, r=rng, s=scale, n=name: low_traffic(
            w, r, m, m + 1, failing=lambda x: x >= T + 30, scale=s, name=n),
            range(T - 150, T + 60))
        assert found and 30 <= found[0] <= 40, (name, found)


def test_one_failure_in_three_requests_is_not_an_incident() -> None:
    def fill(w: SignalWindow, m: int) -> None:
        requests = 3
        failed = 1 if T <= m < T + 3 else (1 if m % 40 == 0 else 0)
        w.add_metric(m, "svc", "http_requests_per_min", requests)
        w.add_metric(m, "svc", "error_ratio", failed / requests)

    # A third of the requests failing for three minutes: 3 of 9, a 33 % error rate.
    assert reports(fill, range(T - 180, T + 10)) == []
    # At a thousand requests a minute the same share is a real outage.
    def busy(w: SignalWindow, m: int) -> None:
        failed = 330 if m >= T else (1 if m % 40 == 0 else 0)
        w.add_metric(m, "svc", "http_requests_per_min", 1000)
        w.add_metric(m, "svc", "error_ratio", failed / 1000)

    assert reports(busy, range(T - 180, T + 5))[:1] == [2]


def test_an_always_noisy_service_is_normal_for_itself_until_it_really_changes() -> None:
    rng = random.Random(5)

    def fill(w: SignalWindow, m: int) -> None:
        share = rng.uniform(0.05, 0.25) if m < T + 60 else rng.uniform(0.55, 0.7)
        w.add_metric(m, "svc", "requests_per_min", 200)
        w.add_metric(m, "svc", "error_rate", share)

    found = reports(fill, range(T - 180, T + 90))
    assert found and found[0] >= 60 and found[0] <= 63


def test_minimum_meaningful_change_per_kind_in_its_unit() -> None:
    rng = random.Random(6)

    def steady(name: str, level: float, after: float):
        def fill(w: SignalWindow, m: int) -> None:
            w.add_metric(m, "svc", name, (level if m < T else after) * (1 + rng.gauss(0, 0.001)))
        return fill

    # Far beyond the noise, yet small: 3 % on latency, 0.5 ms on a latency in seconds.
    assert reports(steady("latency_p99_ms", 100.0, 103.0), range(T - 150, T + 10)) == []
    assert reports(steady("latency_p99_seconds", 0.001, 0.0015), range(T - 150, T + 10)) == []
    # The same relative step in seconds that is also big in absolute terms is found.
    assert reports(steady("latency_p99_seconds", 0.2, 0.4), range(T - 150, T + 10))[:1] == [2]
    assert reports(steady("latency_p99_ms", 200.0, 400.0), range(T - 150, T + 10))[:1] == [2]


def test_cold_start_raises_nothing_from_an_empty_baseline() -> None:
    # 40 minutes of history (less than min_history_minutes), then failures: nothing yet.
    def fill(w: SignalWindow, m: int) -> None:
        w.add_metric(m, "svc", "requests_per_min", 100)
        w.add_metric(m, "svc", "error_rate", 0.0 if m < T else 0.5)
        w.add_log_count(m, "svc", "INFO", 100)
        w.add_log_count(m, "svc", "ERROR", 0 if m < T else 50)

    assert reports(fill, range(T - 40, T + 15)) == []
    assert reports(fill, range(T - 40, T + 15), ErrorRateDetector) == []
    assert S.min_history_minutes == 60


def test_a_counter_reset_is_not_an_anomaly_and_counters_are_judged_by_increase() -> None:
    total = {"v": 0.0}
    rng = random.Random(7)

    def fill(w: SignalWindow, m: int) -> None:
        if m == T + 5:
            total["v"] = 0.0  # the exporter restarted
        total["v"] += 100 + rng.gauss(0, 5)
        w.add_metric(m, "svc", "http_server_errors_total", total["v"])

    assert reports(fill, range(T - 150, T + 30)) == []
    increase = counter_increase({1: 10.0, 2: 15.0, 4: 25.0, 5: 3.0})
    assert increase == {2: 5.0, 4: 5.0, 5: 3.0}


def test_one_bad_minute_does_not_open_but_two_do_and_a_severe_one_does() -> None:
    def spike(bad_minutes: dict[int, int]):
        rng = random.Random(8)

        def fill(w: SignalWindow, m: int) -> None:
            w.add_log_count(m, "svc", "INFO", 100)
            base = 1 if rng.random() < 0.5 else 0
            w.add_log_count(m, "svc", "ERROR", bad_minutes.get(m - T, base))
        return fill

    assert reports(spike({5: 30}), range(T - 120, T + 15), ErrorRateDetector) == []
    assert reports(spike({5: 30, 6: 30}), range(T - 120, T + 15), ErrorRateDetector)[:1] == [6]
    assert reports(spike({5: 400}), range(T - 120, T + 15), ErrorRateDetector)[:1] == [5]


def test_history_shape_helpers() -> None:
    shape = HistoryShape.of([0, 0, 5, 0, 0, 1, 1, 1, 0], window_points=3)
    assert shape.sustained_high == 1  # the single 5 is a spike, three 1s were held
    assert shape.beyond_sustained([2, 3, 2], 1) and not shape.beyond_sustained([5, 0, 5], 1)
    assert shape.irregular(0.0, 3.0)
    assert abs(binomial_tail(1, 3, 0.1) - (1 - 0.9 ** 3)) < 1e-12
    assert binomial_tail(0, 3, 0.1) == 1.0 and binomial_tail(4, 3, 0.1) == 0.0


def test_names_are_read_as_words() -> None:
    from oasis.detect.shape import (
        counts_failures,
        in_seconds,
        is_volume,
        looks_cumulative,
        per_minute_factor,
    )

    words = S.metrics.volume_names
    assert is_volume("http_requests_total", words) and is_volume("rps", words)
    assert not is_volume("http_request_duration_seconds", words)
    assert not is_volume("request_size_bytes", words)
    assert not is_volume("http_request_errors_total", words)
    assert not counts_failures("default_pool_size") and counts_failures("http.5xx.count")
    assert per_minute_factor("https_connections") == 1 and per_minute_factor("rps") == 60
    assert per_minute_factor("requests_per_second") == 60
    assert in_seconds("latency_p99_sec") and in_seconds("duration_seconds")
    assert not in_seconds("latency_p99_ms")
    # A leak is a gauge that climbs: never taken for a counter by its shape.
    leak = {m: 500 + 2.0 * m for m in range(200)}
    assert not looks_cumulative("heap_used_mb", leak, 199)
    assert looks_cumulative("http_requests_total", leak, 199)


def test_a_latency_named_like_requests_does_not_pose_as_traffic() -> None:
    from oasis.detect.traffic import traffic_factors

    w = SignalWindow()
    for m in range(T - 180, T + 1):
        w.add_metric(m, "api", "http_request_duration_seconds", 0.2 if m < T - 5 else 1.0)
        w.add_metric(m, "api", "http_requests_total", 100.0 * (m - T + 181))
    assert traffic_factors(w, T, S).get("api", 1.0) < 1.2


def test_a_five_minute_series_in_an_open_incident_stays_reported() -> None:
    # After a day the streaming path judges five-minute series, but it skips an open
    # incident's minutes: the level check must keep the incident alive, or it would
    # "recover" while latency stays three times normal.
    rng = random.Random(14)
    w, detector, reported = SignalWindow(), MetricDetector(S), []
    for m in range(T - 2 * 24 * 60, T + 60):
        if m % 5 == 0:
            w.add_metric(m, "svc", "latency_p95_ms", 100 + rng.gauss(0, 5) + (200 if m >= T else 0))
        if m == T + 15:
            w.freeze = {"svc": T}
        if m >= T and list(detector.detect(w, m)):
            reported.append(m - T)
    assert reported and reported[0] <= 15
    assert [r for r in reported if r >= 40]


def test_after_a_day_one_five_minute_point_is_a_blip_two_are_a_shift() -> None:
    # The streaming path judges five-minute series after a day: one bad point is not
    # reported, a lasting step is, from its second point. (The scorer stays quiet for 100
    # points after a strong score, so the step here comes after that.)
    rng = random.Random(15)
    w, detector, reported = SignalWindow(), MetricDetector(S), []
    step_at = T + 5 * 110
    for m in range(T - 3 * 24 * 60, step_at + 60):
        if m % 5 == 0:
            value = 100 + rng.gauss(0, 5)
            if m == T:  # one bad point
                value += 300
            if m >= step_at:  # a lasting step
                value += 200
            w.add_metric(m, "svc", "latency_p95_ms", value)
        if m >= T and list(detector.detect(w, m)):
            reported.append(m - step_at)
    assert reported and all(r >= 5 for r in reported)
    assert reported[0] <= 10
