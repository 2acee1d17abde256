"""An independent evaluation fleet generator, sharing no code with the main simulator.

It models a fictional payments/logistics company with its own topology,
service names, log formats, level spellings, metric names and units, and
noise shapes, so detectors can be measured on a fleet they were not tuned
beside. Standard library only; it imports nothing from `oasis`.

    from oasis.independent_sim import SCENARIOS, generate
    run = generate("silent_db_outage", seed=7, hours=3, start=datetime(..., tzinfo=UTC))
    for record in run.records(): ...   # OASIS wire dicts
    run.truth                          # what really happened
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from .engine import Engine
from .fleet import build_fleet
from .formats import Clock, iso_offset
from .scenarios import SCENARIOS, build_plan

__all__ = ["SCENARIOS", "Run", "generate"]

MIN_HOURS = 0.5
MAX_HOURS = 24 * 14


class Run:
    """One generated run: `records()` (lazy, repeatable) and `truth`."""

    def __init__(self, scenario: str, seed: int, hours: float, start: datetime) -> None:
        self.scenario, self.seed, self.hours = scenario, seed, hours
        self.start = start.astimezone(UTC)
        self.minutes = round(hours * 60)
        self.plan = build_plan(scenario, seed, self.minutes, build_fleet())
        truth = dict(self.plan.truth)
        truth["onset"] = self.start + timedelta(minutes=self.plan.onset)
        truth["affected_services"] = list(truth["affected_services"])
        self.truth: dict = truth

    def records(self) -> Iterator[dict]:
        """The run's wire records, minute by minute (the same on every call)."""
        rng = random.Random(f"records:{self.scenario}:{self.seed}")
        engine = Engine(build_fleet(), self.plan, Clock(self.start), rng)
        if not self.plan.late:
            for m in range(self.minutes):
                yield from engine.step(m)
            return
        late_rng = random.Random(f"late:{self.seed}")
        held: list[tuple[int, int, dict]] = []
        seq = 0
        for m in range(self.minutes):
            for rec in engine.step(m):
                r = late_rng.random()
                if r < 0.03:
                    rec["timestamp"] = iso_offset(rec["timestamp"], 2)
                if r > 0.9:
                    seq += 1
                    heapq.heappush(held, (m + late_rng.randint(1, 6), seq, rec))
                else:
                    yield rec
            while held and held[0][0] <= m:
                yield heapq.heappop(held)[2]
        while held:
            yield heapq.heappop(held)[2]


def generate(scenario: str, *, seed: int, hours: float = 3.0, start: datetime) -> Run:
    """A run of `scenario`; onset is at 2/3 of the run. Raises ValueError on bad arguments."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {sorted(SCENARIOS)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(hours, bool) or not isinstance(hours, int | float) \
            or not MIN_HOURS <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be a number in {MIN_HOURS}..{MAX_HOURS}, got {hours!r}")
    if not isinstance(start, datetime) or start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be a timezone-aware datetime")
    return Run(scenario, seed, float(hours), start)
