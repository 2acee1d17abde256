"""The detectors. Each reads the `SignalWindow` at the last complete minute and reports
`Anomaly`s. Only the metric detector keeps state between checks (a streaming scorer per
series, fed every minute exactly once, in time order), so replay and live still agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from oasis.detect.anomaly import Anomaly
from oasis.detect.baseline import expect, expect_rate
from oasis.detect.settings import DetectSettings
from oasis.detect.window import SignalWindow, from_minute, guard_for, window_sum


def squash(ratio: float, full_at: float) -> float:
    """0 at ratio 1, 1 at `full_at`, logarithmic in between."""
    if ratio <= 1:
        return 0.0
    return min(1.0, math.log(ratio) / math.log(full_at))


def poisson_tail(observed: float, expected: float, dispersion: float = 1.0) -> float:
    """P(X >= observed) for counts with mean `expected` and variance `dispersion` times it.

    Over-dispersed counts are scaled down to a Poisson of the same shape (quasi-Poisson),
    so a bursty service needs a bigger burst. Exact for small counts, where the normal
    approximation (a z-score) alarms far too often.
    """
    k = math.floor(observed / dispersion)
    lam = max(expected / dispersion, 1e-9)
    if k <= 0:
        return 1.0
    # Sum the lower terms in log space: P(X < k) = sum_{i<k} e^-lam lam^i / i!
    log_term = -lam
    total = math.exp(log_term)
    for i in range(1, k):
        log_term += math.log(lam) - math.log(i)
        total += math.exp(log_term)
        if total >= 1.0:
            return 0.0
    return max(0.0, 1.0 - total) if total < 0.999999 else _upper_tail(k, lam)


def _upper_tail(k: int, lam: float) -> float:
    """P(X >= k) summed from k upwards: precise when it is tiny."""
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    total, i = 0.0, k
    while True:
        term = math.exp(log_term)
        total += term
        if term < total * 1e-12 or i > k + 10_000:
            return total
        i += 1
        log_term += math.log(lam) - math.log(i)


def walk_back(values: dict[int, float], minute: int, above: float, limit: int = 90,
               below: bool = False) -> int:
    """First minute of the run (gaps of one minute allowed) that ends at `minute`."""
    start, gap = minute, 0
    for m in range(minute, minute - limit, -1):
        v = values.get(m, 0.0)
        if (v < above) if below else (v > above):
            start, gap = m, 0
        else:
            gap += 1
            if gap > 1:
                break
    return start


class ErrorRateDetector:
    """Error lines per service well above that service's own normal rate.

    The expected count is scaled by the service's current traffic (its non-error lines, or
    its request-rate metric when it has one), so twice the users with the same error ratio
    is not a spike. The excess must show in at least `min_bad_minutes` of the window's
    minutes unless it is severe: one bad minute is a blip.
    """

    name = "error_rate"

    def __init__(self, settings: DetectSettings) -> None:
        self.s = settings

    def detect(self, window: SignalWindow, minute: int) -> Iterator[Anomaly]:
        cfg = self.s.error_rate
        w = cfg.window_minutes
        for service, logs in window.logs.items():
            if logs.first_minute is None or minute - logs.first_minute < self.s.min_history_minutes:
                continue
            guard = guard_for(window, service, minute, max(self.s.guard_minutes, w))
            base = expect_rate(logs.errors, minute, recent=self.s.baseline_minutes, guard=guard,
                               min_points=self.s.min_history_minutes // 2,
                               zero_fill_from=logs.first_minute)
            if base is None:
                continue
            rate, dispersion = base
            traffic = max(_traffic_factor(self.s, logs.other, minute, w, guard, logs.first_minute),
                          window.traffic_factor.get(service, 1.0))
            expected = max(rate, 0.05) * w * traffic
            observed = window_sum(logs.errors, minute, w)
            if observed < max(cfg.min_errors, cfg.min_ratio * expected) or \
                    poisson_tail(observed, expected, dispersion) > cfg.p_value:
                continue
            per_minute = max(rate, 0.05) * traffic
            above = per_minute + 2 * math.sqrt(per_minute * dispersion) + 0.5
            bad = sum(logs.errors.get(m, 0) > above for m in range(minute - w + 1, minute + 1))
            severe = observed >= cfg.severe_ratio * expected and observed >= cfg.severe_min_errors
            if bad < min(cfg.min_bad_minutes, w) and not severe:
                continue
            onset = walk_back(logs.errors, minute, above)
            yield Anomaly(
                service, self.name, "errors", from_minute(onset), observed, expected,
                squash(observed / expected, 30),
                f"{service}: {observed:.0f} errors in {w} min, {expected:.1f} expected",
                detail={"window_minutes": w, "traffic_factor": round(traffic, 2)})


def _traffic_factor(s: DetectSettings, other: dict[int, float], minute: int, w: int, guard: int,
                    first: int) -> float:
    base = expect(other, minute, recent=s.baseline_minutes, guard=guard,
                  min_points=s.min_history_minutes // 2, zero_fill_from=first)
    if base is None or base.value <= 0:
        return 1.0
    return min(5.0, max(1.0, window_sum(other, minute, w) / (w * base.value)))


class NewErrorDetector:
    """Error types and log templates a service never showed before that become frequent,
    and known ones that surge."""

    name = "new_errors"

    def __init__(self, settings: DetectSettings) -> None:
        self.s = settings

    def detect(self, window: SignalWindow, minute: int) -> Iterator[Anomaly]:
        for service, logs in window.logs.items():
            if logs.first_minute is None or minute - logs.first_minute < self.s.min_history_minutes:
                continue
            for error_type, series in logs.by_type.items():
                first = window.type_first[(service, error_type)]
                yield from self._check(window, service, "error_type", error_type, error_type,
                                       series, first, minute, logs.first_minute)
            for template_id, series in window.templates.get(service, {}).items():
                first = window.template_first[(service, template_id)]
                yield from self._check(window, service, "log_template", template_id,
                                       window.template_text[template_id], series, first,
                                       minute, logs.first_minute)

    def _check(self, window: SignalWindow, service: str, kind: str, key: str, label: str,
               series: dict[int, float], first: int, minute: int,
               service_first: int) -> Iterator[Anomaly]:
        cfg = self.s.error_types
        w = cfg.window_minutes
        observed = window_sum(series, minute, w)
        if observed < cfg.min_count:
            return
        guard = max(self.s.guard_minutes, w)
        if first > minute - guard - w:  # never seen before this burst
            yield Anomaly(service, kind, f"{kind}:{key}", from_minute(first), observed, 0.0,
                          min(1.0, observed / (10 * cfg.min_count)),
                          f"{service}: new {kind.replace('_', ' ')} {label!r}, "
                          f"{observed:.0f} times in {w} min",
                          detail={"first_seen": from_minute(first).isoformat(), "text": label})
            return
        base = expect_rate(series, minute, recent=self.s.baseline_minutes,
                           guard=guard_for(window, service, minute, guard), min_points=10,
                           zero_fill_from=service_first)
        if base is None:
            return
        rate, dispersion = base
        logs = window.logs[service]
        traffic = max(_traffic_factor(self.s, logs.other, minute, w,
                                      guard_for(window, service, minute, guard), service_first),
                      window.traffic_factor.get(service, 1.0))
        expected = max(rate, 0.05) * w * traffic
        if observed < cfg.surge_ratio * expected or \
                poisson_tail(observed, expected, dispersion) > self.s.error_rate.p_value:
            return
        onset = walk_back(series, minute, max(rate, 0.05) * cfg.surge_ratio / 2 + 0.5)
        yield Anomaly(service, kind, f"{kind}:{key}", from_minute(onset), observed, expected,
                      squash(observed / expected, 30),
                      f"{service}: {kind.replace('_', ' ')} {label!r} surging, "
                      f"{observed:.0f} in {w} min, {expected:.1f} expected",
                      detail={"text": label})
