"""Named scenarios: the faults to inject, the changes to ship, and the truth to score against.

Incident scenarios: bad_deploy, memory_leak, dependency_failure, latency_degradation,
traffic_spike. Healthy controls, where a good detector stays quiet: healthy_deploy,
noisy_service, diurnal_ramp, and none.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from oasis.signals.model import utc_iso
from oasis.simulate.faults import (
    AutoscaledRamp,
    BadRelease,
    CapacityLoss,
    ChronicNoise,
    Fault,
    MemoryLeak,
    PoolExhaustion,
    TrafficSurge,
)
from oasis.simulate.fleet import ErrorKind, Fleet


@dataclass(frozen=True, slots=True)
class PlannedDeploy:
    """A deployment the generator ships at `at`."""

    at: datetime
    service: str
    version: str
    description: str


@dataclass(slots=True)
class ScenarioTruth:
    """What really happened, for scoring detection and root cause."""

    scenario: str
    incident: bool
    description: str
    start: datetime
    end: datetime
    onset: datetime
    root_cause_service: str | None = None
    affected_services: list[str] = field(default_factory=list)
    suspected_change: dict[str, str] | None = None
    remedies: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "incident": self.incident,
            "description": self.description, "seed": self.seed,
            "start": utc_iso(self.start), "end": utc_iso(self.end), "onset": utc_iso(self.onset),
            "root_cause_service": self.root_cause_service,
            "affected_services": self.affected_services,
            "suspected_change": self.suspected_change, "remedies": self.remedies,
        }


@dataclass(slots=True)
class Plan:
    """A built scenario: faults, deployments, and the truth."""

    faults: list[Fault]
    deploys: list[PlannedDeploy]
    truth: ScenarioTruth


def _bump(version: str, minor: bool = True) -> str:
    major, mid, patch = (int(x) for x in version.split("."))
    return f"{major}.{mid + 1}.0" if minor else f"{major}.{mid}.{patch + 1}"


def _affected(fleet: Fleet, service: str) -> list[str]:
    return [service, *sorted(fleet.callers_of(service))]


def _deploy_truth(service: str, version: str, previous: str) -> dict[str, str]:
    return {"service": service, "version": version, "previous_version": previous}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    incident: bool
    default_service: str | None
    summary: str
    build: Callable[[Fleet, str | None, datetime, Plan], None]


def _bad_deploy(fleet: Fleet, service: str | None, onset: datetime, plan: Plan) -> None:
    assert service
    old = fleet.specs[service].version
    new = _bump(old)
    plan.deploys.append(PlannedDeploy(onset, service, new, f"release {new}"))
    plan.faults.append(BadRelease(service, new, ErrorKind(
        "NullPointerException",
        "NullPointerException at PromotionHandler.apply(PromotionHandler.java:{n}): "
        "promotion for order {id} is null", 500)))
    plan.truth.root_cause_service = service
    plan.truth.affected_services = _affected(fleet, service)
    plan.truth.suspected_change = _deploy_truth(service, new, old)
    plan.truth.remedies = [{"action": "rollback", "service": service,
                            "params": {"to_version": old}}]


def _memory_leak(fleet: Fleet, service: str | None, onset: datetime, plan: Plan) -> None:
    assert service
    old = fleet.specs[service].version
    new = _bump(old)
    plan.deploys.append(PlannedDeploy(onset, service, new, f"release {new}: new cache layer"))
    plan.faults.append(MemoryLeak(service, new))
    plan.truth.root_cause_service = service
    plan.truth.affected_services = _affected(fleet, service)
    plan.truth.suspected_change = _deploy_truth(service, new, old)
    # A restart only frees memory for an hour; the leaking version has to go.
    plan.truth.remedies = [{"action": "rollback", "service": service,
                            "params": {"to_version": old}}]


def _dependency_failure(fleet: Fleet, service: str | None, onset: datetime, plan: Plan) -> None:
    assert service
    plan.faults.append(PoolExhaustion(service, onset, ErrorKind(
        "DatabaseConnectionError",
        "could not acquire connection from pool '" + service.split("-")[0] + "-db' within "
        "{n}ms (active=50, idle=0, waiting={id})", 503)))
    plan.truth.root_cause_service = service
    plan.truth.affected_services = _affected(fleet, service)
    plan.truth.remedies = [{"action": "restart", "service": service, "params": {}}]


def _latency_degradation(fleet: Fleet, service: str | None, onset: datetime,
                         plan: Plan) -> None:
    assert service
    plan.faults.append(CapacityLoss(service, onset))
    plan.truth.root_cause_service = service
    plan.truth.affected_services = _affected(fleet, service)
    replicas = fleet.specs[service].replicas
    plan.truth.remedies = [{"action": "scale", "service": service,
                            "params": {"replicas": replicas * 3}}]


def _traffic_spike(fleet: Fleet, service: str | None, onset: datetime, plan: Plan) -> None:
    assert service
    # The surge saturates `service` alone: it runs hot, the others have headroom to spare.
    for name, spec in list(fleet.specs.items()):
        util = 0.5 if name == service else min(spec.base_utilization, 0.25)
        fleet.specs[name] = replace(spec, base_utilization=util)
    plan.faults.append(TrafficSurge(onset))
    plan.truth.root_cause_service = service
    plan.truth.affected_services = _affected(fleet, service)
    plan.truth.remedies = [{"action": "scale", "service": service,
                            "params": {"replicas": fleet.specs[service].replicas * 2}}]


def _healthy_deploy(fleet: Fleet, service: str | None, onset: datetime, plan: Plan) -> None:
    assert service
    old = fleet.specs[service].version
    new = _bump(old, minor=False)
    plan.deploys.append(PlannedDeploy(onset, service, new, f"release {new}: dependency bumps"))


def _noisy_service(fleet: Fleet, service: str | None, onset: datetime, plan: Plan) -> None:
    assert service
    plan.faults.append(ChronicNoise(service))


def _diurnal_ramp(fleet: Fleet, service: str | None, onset: datetime, plan: Plan) -> None:
    plan.faults.append(AutoscaledRamp(onset))


def _none(fleet: Fleet, service: str | None, onset: datetime, plan: Plan) -> None:
    pass


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("bad_deploy", True, "checkout-service",
             "a release throws NullPointerExceptions; callers fail with it", _bad_deploy),
    Scenario("memory_leak", True, "inventory-service",
             "a release leaks memory: steady climb, GC pauses, OOM kills", _memory_leak),
    Scenario("dependency_failure", True, "inventory-service",
             "the service's database pool is exhausted; errors spread up the call graph",
             _dependency_failure),
    Scenario("latency_degradation", True, "catalog-service",
             "a slow query plan saturates the service; latency climbs for it and its callers",
             _latency_degradation),
    Scenario("traffic_spike", True, "checkout-service",
             "edge traffic multiplies; the service with least headroom saturates",
             _traffic_spike),
    Scenario("healthy_deploy", False, "api-gateway",
             "control: a routine release that changes nothing", _healthy_deploy),
    Scenario("noisy_service", False, "auth-service",
             "control: one service always logs many errors; normal for itself",
             _noisy_service),
    Scenario("diurnal_ramp", False, None,
             "control: traffic more than doubles over a morning ramp, autoscaled",
             _diurnal_ramp),
    Scenario("none", False, None, "control: nothing happens", _none),
)}


def build_plan(name: str, fleet: Fleet, *, start: datetime, end: datetime, onset: datetime,
               service: str | None, seed: int, background_deploys: bool = True) -> Plan:
    """Build scenario `name` on `fleet`; raises ValueError for an unknown name or service."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    scenario = SCENARIOS[name]
    service = service or scenario.default_service
    if service is not None and service not in fleet.specs:
        raise ValueError(f"unknown service {service!r}; known: {', '.join(fleet.specs)}")
    truth = ScenarioTruth(name, scenario.incident, scenario.summary, start, end, onset,
                          seed=seed)
    plan = Plan([], [], truth)
    scenario.build(fleet, service, onset, plan)
    if background_deploys:
        plan.deploys.extend(_background_deploys(fleet, start, end, onset, seed, exclude=service))
    plan.deploys.sort(key=lambda d: d.at)
    return plan


def _background_deploys(fleet: Fleet, start: datetime, end: datetime, onset: datetime,
                        seed: int, exclude: str | None) -> list[PlannedDeploy]:
    """Routine, harmless releases: about one every four hours, none near the onset.

    The scenario's own service is left alone so its truth (version, change) stays exact.
    """
    rng = random.Random(f"deploys-{seed}")
    versions = {n: s.version for n, s in fleet.specs.items() if n != exclude}
    out: list[PlannedDeploy] = []
    t = start + timedelta(minutes=rng.uniform(20, 240))
    while t < end:
        if abs((t - onset).total_seconds()) > 3600:
            name = rng.choice(sorted(versions))
            versions[name] = _bump(versions[name], minor=False)
            out.append(PlannedDeploy(t.replace(second=0, microsecond=0), name, versions[name],
                                     "routine release"))
        t += timedelta(minutes=rng.uniform(120, 360))
    return out
