"""Faults: what goes wrong in the fleet, minute by minute, and what makes it stop.

Each fault reads the fleet's state every simulated minute, so remediation works the way it
does in production: a bad release stops hurting once its version is no longer running, an
exhausted connection pool recovers on restart, saturation eases when replicas are added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from oasis.simulate.fleet import ErrorKind, Fleet


@dataclass(slots=True)
class Effect:
    """How one service behaves differently during one minute."""

    error_prob: float = 0.0
    error: ErrorKind | None = None
    latency_mult: float = 1.0
    capacity: float = 1.0  # fraction of normal per-replica capacity
    memory: float = 0.0  # percentage points above the service's normal memory use
    warn: ErrorKind | None = None  # a warning the fault makes the service log
    warn_per_minute: float = 0.0
    fatal: list[ErrorKind] = field(default_factory=list)  # one-off lines, e.g. an OOM kill
    noise_mult: float = 1.0  # multiplies the service's own background error rate

    def merge(self, other: Effect) -> None:
        self.latency_mult *= other.latency_mult
        self.capacity *= other.capacity
        self.memory += other.memory
        self.noise_mult *= other.noise_mult
        self.fatal.extend(other.fatal)
        if other.error_prob > self.error_prob:
            self.error_prob, self.error = other.error_prob, other.error
        if other.warn_per_minute > self.warn_per_minute:
            self.warn, self.warn_per_minute = other.warn, other.warn_per_minute


class Fault:
    """Base class: `effects` says how services behave at minute `t`."""

    def effects(self, fleet: Fleet, t: datetime) -> dict[str, Effect]:
        raise NotImplementedError

    def traffic(self, t: datetime) -> tuple[float, float]:
        """(traffic multiplier, capacity multiplier) applied to the whole fleet."""
        return 1.0, 1.0


def _ramp(t: datetime, start: datetime, minutes: float) -> float:
    """0 before `start`, rising linearly to 1 over `minutes`."""
    elapsed = (t - start).total_seconds() / 60
    if elapsed < 0:
        return 0.0
    return 1.0 if minutes <= 0 else min(1.0, elapsed / minutes)


@dataclass
class BadRelease(Fault):
    """A version that throws: errors (and some slowness) while that version runs."""

    service: str
    version: str
    error: ErrorKind
    error_prob: float = 0.25
    latency_mult: float = 1.3

    def effects(self, fleet: Fleet, t: datetime) -> dict[str, Effect]:
        if fleet.state(self.service).version != self.version:
            return {}
        return {self.service: Effect(error_prob=self.error_prob, error=self.error,
                                     latency_mult=self.latency_mult)}


@dataclass
class MemoryLeak(Fault):
    """A version that leaks memory: it climbs steadily, GC slows requests, then OOM kills.

    An OOM kill or a restart frees the memory, and the leak starts again; only running
    another version ends it.
    """

    service: str
    version: str
    points_per_minute: float = 0.8
    oom_at: float = 97.0
    _since: datetime | None = None

    def effects(self, fleet: Fleet, t: datetime) -> dict[str, Effect]:
        st = fleet.state(self.service)
        if st.version != self.version or st.deployed_at is None:
            self._since = None
            return {}
        since = max(x for x in (st.deployed_at, st.restarted_at, self._since) if x is not None)
        base = fleet.specs[self.service].memory_percent
        used = base + self.points_per_minute * max(0.0, (t - since).total_seconds() / 60)
        effect = Effect(memory=min(used, self.oom_at) - base)
        if used >= self.oom_at:
            self._since = t  # the container is killed and comes back empty
            effect.fatal.append(ErrorKind(
                "OutOfMemoryError",
                "java.lang.OutOfMemoryError: Java heap space; container killed (exit 137)", 503))
            effect.memory = 0.0
            effect.error_prob, effect.error = 0.3, ErrorKind(
                "ServiceUnavailableError", "instance restarting after OOM kill", 503)
        elif used > 80:
            pressure = (used - 80) / (self.oom_at - 80)
            effect.latency_mult = 1 + 3 * pressure
            effect.error_prob = 0.08 * pressure
            effect.error = ErrorKind("GCOverheadError",
                                     "GC overhead limit exceeded after {n}ms pause", 500)
        return {self.service: effect}


@dataclass
class PoolExhaustion(Fault):
    """A dependency's connection pool is exhausted until the service is restarted."""

    service: str
    start: datetime
    error: ErrorKind
    error_prob: float = 0.4
    latency_mult: float = 4.0
    ramp_minutes: float = 3.0

    def effects(self, fleet: Fleet, t: datetime) -> dict[str, Effect]:
        restarted = fleet.state(self.service).restarted_at
        if t < self.start or (restarted is not None and restarted >= self.start):
            return {}
        r = _ramp(t, self.start, self.ramp_minutes)
        return {self.service: Effect(error_prob=self.error_prob * r, error=self.error,
                                     latency_mult=1 + (self.latency_mult - 1) * r)}


SLOW_QUERY = ErrorKind("SlowQueryWarning", "slow query on products: {n}ms (plan: seq scan)", 200)


@dataclass
class CapacityLoss(Fault):
    """Each request costs more (a slow query plan): the service saturates until scaled out."""

    service: str
    start: datetime
    capacity: float = 0.4
    ramp_minutes: float = 3.0  # a plan change is abrupt; the queue builds over minutes
    warn: ErrorKind = SLOW_QUERY

    def effects(self, fleet: Fleet, t: datetime) -> dict[str, Effect]:
        r = _ramp(t, self.start, self.ramp_minutes)
        if r == 0:
            return {}
        spec = fleet.specs[self.service]
        # Slow-query warnings fade once enough replicas absorb the load.
        crowding = spec.replicas / fleet.state(self.service).replicas
        return {self.service: Effect(capacity=1 - (1 - self.capacity) * r, warn=self.warn,
                                     warn_per_minute=12 * r * crowding)}


@dataclass
class TrafficSurge(Fault):
    """Traffic at the edge multiplies (a campaign, a bot); the tightest service saturates."""

    start: datetime
    multiplier: float = 2.2
    ramp_minutes: float = 4.0

    def effects(self, fleet: Fleet, t: datetime) -> dict[str, Effect]:
        return {}

    def traffic(self, t: datetime) -> tuple[float, float]:
        return 1 + (self.multiplier - 1) * _ramp(t, self.start, self.ramp_minutes), 1.0


@dataclass
class AutoscaledRamp(Fault):
    """A strong morning ramp that the autoscaler follows: more of everything, rates unchanged."""

    start: datetime
    multiplier: float = 2.5
    ramp_minutes: float = 60.0

    def effects(self, fleet: Fleet, t: datetime) -> dict[str, Effect]:
        return {}

    def traffic(self, t: datetime) -> tuple[float, float]:
        # Smooth S-curve, as real morning traffic is, not a step.
        r = _ramp(t, self.start, self.ramp_minutes)
        m = 1 + (self.multiplier - 1) * (1 - math.cos(math.pi * r)) / 2
        return m, m


@dataclass
class ChronicNoise(Fault):
    """A service that always logs many errors: normal for itself, never an incident."""

    service: str
    noise_mult: float = 6.0

    def effects(self, fleet: Fleet, t: datetime) -> dict[str, Effect]:
        wobble = 1 + 0.25 * math.sin(t.timestamp() / 1800)  # slow drift, ~3 h period
        return {self.service: Effect(noise_mult=self.noise_mult * wobble)}
