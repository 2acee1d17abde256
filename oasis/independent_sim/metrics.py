"""Metric records: five dialects with their own names, units and intervals.

A service's values come from the minute's simulated requests and failures,
so low-traffic services get zero-inflated, jumpy error ratios. Services with
a 5-minute interval stamp each point at the end of its window. During a
collector gap nothing is sent; the first point after it carries the summed
gap (and is sent twice) and the `*_total` counters restart from 0.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from .fleet import Service
from .formats import Clock
from .scenarios import Plan

if TYPE_CHECKING:
    from .engine import Minute

_MB = 1024 * 1024


class _Acc:
    __slots__ = ("biz", "fail", "lat", "lat_n", "minutes", "n")

    def __init__(self) -> None:
        self.n = self.fail = self.minutes = self.lat_n = 0
        self.lat = self.biz = 0.0


class MetricWriter:
    def __init__(self, fleet: dict[str, Service], clock: Clock, rng: random.Random,
                 plan: Plan, expected: dict[str, float]) -> None:
        self.clock, self.rng, self.plan = clock, rng, plan
        self.services = [s for s in fleet.values() if s.dialect]
        self.expected = expected
        self.acc = {s.name: _Acc() for s in self.services}
        self.req_total = {s.name: rng.randint(10**5, 10**7) for s in self.services}
        self.err_total = {s.name: rng.randint(10**2, 10**4) for s in self.services}
        self.gc = {s.name: rng.random() for s in self.services}
        self.gc_rate = {s.name: rng.uniform(0.002, 0.006) for s in self.services}
        self.queue = 40.0
        gap = plan.metric_gap
        self.gap = range(gap[0], gap[1]) if gap else range(0)

    def minute(self, mi: Minute) -> list[dict]:
        out: list[dict] = []
        m = mi.m
        for s in self.services:
            name = s.name
            a = self.acc[name]
            a.n += mi.n[name]
            a.fail += mi.fail[name]
            a.lat = max(a.lat, mi.lat[name])
            a.lat_n += 1
            a.minutes += 1
            if name == "card-auth":
                ok = mi.n[name] - mi.fail[name]
                a.biz += ok * min(0.99, max(0.8, self.rng.gauss(0.93, 0.01)))
            self.gc[name] += self.gc_rate[name]
            if self.gc[name] > 0.12:
                self.gc[name] = 0.0
            if s.dialect == "worker":
                self.queue = max(0.0, self.queue * 0.6 + self.rng.gauss(16, 4)
                                 + 3 * mi.fail[name])
            if s.interval == 1:
                stamp = m
            elif (m + 1) % s.interval == 0 and m + 1 < self.plan.minutes:
                stamp = m + 1
            else:
                continue
            if m in self.gap:
                continue
            after_gap = bool(self.gap) and m == self.gap.stop
            if after_gap:
                self.req_total[name] = self.err_total[name] = 0
            self.req_total[name] += a.n
            self.err_total[name] += a.fail
            values = self._values(s, a, mi)
            ts = self.clock.at(stamp)
            for _ in range(2 if after_gap else 1):
                for metric, value, unit in values:
                    out.append({"type": "metric", "timestamp": ts, "service": name,
                                "name": metric, "value": value, "unit": unit})
            self.acc[name] = _Acc()
        return out

    def _values(self, s: Service, a: _Acc, mi: Minute) -> list[tuple[str, float, str]]:
        rng, name, iv = self.rng, s.name, s.interval
        ratio = a.fail / a.n if a.n else 0.0
        p95 = a.lat
        load = (a.n / max(1, a.minutes)) / max(0.5, self.expected[name])
        cpu = min(0.98, max(0.01, 0.07 + 0.3 * load + rng.gauss(0, 0.015)))
        mem_mb = s.mem_mb * (1 + self.gc[name]) * mi.mem_mult.get(name, 1.0)
        mem_mb *= 1 + rng.gauss(0, 0.004)
        d = s.dialect
        if d == "mixed":
            vals = [("requests_per_min", a.n / iv, "req/min"),
                    ("http.server.errors.ratio", round(ratio, 5), "1"),
                    ("latency_p95_ms", round(p95, 2), "ms"),
                    ("latency_p50_ms", round(p95 * rng.uniform(0.3, 0.4), 2), "ms"),
                    ("process_resident_memory_bytes", float(round(mem_mb * _MB)), "By"),
                    ("cpu_utilization", round(cpu, 4), "1"),
                    ("http_requests_total", float(self.req_total[name]), "1"),
                    ("upstream_errors_total", float(self.err_total[name]), "1")]
        elif d == "otel":
            vals = [("http.server.requests", a.n / iv, "{request}/min"),
                    ("http.server.errors.ratio", round(ratio, 5), "1"),
                    ("http.server.duration.p95", round(p95, 2), "ms"),
                    ("process.memory.usage", float(round(mem_mb * _MB)), "By"),
                    ("process.cpu.utilization", round(cpu, 4), "1")]
        elif d == "legacy":
            vals = [("requests_per_min", a.n / iv, "req/min"),
                    ("error_pct", round(100 * ratio, 3), "%"),
                    ("latency_p95_ms", round(p95, 1), "ms"),
                    ("heap_used_mb", round(mem_mb, 1), "MB"),
                    ("cpu_pct", round(100 * cpu, 2), "%")]
        elif d == "prom":
            vals = [("rps", round(a.n / iv / 60, 4), "req/s"),
                    ("http_requests_total", float(self.req_total[name]), "1"),
                    ("http_request_errors_total", float(self.err_total[name]), "1"),
                    ("http_server_duration_p99_seconds", round(p95 * 1.35 / 1000, 5), "s"),
                    ("process_resident_memory_bytes", float(round(mem_mb * _MB)), "bytes"),
                    ("cpu_utilization", round(cpu, 4), "ratio")]
        else:  # worker
            vals = [("jobs_processed_per_min", (a.n - a.fail) / iv, "jobs/min"),
                    ("jobs_failed_pct", round(100 * ratio, 3), "%"),
                    ("job_duration_p95_seconds", round(p95 / 1000, 4), "s"),
                    ("queue_depth", float(round(self.queue)), "jobs"),
                    ("heap_used_mb", round(mem_mb, 1), "MB"),
                    ("cpu_pct", round(100 * cpu, 2), "%")]
        if name == "card-auth":
            vals.append(("payments_authorized_per_min", round(a.biz / iv, 2), "payments/min"))
        return [(k, v if math.isfinite(v) else 0.0, u) for k, v, u in vals]
