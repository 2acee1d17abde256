"""A 3-hour request history of six services, written for the source backtests without
the simulators' code: one service whose 5xx share jumps at JUMP_MINUTE, next to healthy
ones that are noisy, sparse, ramping, restarted (a counter reset) or named the Micrometer
or OpenTelemetry way. Per minute: requests by status class, and p99-ish latency."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
MINUTES = 180
JUMP_MINUTE = 120
BROKEN = "checkout"


@dataclass(frozen=True)
class Minute:
    service: str
    minute: int
    ok: int
    failed: int
    latency_seconds: float

    @property
    def at(self) -> datetime:
        return START + timedelta(minutes=self.minute)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _traffic(service: str, minute: int, rng: random.Random) -> float:
    if service == "search":  # noisy: bursts of +-40 %
        return 400 * max(0.2, rng.gauss(1.0, 0.4))
    if service == "ledger":  # sparse: a few calls a minute
        return 2.5
    if service == "catalog":  # ramping: 3x over the three hours
        return 200 + 400 * minute / MINUTES
    return {"checkout": 600, "auth": 300, "gateway": 900}[service]


SERVICES = ("checkout", "search", "ledger", "catalog", "auth", "gateway")
FAILURE_SHARE = {"checkout": 0.005, "search": 0.01, "ledger": 0.02, "catalog": 0.005,
                 "auth": 0.002, "gateway": 0.004}


def minutes(seed: int = 7) -> Iterator[Minute]:
    rng = random.Random(seed)
    for minute in range(MINUTES):
        for service in SERVICES:
            requests = _poisson(rng, _traffic(service, minute, rng))
            share = FAILURE_SHARE[service]
            if service == BROKEN and minute >= JUMP_MINUTE:
                share = 0.12
            if service == "search":
                share *= max(0.0, rng.gauss(1.0, 0.5))
            failed = sum(1 for _ in range(requests) if rng.random() < share)
            latency = 0.08 * math.exp(rng.gauss(0, 0.15)) * (3 if service == "ledger" else 1)
            yield Minute(service, minute, requests - failed, failed, latency)
