"""The simulated fleet: realistic signals, named incident scenarios and a control API.

    sim = simulate("bad_deploy", hours=3, seed=1)
    for record in sim.records(): ...      # NDJSON wire dicts, in time order
    sim.truth.to_dict()                   # what really happened

Public face: `simulate`, `Simulation`, `SCENARIOS`, `Fleet`, `FleetError`, `GeneratorConfig`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import orjson

from oasis.signals.model import utc_iso
from oasis.simulate.fleet import Fleet, FleetError, ServiceSpec
from oasis.simulate.fleets import FLEETS
from oasis.simulate.generator import Generator, GeneratorConfig, floor_minute
from oasis.simulate.scenarios import SCENARIOS, Plan, ScenarioTruth, build_plan

__all__ = ["FLEETS", "SCENARIOS", "Fleet", "FleetError", "GeneratorConfig", "ScenarioTruth",
           "ServiceSpec", "Simulation", "simulate"]

MAX_HOURS = 24 * 31


@dataclass
class Simulation:
    """A fleet, a scenario built on it, and the generator that turns both into signals."""

    fleet: Fleet
    plan: Plan
    generator: Generator

    @property
    def truth(self) -> ScenarioTruth:
        return self.plan.truth

    def records(self, start: datetime | None = None,
                end: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Records from `start` to `end` (default: the whole simulated window)."""
        return self.generator.run(start or self.truth.start, end or self.truth.end)

    def write(self, out: IO[bytes], start: datetime | None = None,
              end: datetime | None = None) -> int:
        """Write NDJSON; returns the number of records written."""
        n = 0
        t = start or self.truth.start
        end = end or self.truth.end
        dumps = orjson.dumps
        while t < end:
            lines = [dumps(r) for r in self.generator.minute(t)]
            if lines:
                out.write(b"\n".join(lines) + b"\n")
            n += len(lines)
            t += timedelta(minutes=1)
        return n


def simulate(scenario: str = "bad_deploy", *, hours: float = 3.0, seed: int = 1,
             start: datetime | None = None, onset: datetime | float | None = None,
             service: str | None = None, config: GeneratorConfig | None = None,
             specs: tuple[ServiceSpec, ...] | None = None,
             background_deploys: bool = True, fleet: str = "shop") -> Simulation:
    """Build a simulation. Raises ValueError with a readable reason for bad arguments.

    `start` defaults to the current hour minus `hours`, so the data ends about now.
    `onset` is a time or minutes after `start`; it defaults to two thirds of the way in,
    which leaves two hours of history before the onset of a three-hour run.
    """
    if not 0 < hours <= MAX_HOURS:
        raise ValueError(f"hours must be between 0 and {MAX_HOURS}, got {hours}")
    if start is None:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(hours=hours)
    if start.tzinfo is None:
        raise ValueError("start must carry a timezone (e.g. 2026-11-23T00:00:00Z)")
    start = floor_minute(start)
    end = start + timedelta(hours=hours)
    if onset is None:
        onset = start + timedelta(minutes=int(hours * 60 * 2 / 3))
    elif isinstance(onset, int | float):
        onset = start + timedelta(minutes=onset)
    if onset.tzinfo is None:
        raise ValueError("onset must carry a timezone")
    onset = floor_minute(onset)
    if not start <= onset < end:
        raise ValueError(f"onset {utc_iso(onset)} is outside the simulated window "
                         f"{utc_iso(start)} .. {utc_iso(end)}")
    if fleet not in FLEETS:
        raise ValueError(f"unknown fleet {fleet!r}; choose from {', '.join(FLEETS)}")
    profile = FLEETS[fleet]
    the_fleet = Fleet(specs or profile.specs)
    plan = build_plan(scenario, the_fleet, start=start, end=end, onset=onset,
                      service=service or profile.targets.get(scenario), seed=seed,
                      background_deploys=background_deploys)
    generator = Generator(the_fleet, plan, seed, config or profile.config)
    the_fleet.clock = lambda: generator.now
    return Simulation(the_fleet, plan, generator)
