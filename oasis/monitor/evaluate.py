"""Score detection against the simulator's truth over a suite of scenarios and seeds.

For each run: simulate, replay, then match incidents to the truth. An incident scenario is
detected when an incident opened at or after the onset shares a service with the truth's
affected services. False alarms are incidents in healthy controls, incidents opened before
the onset, and extra incidents for one scenario (duplicates).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oasis.detect.settings import DetectSettings
from oasis.monitor.replay import replay
from oasis.simulate import SCENARIOS, simulate

DEFAULT_START = datetime.fromisoformat("2026-11-02T06:00:00+00:00")
INDEPENDENT = "independent"  # oasis.independent_sim: shares no code with oasis.simulate


@dataclass
class RunScore:
    scenario: str
    seed: int
    incident_expected: bool
    detected: bool = False
    delay_minutes: float | None = None
    root_cause_right: bool | None = None
    change_right: bool | None = None
    false_alarms: int = 0
    before_onset: int = 0
    duplicates: int = 0
    root_cause_service: str | None = None
    truth_root: str | None = None
    titles: list[str] = field(default_factory=list)
    replay_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Truth:
    """What a generator says really happened, whichever generator it was."""

    incident: bool
    onset: datetime
    root_cause_service: str | None
    affected_services: list[str]
    suspected_change: dict[str, Any] | None


def scenarios_of(fleet: str) -> list[str]:
    """The scenarios a fleet's generator knows."""
    if fleet == INDEPENDENT:
        from oasis.independent_sim import SCENARIOS as independent

        return [name for name in independent if name != "soak"]
    return list(SCENARIOS)


def fleets() -> list[str]:
    from oasis.simulate import FLEETS

    return [*FLEETS, INDEPENDENT]


def generate(scenario: str, seed: int, hours: float, start: datetime,
             fleet: str) -> tuple[list[dict[str, Any]], Truth]:
    """Records and truth of one run, from the simulator or the independent generator."""
    if fleet == INDEPENDENT:
        from oasis.independent_sim import generate as independent

        run = independent(scenario, seed=seed, hours=hours, start=start)
        t = run.truth
        return list(run.records()), Truth(t["incident"], t["onset"], t["root_cause_service"],
                                          list(t["affected_services"]), t["suspected_change"])
    sim = simulate(scenario, hours=hours, seed=seed, start=start, fleet=fleet)
    t = sim.truth
    return list(sim.records()), Truth(t.incident, t.onset, t.root_cause_service,
                                      list(t.affected_services), t.suspected_change)


def score_run(scenario: str, seed: int, hours: float = 3.0,
              settings: DetectSettings | None = None, fleet: str = "shop") -> RunScore:
    import time

    start = DEFAULT_START + timedelta(hours=seed * 7)  # different times of day and weekdays
    records, truth = generate(scenario, seed, hours, start, fleet)
    t0 = time.perf_counter()
    result = replay(records, settings)
    score = RunScore(scenario, seed, truth.incident, truth_root=truth.root_cause_service,
                     replay_seconds=time.perf_counter() - t0)
    score.titles = [i.title for i in result.incidents]
    if not truth.incident:
        score.false_alarms = len(result.incidents)
        return score
    after = [i for i in result.incidents if i.detected_at >= truth.onset]
    score.before_onset = len(result.incidents) - len(after)
    matching = [i for i in after if set(i.services) & set(truth.affected_services)]
    score.duplicates = max(0, len(after) - 1)
    score.false_alarms = score.before_onset + score.duplicates
    if not matching:
        return score
    first = matching[0]
    score.detected = True
    score.delay_minutes = (first.detected_at - truth.onset).total_seconds() / 60
    score.root_cause_service = first.root_cause_service
    score.root_cause_right = first.root_cause_service == truth.root_cause_service
    want, got = truth.suspected_change, first.suspected_change
    score.change_right = (got is None if want is None else
                          got is not None and (got["service"], got["version"])
                          == (want["service"], want["version"]))
    return score


