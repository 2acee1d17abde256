"""A generated three-hour log history of six services, for the log-source tests, and a
driver that runs detection over a source the way the live monitor would.

Written for these tests alone (not `oasis.simulate` or `oasis.independent_sim`):
- checkout: steady traffic; its error share jumps from 1 % to 15 % at hour 2 (the one
  incident);
- search: noisy (per-minute traffic varies by half again around its mean), 2 % errors;
- ledger: sparse (a line every few minutes, most minutes empty);
- catalog: ramping (traffic grows threefold over the three hours), 1 % errors;
- auth: steady; gateway: steady, its lines naming the service they called (`callee`).
Every line carries a trace id; each service's lines have a few templates per level.
The acceptance tests run `oasis.monitor.backtest.backtest` over a source serving it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from oasis.signals import Level

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOURS = 3
END = START + timedelta(hours=HOURS)
JUMP = START + timedelta(hours=2)
FAULTY = "checkout"
SERVICES = ("checkout", "search", "ledger", "catalog", "auth", "gateway")

TEMPLATES = {
    Level.INFO: ("handled {method} /api/{service}/{n} in {ms}ms",
                 "cache refreshed with {n} entries"),
    Level.WARN: ("slow query on {table} took {ms}ms", "retrying call attempt {k}"),
    Level.ERROR: ("request failed: upstream timeout after {ms}ms",
                  "could not write row {n} to {table}"),
}
ERROR_TYPES = ("UpstreamTimeout", "WriteFailed")


@dataclass(frozen=True)
class Line:
    ts: datetime
    service: str
    level: Level
    message: str
    trace_id: str
    error_type: str | None = None
    callee: str | None = None


@dataclass(frozen=True)
class Profile:
    rate: Callable[[int], float]  # mean lines per minute at minute m
    error: Callable[[int], float]  # error share at minute m
    warn: float = 0.03
    noise: float = 0.0  # coefficient of variation of the per-minute traffic


MINUTES = HOURS * 60
JUMP_MINUTE = 120
PROFILES = {
    "checkout": Profile(lambda m: 60.0, lambda m: 0.15 if m >= JUMP_MINUTE else 0.01),
    "search": Profile(lambda m: 90.0, lambda m: 0.02, noise=0.5),
    "ledger": Profile(lambda m: 0.3, lambda m: 0.05, warn=0.05),
    "catalog": Profile(lambda m: 20.0 + 40.0 * m / MINUTES, lambda m: 0.01),
    "auth": Profile(lambda m: 30.0, lambda m: 0.01),
    "gateway": Profile(lambda m: 80.0, lambda m: 0.005, warn=0.01),
}


def fleet(seed: int = 15) -> list[Line]:
    """Every line of the three hours, oldest first."""
    rng = np.random.default_rng(seed)
    lines: list[Line] = []
    for minute in range(MINUTES):
        for service in SERVICES:
            lines += _minute(rng, service, minute)
    lines.sort(key=lambda x: x.ts)
    return lines


def _minute(rng: np.random.Generator, service: str, minute: int) -> list[Line]:
    p = PROFILES[service]
    mean = p.rate(minute)
    if p.noise:
        mean *= rng.gamma(1 / p.noise**2, p.noise**2)
    out = []
    base = START + timedelta(minutes=minute)
    for _ in range(rng.poisson(mean)):
        u = rng.random()
        error = p.error(minute)
        level = Level.ERROR if u < error else Level.WARN if u < error + p.warn else Level.INFO
        k = int(rng.integers(len(TEMPLATES[level])))
        message = TEMPLATES[level][k].format(
            method=("GET", "POST")[int(rng.integers(2))], service=service,
            n=int(rng.integers(1, 10_000)), ms=int(rng.integers(5, 3000)),
            table=("orders", "users")[int(rng.integers(2))], k=int(rng.integers(1, 4)))
        ts = base + timedelta(microseconds=int(rng.integers(0, 60_000_000)))
        callee = ("checkout", "catalog", "search")[k] if service == "gateway" else None
        out.append(Line(ts, service, level, message, f"{rng.integers(2**63):016x}",
                        ERROR_TYPES[k] if level is Level.ERROR else None, callee))
    return out


def error_share(lines: Sequence[Line], service: str, start: datetime,
                end: datetime) -> float:
    mine = [x for x in lines if x.service == service and start <= x.ts < end]
    return sum(x.level is Level.ERROR for x in mine) / max(1, len(mine))
