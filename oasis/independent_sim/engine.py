"""Minute-by-minute simulation: requests, failures and latency through the call graph."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .fleet import Service, topo_order
from .formats import Clock
from .logs import LogWriter
from .metrics import MetricWriter
from .scenarios import Fault, Plan


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def binom(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n <= 40:
        r = rng.random
        return sum(1 for _ in range(n) if r() < p)
    mean = n * p
    if mean < 12:
        return min(n, poisson(rng, mean))
    return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))


@dataclass
class Minute:
    """What happened in one minute, per service."""

    m: int
    n: dict[str, int] = field(default_factory=dict)            # requests received
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)         # failed requests
    own: dict[str, list[tuple[str, int, str | None]]] = field(default_factory=dict)
    prop: dict[str, dict[str, int]] = field(default_factory=dict)   # caller -> callee -> n
    absorbed: dict[str, dict[str, int]] = field(default_factory=dict)
    kind: dict[str, str] = field(default_factory=dict)         # dominant failure kind
    lat: dict[str, float] = field(default_factory=dict)        # p95 ms
    spiked: set[str] = field(default_factory=set)
    mem_mult: dict[str, float] = field(default_factory=dict)


class Engine:
    def __init__(self, fleet: dict[str, Service], plan: Plan, clock: Clock,
                 rng: random.Random) -> None:
        self.fleet, self.plan, self.clock, self.rng = fleet, plan, clock, rng
        self.order = topo_order(fleet)
        self.faults: dict[str, list[Fault]] = {n: [] for n in fleet}
        for f in plan.faults:
            self.faults[f.service].append(f)
        self.noisy = {n for n, s in fleet.items()
                      if s.noisy or any(f.noisy for f in self.faults[n])}
        self.noise_mean = {n: rng.uniform(0.08, 0.18) for n in sorted(self.noisy)}
        self.noise_level = dict(self.noise_mean)
        start = clock.start
        self.hour0 = start.hour + start.minute / 60 + start.second / 3600
        # Each service's own daily rhythm (entry services: configured; others: derived).
        self.rhythm: dict[str, tuple[float, float]] = {}
        for n, s in fleet.items():
            h = sum(map(ord, n))
            if s.entry_rate:
                self.rhythm[n] = (s.amplitude, s.peak_hour)
            else:
                self.rhythm[n] = (0.05 + (h % 13) / 100, 10 + h % 9)
        self.expected = self._expected_volume()
        self.versions = dict(plan.versions)
        self.deploys_at: dict[int, list[dict]] = {}
        for d in plan.deploys:
            self.deploys_at.setdefault(d["minute"], []).append(d)
        self.logs_at: dict[int, list[dict]] = {}
        for entry in plan.logs:
            self.logs_at.setdefault(entry["minute"], []).append(entry)
        self.log_writer = LogWriter(fleet, self.order, clock, rng, self.versions)
        self.metric_writer = MetricWriter(fleet, clock, rng, plan, self.expected)

    def _expected_volume(self) -> dict[str, float]:
        exp = {n: s.entry_rate for n, s in self.fleet.items()}
        for n in self.order:
            for e in self.fleet[n].calls:
                exp[e.callee] += exp[n] * e.fanout
        return exp

    def _season(self, name: str, m: int) -> float:
        amp, peak = self.rhythm[name]
        hod = (self.hour0 + m / 60) % 24
        return 1 + amp * math.cos(2 * math.pi * (hod - peak) / 24)

    def _active(self, name: str, m: int) -> list[Fault]:
        return [f for f in self.faults[name] if f.start <= m < f.end]

    def step(self, m: int) -> list[dict]:
        rng, fleet = self.rng, self.fleet
        mi = Minute(m)
        active = {n: self._active(n, m) for n in fleet}
        # 1. volumes, callers first
        incoming = dict.fromkeys(fleet, 0)
        for name in self.order:
            s = fleet[name]
            total = incoming[name]
            if s.entry_rate:
                total += poisson(rng, s.entry_rate * self._season(name, m))
            for f in active[name]:
                if f.traffic > 1:
                    total = poisson(rng, total * f.traffic)
                elif f.traffic < 1:
                    total = binom(rng, total, f.traffic)
            mi.n[name] = total
            for e in s.calls:
                fan = e.fanout * self._season(e.callee, m)
                whole = int(fan)
                c = total * whole + binom(rng, total, fan - whole)
                mi.calls[(name, e.callee)] = c
                incoming[e.callee] += c
        # 2. failures and latency, callees first
        for name in reversed(self.order):
            self._fail_and_latency(name, mi, active[name])
        # 3. the records
        out: list[dict] = []
        for d in self.deploys_at.get(m, ()):
            out.extend(self.log_writer.deployment(m, d))
        for entry in self.logs_at.get(m, ()):
            out.append(self.log_writer.line(m, entry["service"], entry["level"], "info",
                                            entry["text"], entry["fields"]))
        out.extend(self.log_writer.minute(mi))
        out.extend(self.metric_writer.minute(mi))
        out.sort(key=_ts)
        return out

    def _fail_and_latency(self, name: str, mi: Minute, active: list[Fault]) -> None:
        rng, s, m = self.rng, self.fleet[name], mi.m
        total = mi.n[name]
        if name in self.noisy:
            # mean-reverting wander around the service's own level, plus minute jitter
            lvl = self.noise_level[name]
            lvl += 0.2 * (self.noise_mean[name] - lvl) + rng.gauss(0, 0.015)
            self.noise_level[name] = lvl = min(0.22, max(0.06, lvl))
            base = min(0.25, max(0.05, lvl + rng.gauss(0, 0.02)))
        else:
            base = s.base_err
        base_kind = "carrier" if name == "carrier-bridge" else "internal"
        own = [(base_kind, binom(rng, total, base), None)]
        rem = total - own[0][1]
        lat_mult, mem_mult = 1.0, 1.0
        for f in active:
            lat_mult *= f.lat
            if f.mem != 1.0:
                mem_mult *= 1 + (f.mem - 1) * (m - f.start) / max(1, f.end - f.start)
            if f.err > 0:
                p = f.err * ((m - f.start + 1) / max(1, f.end - f.start) if f.ramp else 1.0)
                if f.host:
                    p /= len(s.hosts)
                c = binom(rng, rem, p)
                rem -= c
                own.append((f.kind, c, f.host))
        mi.own[name] = own
        mi.mem_mult[name] = mem_mult
        own_n = total - rem
        biggest = max(own, key=lambda x: x[1])
        mi.kind[name] = biggest[0] if biggest[1] else base_kind
        prop: dict[str, int] = {}
        absorbed: dict[str, int] = {}
        sigma = s.lat_sigma * (3 if name in self.noisy else 1)
        lat = s.lat_ms * math.exp(rng.gauss(0, sigma)) * lat_mult
        if rng.random() < 0.006:
            lat *= rng.uniform(3, 6)
            mi.spiked.add(name)
        if lat_mult >= 3:
            mi.spiked.add(name)
        for e in s.calls:
            cc, nc, fc = mi.calls[(name, e.callee)], mi.n[e.callee], mi.fail[e.callee]
            lat += min(1.0, e.fanout) * 0.5 * mi.lat[e.callee]
            if not (cc and nc and fc):
                continue
            failed = binom(rng, cc, fc / nc)
            p = binom(rng, failed, e.prop)
            prop[e.callee], absorbed[e.callee] = p, failed - p
            if mi.kind[e.callee] == "pool_timeout":
                lat += min(1.0, failed / cc * 8) * 5000 * e.prop
        mi.prop[name], mi.absorbed[name] = prop, absorbed
        mi.fail[name] = min(total, own_n + sum(prop.values()))
        mi.lat[name] = lat


def _ts(rec: dict) -> str:
    return rec["timestamp"]
