"""How many requests a service is serving, from whatever the fleet reports.

Error counts and error ratios mean little without the volume behind them: three times the
users with the same failure share is load, not a fault, and one failure in three requests
is not an incident. The volume is the service's request-rate metric when it has one (the
first name in `MetricSettings.volume_names` that matches), else its log lines.
"""

from __future__ import annotations

import statistics

from oasis.detect.settings import DetectSettings
from oasis.detect.shape import (
    HistoryShape,
    binomial_tail,
    counter_increase,
    is_volume,
    looks_cumulative,
    per_minute_factor,
    points_between,
    ratio_scale,
    sampling_step,
)
from oasis.detect.window import SignalWindow, guard_for


def request_volume(window: SignalWindow, service: str, names: list[str], start: int,
                   end: int, logs_fallback: bool = True) -> dict[int, float] | None:
    """Requests per minute of `service` from `start` to `end`, or None when nothing tells."""
    # One pass over the window's series, then the names in order of preference.
    candidates = [(name, series) for name, series in window.service_metrics(service)
                  if is_volume(name, names)]
    for word in names:
        for name, series in candidates:
            if is_volume(name, [word]):
                points = points_between(series, start - 1, end)
                if looks_cumulative(name, series, end):
                    points = counter_increase(points)
                factor = per_minute_factor(name)
                return {m: v * factor for m, v in points.items()}
    logs = window.logs.get(service)
    if not logs_fallback or logs is None or not logs.other:
        return None
    return {m: logs.other.get(m, 0) + logs.errors.get(m, 0) for m in range(start, end + 1)
            if m in logs.other or m in logs.errors}


def traffic_factors(window: SignalWindow, minute: int, s: DetectSettings) -> dict[str, float]:
    """Per service with a request-rate metric: its latest minutes' volume over its usual
    volume (at least 1, at most 5), for scaling expected error counts."""
    out: dict[str, float] = {}
    w = s.error_rate.window_minutes
    for service in {owner for owner, _ in window.metrics}:
        guard = guard_for(window, service, minute, max(s.guard_minutes, w))
        end = minute - guard
        volume = request_volume(window, service, s.metrics.volume_names,
                                end - s.baseline_minutes, minute, logs_fallback=False)
        if not volume:
            continue
        history = [volume[m] for m in range(end - s.baseline_minutes, end) if m in volume]
        # Time, not points: a five-minute series has one point in a few minutes.
        span = max(w, 2 * sampling_step(volume, minute))
        latest = [volume[m] for m in range(minute - span + 1, minute + 1) if m in volume]
        if len(history) < 10 or not latest:
            continue
        usual = statistics.median(history)
        if usual > 0:
            out[service] = min(5.0, max(1.0, statistics.fmean(latest) / usual))
    return out


def failures_given_volume(window: SignalWindow, service: str, metric: str,
                          series: dict[int, float], minute: int, minutes: int,
                          shape: HistoryShape, step: int, s: DetectSettings,
                          ) -> dict[str, float] | None:
    """The failed count behind a ratio's latest minutes, tested against the service's
    request volume at its historical failure share; None when no volume is known."""
    start = minute - minutes + 1
    frozen = window.freeze.get(service)
    baseline_end = min(start, frozen if frozen is not None else start) - s.guard_minutes
    baseline_start = baseline_end - s.baseline_minutes
    # The baseline and the latest minutes, read apart: in a long incident the minutes
    # between them are days.
    names = s.metrics.volume_names
    before = request_volume(window, service, names, baseline_start, baseline_end - 1)
    now = request_volume(window, service, names, start, minute)
    if before is None or now is None:
        return None
    scale = ratio_scale(metric, shape.values, [series[minute]])

    def failures(volume: dict[int, float], first: int, last: int) -> tuple[float, float]:
        failed = trials = 0.0
        for m in range(first, last + 1):
            n, value = volume.get(m), series.get(m)
            if n is not None and value is not None:
                n *= step  # a five-minute ratio stands for five minutes of requests
                failed += value / scale * n
                trials += n
        return failed, trials

    hist_failed, hist_trials = failures(before, baseline_start, baseline_end - 1)
    failed, trials = failures(now, start, minute)
    if trials <= 0:
        return None
    share = (hist_failed + 0.5) / (hist_trials + 1)
    return {"p": binomial_tail(failed, max(trials, failed), share), "failed": failed,
            "volume": trials, "expected_share": share}
