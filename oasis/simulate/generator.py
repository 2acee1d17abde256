"""Turn a fleet and a scenario into signals, one simulated minute at a time.

Every request is simulated as a trace through the call graph: a callee's latency adds to
its caller's, and a failed call fails the caller with probability `propagation`, so an
outage weakens with every hop, as real ones do. Successful requests are logged for a
sample of traces (head sampling); errors and warnings are always logged, as most services
do. Each service also reports six metrics per minute. Output is the NDJSON wire format.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Re-exported for oasis.simulate and oasis.simulate.live; the one definition is shared.
from oasis.signals.times import floor_minute as floor_minute
from oasis.simulate.faults import Effect
from oasis.simulate.fleet import ErrorKind, Fleet
from oasis.simulate.scenarios import Plan

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """Traffic shape. Defaults give about 280 records a minute for the default fleet."""

    rpm: float = 600.0  # requests per minute at the edge, before daily/weekly shape
    log_sample: float = 0.1  # share of traces whose successful spans are logged
    propagation: float = 0.6  # chance a failed call fails its caller
    daily_amplitude: float = 0.2  # traffic +/- this share over the day (peak 14:00 UTC)
    weekend_factor: float = 0.8
    ids: bool = False  # give every record an id (safe retries when streaming)


_DETAILS = ("missing field 'email'", "quantity must be positive", "unknown currency 'XYZ'")


def _details(rnd: Callable[[], float]) -> dict[str, Any]:
    """Values for the `{n}`, `{id}` and `{detail}` fields of an error template."""
    return {"n": 10 + int(rnd() * 8990), "id": 1000 + int(rnd() * 98999),
            "detail": _DETAILS[int(rnd() * len(_DETAILS))]}


class Generator:
    """Produces the records of each simulated minute; call `minute(t)` in time order."""

    def __init__(self, fleet: Fleet, plan: Plan, seed: int,
                 config: GeneratorConfig | None = None) -> None:
        self.fleet = fleet
        self.plan = plan
        self.config = config or GeneratorConfig()
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = plan.truth.start
        self._deploys = list(plan.deploys)
        self._serial = 0
        self._names = list(fleet.specs)
        index = {n: i for i, n in enumerate(self._names)}
        self._calls = [[(index[c], p) for c, p in fleet.specs[n].calls] for n in self._names]
        called = {c for n in self._names for c, _ in fleet.specs[n].calls}
        self._entries = [index[n] for n in self._names if n not in called]

    # -- public ---------------------------------------------------------------------------
    def minute(self, t: datetime) -> list[dict[str, Any]]:
        """All records of the minute starting at `t` (UTC), in timestamp order."""
        self.now = t
        while self._deploys and self._deploys[0].at < t + MINUTE:
            d = self._deploys.pop(0)
            self.fleet.deploy(d.service, d.version, at=d.at, description=d.description)
        out: list[tuple[float, dict[str, Any]]] = []
        self._fleet_events(t, out)
        effects = self._effects(t)
        self._requests(t, effects, out)
        out.sort(key=lambda item: item[0])
        prefix = t.strftime("%Y-%m-%dT%H:%M:")
        records = []
        for sec, rec in out:
            rec["timestamp"] = f"{prefix}{min(sec, 59.999):06.3f}Z"
            if self.config.ids:
                self._serial += 1
                rec["id"] = f"sim-{self.seed}-{self._serial}"
            records.append(rec)
        return records

    def run(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        t = start
        while t < end:
            yield from self.minute(t)
            t += MINUTE

    # -- one minute -----------------------------------------------------------------------
    def _fleet_events(self, t: datetime, out: list) -> None:
        for ev in self.fleet.drain_events():
            sec = max(0.0, min(59.0, (ev["at"] - t).total_seconds()))
            svc = ev["service"]
            if ev["kind"] == "deployment":
                rec = {"type": "deployment", "service": svc, "version": ev["version"],
                       "previous_version": ev["previous_version"], "author": ev["author"]}
                if ev.get("description"):
                    rec["description"] = ev["description"]
                out.append((sec, rec))
                out.append((sec + 4.2, self._log(svc, "INFO",
                            f"started {svc} version {ev['version']} in 4.2s")))
            elif ev["kind"] == "restart":
                out.append((sec, self._log(svc, "INFO", "received SIGTERM, shutting down")))
                out.append((sec + 5.0, self._log(
                    svc, "INFO", f"started {svc} version {self.fleet.state(svc).version}")))
            else:
                out.append((sec, self._log(
                    svc, "INFO", f"scaled from {ev['previous']} to {ev['replicas']} replicas")))

    def _effects(self, t: datetime) -> dict[str, Effect]:
        merged = {n: Effect() for n in self._names}
        for fault in self.plan.faults:
            for name, eff in fault.effects(self.fleet, t).items():
                merged[name].merge(eff)
        return merged

    def _traffic(self, t: datetime) -> tuple[float, float]:
        cfg = self.config
        hour = t.hour + t.minute / 60
        shape = 1 + cfg.daily_amplitude * math.sin(2 * math.pi * (hour - 8) / 24)
        if t.weekday() >= 5:
            shape *= cfg.weekend_factor
        load, capacity = 1.0, 1.0
        for fault in self.plan.faults:
            f_load, f_cap = fault.traffic(t)
            load, capacity = load * f_load, capacity * f_cap
        return shape * load, capacity

    def _requests(self, t: datetime, effects: dict[str, Effect], out: list) -> None:
        rng = self.rng
        rnd = rng.random
        cfg = self.config
        load, capacity = self._traffic(t)
        names = self._names
        n_svc = len(names)
        specs = [self.fleet.specs[n] for n in names]
        states = [self.fleet.state(n) for n in names]
        effs = [effects[n] for n in names]

        lat_base, err_prob, err_kind, noise, util = [], [], [], [], []
        for spec, st, eff in zip(specs, states, effs, strict=True):
            rho = load / capacity * spec.base_utilization * spec.replicas / st.replicas
            rho /= max(eff.capacity, 0.05)
            # Queueing: latency is flat at normal load and climbs as replicas saturate.
            queue = 1 + 25 * max(0.0, min(rho, 1.3) - 0.6) ** 2
            overload = max(0.0, rho - 0.95) * 2
            lat_base.append(spec.latency_ms * eff.latency_mult * queue)
            if overload > eff.error_prob:
                err_prob.append(min(overload, 0.9))
                err_kind.append(ErrorKind("ServiceOverloadedError",
                                          "shedding load: {n} requests queued", 503))
            else:
                err_prob.append(eff.error_prob)
                err_kind.append(eff.error)
            noise.append(spec.noise * eff.noise_mult)
            util.append(rho)

        requests = [0] * n_svc
        server_errors = [0] * n_svc
        latencies: list[list[float]] = [[] for _ in range(n_svc)]
        calls = self._calls
        propagation = cfg.propagation
        log = self._log
        rate = cfg.rpm * load
        n_requests = max(0, int(rate + rng.gauss(0, math.sqrt(rate)) + 0.5)) if rate > 0 else 0

        def call(i: int, start: float, trace: str, sampled: bool) -> tuple[bool, float]:
            child_ms = 0.0
            failed = -1
            for j, p in calls[i]:
                if rnd() < p:
                    ok, ms = call(j, start, trace, sampled)
                    child_ms += ms
                    if not ok and failed < 0:
                        failed = j
            u = rnd()
            own = lat_base[i] * (0.7 + 0.6 * u)
            if u < 0.03:  # the slow tail: GC pauses, cold caches
                own *= 2.5 + 100 * u
            ms = own + child_ms
            requests[i] += 1
            latencies[i].append(ms)
            r = rnd()
            if r < err_prob[i]:
                kind = err_kind[i]
                server_errors[i] += 1
                out.append((start + ms / 1000, log(
                    names[i], "ERROR", kind.template.format(**_details(rnd)), kind.error_type,
                    trace, endpoint_of(i), kind.status, ms, replicas[i])))
                return False, ms
            if failed >= 0:
                callee = names[failed]
                if rnd() < propagation:
                    server_errors[i] += 1
                    out.append((start + ms / 1000, log(
                        names[i], "ERROR",
                        f"call to {callee} failed: upstream returned 503 after {ms:.0f}ms",
                        "UpstreamServiceError", trace, endpoint_of(i), 502, ms, replicas[i],
                        callee)))
                    return False, ms
                out.append((start + ms / 1000, log(
                    names[i], "WARN", f"call to {callee} failed, served cached fallback", None,
                    trace, endpoint_of(i), 200, ms, replicas[i], callee)))
                return True, ms
            if r < err_prob[i] + noise[i]:
                kind = specs[i].noise_error
                out.append((start + ms / 1000, log(
                    names[i], "ERROR", kind.template.format(**_details(rnd)), kind.error_type,
                    trace, endpoint_of(i), kind.status, ms, replicas[i])))
            elif sampled:
                endpoint = endpoint_of(i)
                out.append((start + ms / 1000, log(
                    names[i], "INFO", f"{endpoint} -> 200 in {ms:.0f}ms", None, trace,
                    endpoint, 200, ms, replicas[i])))
            return True, ms

        endpoints = [spec.endpoints for spec in specs]
        replicas = [st.replicas for st in states]

        def endpoint_of(i: int) -> str:
            options = endpoints[i]
            return options[int(rnd() * len(options))]

        entries = self._entries
        sample = cfg.log_sample
        getrandbits = rng.getrandbits
        for k in range(n_requests):
            entry = entries[k % len(entries)]
            call(entry, rnd() * 59.0, f"{getrandbits(64):016x}", rnd() < sample)

        for i, name in enumerate(names):
            eff = effs[i]
            for _ in range(_poisson(rng, eff.warn_per_minute)):
                kind = eff.warn
                assert kind is not None
                out.append((rnd() * 59.9, log(name, "WARN",
                                              kind.template.format(**_details(rnd)),
                                              kind.error_type)))
            for kind in eff.fatal:
                out.append((rnd() * 59.9, log(name, "FATAL", kind.template, kind.error_type)))
            self._metrics(name, specs[i], eff, util[i], requests[i], server_errors[i],
                          latencies[i], out)

    def _metrics(self, name: str, spec: Any, eff: Effect, rho: float, requests: int,
                 errors: int, lat: list[float], out: list) -> None:
        gauss = self.rng.gauss
        values = {
            "request_rate": (round(requests / 60, 3), "req/s"),
            "error_rate": (round(100 * errors / requests, 3) if requests else 0.0, "percent"),
            "cpu_percent": (round(min(100.0, max(1.0, 8 + 85 * min(rho, 1.15) + gauss(0, 2))),
                                  2), "percent"),
            "memory_percent": (round(min(100.0, spec.memory_percent + eff.memory
                                         + gauss(0, 0.8)), 2), "percent"),
        }
        if lat:
            lat.sort()
            values["latency_p50_ms"] = (round(lat[len(lat) // 2], 2), "ms")
            values["latency_p99_ms"] = (round(lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                                              2), "ms")
        for metric, (value, unit) in values.items():
            out.append((0.0, {"type": "metric", "service": name, "name": metric,
                              "value": value, "unit": unit}))

    def _log(self, service: str, level: str, message: str, error_type: str | None = None,
             trace: str | None = None, endpoint: str | None = None, status: int | None = None,
             ms: float | None = None, replicas: int = 1, callee: str | None = None,
             ) -> dict[str, Any]:
        rnd = self.rng.random
        rec: dict[str, Any] = {"type": "log", "service": service, "level": level,
                               "message": message}
        if error_type:
            rec["error_type"] = error_type
        rec["host"] = f"{service}-{int(rnd() * replicas)}"
        if trace:
            rec["trace_id"] = trace
            rec["span_id"] = f"{self.rng.getrandbits(32):08x}"
        if endpoint:
            method, _, path = endpoint.partition(" ")
            attrs: dict[str, Any] = {"method": method, "path": path, "status_code": status,
                                     "latency_ms": round(ms or 0.0, 1)}
            if callee:
                attrs["callee"] = callee
            rec["attributes"] = attrs
        return rec


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
