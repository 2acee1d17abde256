"""The metric detector: level shifts and steady climbs against the last two hours (and
earlier days), and what a streaming scorer per series flags against days of memory.

It is the one detector that keeps state between checks (a scorer per series, fed every
minute exactly once, in time order), so replay and live still agree.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator

from oasis.detect.anomaly import Anomaly, Role
from oasis.detect.baseline import Expectation, expect
from oasis.detect.detectors import squash, walk_back
from oasis.detect.settings import DetectSettings
from oasis.detect.shape import (
    HistoryShape,
    counter_increase,
    in_seconds,
    is_failure_count,
    is_failure_ratio,
    is_latency,
    looks_cumulative,
    points_between,
    ratio_scale,
    sampling_step,
)
from oasis.detect.streaming import SeriesStream, StreamAlarm, StreamFlag
from oasis.detect.traffic import failures_given_volume
from oasis.detect.window import SignalWindow, from_minute, guard_for

RUN_TEST_MIN_POINTS = 60


class MetricDetector:
    """Level shifts (robust z-score on every one of the latest minutes) and steady climbs
    (Theil-Sen slope with Kendall's tau) on any metric name; on series with a day of
    history, also what the streaming scorer flags against days of memory (slow climbs to a
    level never seen, which a two-hour baseline follows instead of flagging)."""

    name = "metric"

    def __init__(self, settings: DetectSettings) -> None:
        self.s = settings
        self.streams: dict[tuple[str, str], SeriesStream] = {}

    def role(self, metric: str) -> tuple[Role, int]:
        """Whether the metric is a symptom or context, and which way is worse (+1/-1/0)."""
        cfg, lower = self.s.metrics, metric.lower()
        if any(k in lower for k in cfg.worse_when_higher):
            return "symptom", 1
        if any(k in lower for k in cfg.worse_when_lower):
            return "symptom", -1
        if any(k in lower for k in cfg.context_only):
            return "context", 0
        return "symptom", 0

    def load_bound(self, metric: str) -> bool:
        """Resource use and failure counts (not ratios) grow with traffic."""
        lower = metric.lower()
        return any(k in lower for k in self.s.metrics.load_bound) or is_failure_count(metric)

    def detect(self, window: SignalWindow, minute: int) -> Iterator[Anomaly]:
        found = list(self._detect(window, minute))
        # Resource use that grew no faster than the service's traffic is the load, not a
        # fault: it explains an incident but does not open one.
        traffic: dict[str, float] = {}
        for a in found:
            if a.role == "context" and a.expected > 0:
                traffic[a.service] = max(traffic.get(a.service, 1.0), a.observed / a.expected)
        for service, factor in window.traffic_factor.items():
            if factor > 1:
                traffic[service] = max(traffic.get(service, 1.0), factor)
        for a in found:
            load = traffic.get(a.service)
            if (a.role == "symptom" and load and a.expected > 0 and self.load_bound(a.signal)
                    and a.observed / a.expected <= 1.25 * load):
                a.role = "context"
                a.summary += f", in line with traffic x{load:.1f}"
            yield a

    def _detect(self, window: SignalWindow, minute: int) -> Iterator[Anomaly]:
        for (service, metric), series in window.metrics.items():
            role, worse = self.role(metric)
            # The scorer is fed on every check so it has its history when the gate opens;
            # the two-hour checks keep precedence, it only adds what they miss.
            streamed = self._streamed(window, service, metric, series, minute, role, worse)
            found = self._recent(window, service, metric, series, minute, role, worse)
            if found is not None or streamed is not None:
                yield found or streamed

    def _recent(self, window: SignalWindow, service: str, metric: str,
                series: dict[int, float], minute: int, role: Role,
                worse: int) -> Anomaly | None:
        """The level and trend checks against the last two hours (and earlier days)."""
        cfg = self.s.metrics
        if minute - window.metric_first[(service, metric)] < self.s.min_history_minutes:
            return None
        if minute not in series:
            return None
        guard = guard_for(window, service, minute, max(self.s.guard_minutes, cfg.window_minutes))
        if looks_cumulative(metric, series, minute):
            # The baseline's minutes and the latest ones (an open incident's are between).
            series = counter_increase({
                **points_between(series, minute - guard - self.s.baseline_minutes - 1,
                                 minute - guard),
                **points_between(series, minute - max(cfg.run_max_minutes, 60), minute)})
        step = sampling_step(series, minute)
        age = minute - window.metric_first[(service, metric)]
        if step > 1 and service not in window.freeze and \
                age >= cfg.streaming_min_history_minutes:
            # With a day of history the streaming path judges sparse series (it is what
            # NAB measures); the level check on three sparse points covers the first day,
            # and an open incident (whose minutes the streaming path never sees).
            return None
        base = expect(series, minute, recent=self.s.baseline_minutes, guard=guard,
                      min_points=max(5, self.s.min_history_minutes // 2 // step))
        if base is None:
            return None
        floor = max(0.02 * abs(base.value), 1e-6)
        _, shape = self._history(series, minute, guard, step)
        found = self._level(window, service, metric, series, minute, base, floor, role, worse,
                            shape, step)
        # Failure counts climb with traffic; the error detectors judge them against it.
        if found is None and worse >= 0 and role == "symptom" and step == 1 \
                and not is_failure_count(metric):
            found = self._trend(service, metric, series, minute, base, floor)
        return found

    def _streamed(self, window: SignalWindow, service: str, metric: str,
                  series: dict[int, float], minute: int, role: Role,
                  worse: int) -> Anomaly | None:
        """Feed the series' scorer; its flag once the series has stayed beyond it."""
        cfg = self.s.metrics
        if not series:  # silent for longer than the window keeps: start afresh if it returns
            self.streams.pop((service, metric), None)
            return None
        stream = self.streams.get((service, metric))
        if stream is None:
            stream = self.streams[(service, metric)] = SeriesStream(cfg.streaming, min(series))
        frozen = window.freeze.get(service)
        flag = stream.feed(series, minute, frozen)
        # Flags older than a check's few minutes are history (a backfill), not news.
        if (flag is not None and flag.minute > minute - cfg.window_minutes
                and flag.minute - stream.first_minute >= cfg.streaming_min_history_minutes):
            stream.alarm = self._alarm(flag, worse)
        alarm = stream.alarm
        if alarm is None:
            return None
        w = cfg.window_minutes
        # Time, not points: a five-minute series has one point in these minutes, and that
        # point is already five minutes' worth of evidence.
        step = sampling_step(series, minute)
        span = w if step == 1 else 2 * step
        latest = [v for m in range(minute - span + 1, minute + 1)
                  if (v := series.get(m)) is not None]
        if step > 1 and len(latest) < 2:
            latest = []
        change = abs(sum(latest) / len(latest) - alarm.flag.mean) if latest else 0.0
        if (not latest or change < cfg.streaming_min_relative_change * abs(alarm.flag.mean)
                or not all((v - alarm.threshold) * alarm.sign > 0 for v in latest)):
            if minute - alarm.flag.minute >= 2 * span:  # a spike that did not last
                stream.alarm = None
            return None
        # Reported once: the incident it opens freezes the service, and from then on the
        # level check against the pre-incident baseline keeps it open while it lasts.
        stream.alarm = None
        flag, observed = alarm.flag, latest[-1]
        if not self._unlike_recent_history(window, service, metric, series, minute, latest,
                                           alarm.sign, flag.mean):
            return None
        ratio = max(observed, 1e-9) / max(flag.mean, 1e-9)
        onset = walk_back(series, minute, alarm.threshold, below=alarm.sign < 0)
        return Anomaly(
            service, self.name, f"metric:{metric}", from_minute(onset), observed,
            flag.mean, flag.deviation / (flag.deviation + cfg.streaming.z_half),
            f"{service}: {metric} {observed:.4g}, {flag.mean:.4g} long-run mean"
            + (f" ({'+' if ratio >= 1 else ''}{(ratio - 1) * 100:.0f} %)"
               if abs(flag.mean) >= 1e-3 else ""),
            role=role, detail={"metric": metric, "check": "streaming",
                               "deviation": round(flag.deviation, 1)})

    def _unlike_recent_history(self, window: SignalWindow, service: str, metric: str,
                               series: dict[int, float], minute: int, latest: list[float],
                               sign: int, mean: float) -> bool:
        """The level check's shape rules for a streaming flag: not a counter (its raw
        value climbs for ever), improbable for a zero-inflated or heavy-tailed series
        against its last two hours, and at least the kind's absolute change. (Not "beyond
        what two hours sustained": a slow climb, which only this path sees, has itself
        filled those two hours.)"""
        if looks_cumulative(metric, series, minute):
            return False
        guard = guard_for(window, service, minute,
                          max(self.s.guard_minutes, self.s.metrics.window_minutes))
        history, shape = self._history(series, minute, guard, sampling_step(series, minute))
        if len(history) < 5:
            return True
        level = statistics.median(history)
        band = self.s.metrics.z * 1.4826 * statistics.median(abs(v - level) for v in history)
        # Two hours of a five-minute series are too few points for the run test to say
        # anything (one point is never rarer than 1 in 25): there the scorer's own memory
        # of days decides, as measured on NAB.
        if len(history) >= RUN_TEST_MIN_POINTS and self._usual_run(shape, level, band, latest,
                                                                   sign):
            return False
        return self._big_enough(metric, latest[-1], mean, shape, relative=False)

    def _alarm(self, flag: StreamFlag, worse: int) -> StreamAlarm | None:
        """An alarm from a flag that passes the level check's rules: the worse direction
        and at least `min_relative_change` from the long-run mean."""
        cfg = self.s.metrics
        sign = 1 if flag.value >= flag.mean else -1
        if worse and sign != worse:
            return None
        change = cfg.streaming_min_relative_change
        if abs(flag.value - flag.mean) < change * abs(flag.mean):
            return None
        floor = max(0.02 * abs(flag.mean), 1e-6)
        threshold = flag.mean + sign * max(cfg.streaming_confirm_z * max(flag.spread, floor),
                                           abs(flag.mean) * change / 2)
        return StreamAlarm(flag, sign, threshold)

    def _level(self, window: SignalWindow, service: str, metric: str,
               series: dict[int, float], minute: int, base: Expectation, floor: float,
               role: Role, worse: int, shape: HistoryShape, step: int) -> Anomaly | None:
        """A shift held over the confirmation window (time, not points: a five-minute
        series needs `sparse_confirm_points` of its points), beyond the robust band,
        beyond what the history already sustained, improbable for this series, and big
        enough for its kind."""
        cfg = self.s.metrics
        points = cfg.sparse_confirm_points if step > 1 else cfg.window_minutes
        span = max(cfg.window_minutes, points * step)
        recent = [v for m in range(minute - span + 1, minute + 1)
                  if (v := series.get(m)) is not None]
        if len(recent) < points:
            return None
        spread = max(base.spread, shape_spread(shape), floor)
        zs = [(v - base.value) / spread for v in recent]
        sign = 1 if zs[-1] > 0 else -1
        if worse and sign != worse:
            return None
        if not all(z * sign >= cfg.z for z in zs):
            return None
        current = recent[-1]
        if not self._big_enough(metric, current, base.value, shape):
            return None
        if not shape.beyond_sustained(recent, sign):
            return None
        run, run_start = self._run(series, minute, spread, base.value, sign, step)
        if self._usual_run(shape, base.value, cfg.z * max(base.spread, floor), run, sign):
            return None
        volume = None
        if is_failure_ratio(metric):
            volume = failures_given_volume(window, service, metric, series, minute,
                                           minute - run_start + 1, shape, step, self.s)
            if volume is not None and volume["p"] > cfg.ratio_p_value:
                return None
        threshold = base.value + sign * max(cfg.z / 2 * spread,
                                            abs(base.value) * self._relative(metric) / 2)
        onset = walk_back(series, minute, threshold, below=sign < 0)
        ratio = max(current, 1e-9) / max(base.value, 1e-9)
        detail = {"metric": metric, "seasonal": base.seasonal}
        summary = f"{service}: {metric} {current:.4g}, {base.value:.4g} expected"
        if abs(base.value) >= 1e-3:
            summary += f" ({'+' if sign > 0 else ''}{(ratio - 1) * 100:.0f} %)"
        if volume is not None:
            detail.update(failed=round(volume["failed"], 1), volume=round(volume["volume"], 1))
            summary += (f", about {volume['failed']:.0f} of {volume['volume']:.0f} requests "
                        f"failed in {minute - run_start + 1} min "
                        f"({volume['expected_share']:.1%} usual)")
        return Anomaly(
            service, self.name, f"metric:{metric}", from_minute(onset), current, base.value,
            squash(ratio if sign > 0 else 1 / max(ratio, 1e-9), 10), summary,
            role=role, detail=detail)

    def _history(self, series: dict[int, float], minute: int, guard: int,
                 step: int) -> tuple[list[float], HistoryShape]:
        """The baseline's values (ending `guard` minutes back) and their shape."""
        end = minute - guard
        history = [series[m] for m in range(end - self.s.baseline_minutes, end) if m in series]
        window = self.s.metrics.sparse_confirm_points if step > 1 else self.s.metrics.window_minutes
        return history, HistoryShape.of(history, window)

    def _usual_run(self, shape: HistoryShape, level: float, band: float, run: list[float],
                   sign: int) -> bool:
        """A zero-inflated or heavy-tailed series whose latest run its history makes likely
        enough (the run test): normal for this series."""
        return shape.irregular(level, max(band, 1e-9)) and \
            shape.run_chance(run, sign) > self.s.metrics.run_p_value

    def _relative(self, metric: str) -> float:
        cfg = self.s.metrics
        if is_failure_ratio(metric):
            return cfg.failure_ratio_change.relative
        if is_failure_count(metric):  # the same signal as error lines: the same rule
            return self.s.error_rate.min_ratio - 1
        if is_latency(metric):
            return cfg.latency_change.relative
        return cfg.min_relative_change

    def _big_enough(self, metric: str, current: float, expected: float,
                    shape: HistoryShape, relative: bool = True) -> bool:
        """The kind's minimum meaningful change, absolute and (unless `relative` is off:
        the streaming path has its own) relative, in the series' unit."""
        cfg = self.s.metrics
        change = abs(current - expected)
        if relative and change < self._relative(metric) * abs(expected):
            return False
        if is_failure_ratio(metric):
            scale = ratio_scale(metric, shape.values, [current])
            return change >= cfg.failure_ratio_change.absolute * (scale if scale > 1 else 1)
        if is_latency(metric):
            absolute = cfg.latency_change.absolute
            if in_seconds(metric):
                absolute /= 1000
            return change >= absolute
        return True

    def _run(self, series: dict[int, float], minute: int, spread: float, expected: float,
             sign: int, step: int) -> tuple[list[float], int]:
        """The latest points beyond half the z band, walking back up to `run_max_minutes`,
        and the first minute they cover (a five-minute point covers five)."""
        cfg = self.s.metrics
        edge = expected + sign * cfg.z / 2 * spread
        run, first = [], minute
        for m in range(minute, minute - cfg.run_max_minutes * step, -1):
            v = series.get(m)
            if v is None:
                continue
            if (v - edge) * sign <= 0:
                break
            run.append(v)
            first = m - step + 1
        return run, first


    def _trend(self, service, metric, series, minute, base, floor):
        cfg = self.s.metrics
        points = [(m, series[m]) for m in range(minute - cfg.trend_minutes + 1, minute + 1)
                  if m in series]
        if len(points) < cfg.trend_minutes * 0.8:
            return None
        noise = max(base.spread, floor)
        current = points[-1][1]
        # A climb that earlier days also had at this hour (seasonal expectation) is normal.
        if current - base.value < cfg.trend_min_rise / 2 * noise:
            return None
        slope = _theil_sen(points)
        rise = slope * cfg.trend_minutes
        if rise < cfg.trend_min_rise * noise or _kendall_tau(points) < cfg.trend_min_tau:
            return None
        onset = walk_back(series, minute, base.value + 2 * noise, limit=3 * cfg.trend_minutes)
        return Anomaly(
            service, "metric_trend", f"trend:{metric}", from_minute(onset), current,
            base.value, min(1.0, rise / (4 * cfg.trend_min_rise * noise)),
            f"{service}: {metric} climbing steadily, {slope:+.3g}/min, now {current:.4g}",
            detail={"metric": metric, "slope_per_minute": round(slope, 4)})


def _theil_sen(points: list[tuple[int, float]]) -> float:
    slopes = sorted((y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points)
                    for x2, y2 in points[i + 1:] if x2 != x1)
    return slopes[len(slopes) // 2] if slopes else 0.0


def _kendall_tau(points: list[tuple[int, float]]) -> float:
    concordant = discordant = 0
    for i, (x1, y1) in enumerate(points):
        for x2, y2 in points[i + 1:]:
            s = (x2 - x1) * (y2 - y1)
            concordant += s > 0
            discordant += s < 0
    total = concordant + discordant
    return (concordant - discordant) / total if total else 0.0


def shape_spread(shape: HistoryShape) -> float:
    """Spread from the history's inner quantiles (10-90 %, as a normal's sd): where the
    MAD is 0 because most minutes are 0, the rest of the history still has a width."""
    values = shape.values
    if len(values) < 10:
        return 0.0
    return (values[int(0.9 * (len(values) - 1))] - values[int(0.1 * (len(values) - 1))]) / 2.56