def run_suite(scenarios: list[str] | None = None, seeds: int = 5, hours: float = 3.0,
              workers: int = 2, settings: DetectSettings | None = None,
              fleet: str = "shop",
              on_run: Callable[[int, int, RunScore], None] | None = None) -> dict[str, Any]:
    """Score every scenario over `seeds` seeds; `on_run(done, total, run)` after each run."""
    names = scenarios or scenarios_of(fleet)
    jobs = [(name, seed) for seed in range(1, seeds + 1) for name in names]
    runs: list[RunScore] = []

    def finished(run: RunScore) -> None:
        runs.append(run)
        if on_run is not None:
            on_run(len(runs), len(jobs), run)

    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for run in pool.map(_score_job, [(n, s, hours, settings, fleet) for n, s in jobs]):
                finished(run)
    else:
        for n, s in jobs:
            finished(score_run(n, s, hours, settings, fleet))
    return {"fleet": fleet, **summarise(runs, seeds, hours)}


def _score_job(args: tuple) -> RunScore:
    return score_run(*args)


def summarise(runs: list[RunScore], seeds: int, hours: float) -> dict[str, Any]:
    incident_runs = [r for r in runs if r.incident_expected]
    controls = [r for r in runs if not r.incident_expected]
    detected = [r for r in incident_runs if r.detected]
    delays = [r.delay_minutes for r in detected if r.delay_minutes is not None]
    changes = [r for r in detected if r.change_right is not None]
    per_scenario = {}
    for name in dict.fromkeys(r.scenario for r in runs):
        mine = [r for r in runs if r.scenario == name]
        found = [r for r in mine if r.detected]
        per_scenario[name] = {
            "runs": len(mine),
            "detected": len(found),
            "false_alarms": sum(r.false_alarms for r in mine),
            "root_cause_right": sum(bool(r.root_cause_right) for r in found),
            "change_right": sum(bool(r.change_right) for r in found),
            "median_delay_minutes": statistics.median([r.delay_minutes for r in found])
            if found else None,
        }
    return {
        "seeds": seeds, "hours": hours, "runs": len(runs),
        "recall": len(detected) / len(incident_runs) if incident_runs else None,
        "false_alarms": {
            "in_healthy_controls": sum(r.false_alarms for r in controls),
            "before_onset": sum(r.before_onset for r in incident_runs),
            "duplicates": sum(r.duplicates for r in incident_runs),
        },
        "root_cause_top1": (sum(bool(r.root_cause_right) for r in detected) / len(detected)
                            if detected else None),
        "suspected_change_accuracy": (sum(bool(r.change_right) for r in changes) / len(changes)
                                      if changes else None),
        "median_delay_minutes": statistics.median(delays) if delays else None,
        "worst_delay_minutes": max(delays) if delays else None,
        "median_replay_seconds": statistics.median(r.replay_seconds for r in runs),
        "per_scenario": per_scenario,
        "runs_detail": [asdict(r) for r in runs],
    }


SOAK_SCENARIO = {INDEPENDENT: "soak"}  # the simulator's fleets soak on "none"


def run_soak(fleet: str = INDEPENDENT, days: float = 3.0, seed: int = 1,
             settings: DetectSettings | None = None) -> dict[str, Any]:
    """Days of healthy traffic (daily seasonality, background deploys) replayed: every
    incident is a false alarm; the rate is per service and day."""
    import time

    scenario = SOAK_SCENARIO.get(fleet, "none")
    records, truth = generate(scenario, seed, days * 24, DEFAULT_START, fleet)
    if truth.incident:
        raise ValueError(f"soak scenario {scenario!r} of fleet {fleet} is not healthy")
    services = {r["service"] for r in records}
    deploys = sum(1 for r in records if r["type"] == "deployment")
    t0 = time.perf_counter()
    result = replay(records, settings)
    elapsed = time.perf_counter() - t0
    service_days = len(services) * days
    return {
        "fleet": fleet, "scenario": scenario, "seed": seed, "days": days,
        "records": len(records), "services": len(services), "deployments": deploys,
        "false_alarms": len(result.incidents),
        "false_alarms_per_service_day": len(result.incidents) / service_days,
        "replay_seconds": round(elapsed, 1),
        "incidents": [{"detected_at": i.detected_at.isoformat(), "title": i.title,
                       "root_cause_service": i.root_cause_service}
                      for i in result.incidents],
    }
