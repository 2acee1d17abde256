"""Scenarios: what goes wrong (or looks like it), when, and the ground truth."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .fleet import DB_NAME, Service, blast_radius, callers_of
from .formats import first_version, next_version

SCENARIOS: dict[str, str] = {
    "bad_release": "a mid-tier deploy 1-5 min before onset raises its errors and latency",
    "silent_db_outage": "the logless PostgreSQL exhausts its pool; only callers' timeouts show it",
    "expired_certificate": "fx-rates' TLS certificate expires: handshake failures from onset",
    "feature_flag_flip": "a flag flip breaks a service; an unrelated deploy happened just before",
    "bad_host": "one host of a service fails most of its requests",
    "slow_leak": "memory of one service climbs to ~3x after onset, then OOM errors",
    "low_traffic_outage": "a low-traffic service (2-5 req/min) fails every request from onset",
    "latency_regression": "a deploy 2 min before onset makes a service's latency x4",
    "healthy": "normal traffic and background deploys",
    "low_traffic_noise": "low-traffic services with sparse single failures throughout",
    "load_test": "edge traffic x3 for 30 min from onset, same error ratio, latency +10%",
    "promotion_ends": "payments authorised step down 40% (promotion over), traffic too",
    "collector_restart": "all metrics missing 4-8 min, then a burst and counter resets",
    "late_records": "10% of records arrive minutes late; some stamped with +02:00",
    "healthy_canary": "a healthy canary deploy of a service to one host at onset",
    "noisy_neighbour": "an always-noisy service plus a single-minute latency spike at onset",
    "soak": "healthy, meant for 72 h: daily seasonality and 6-10 deploys a day",
}

INCIDENTS = frozenset({"bad_release", "silent_db_outage", "expired_certificate",
                       "feature_flag_flip", "bad_host", "slow_leak", "low_traffic_outage",
                       "latency_regression"})


@dataclass
class Fault:
    """A change to one service's behaviour over minutes [start, end)."""

    service: str
    start: int
    end: int
    err: float = 0.0          # extra own failure probability
    kind: str = "internal"    # error kind (formats.ERRORS)
    ramp: bool = False        # err grows linearly from 0 over the window
    host: str | None = None   # failures only on this host
    lat: float = 1.0          # own latency multiplier
    traffic: float = 1.0      # multiplier of the requests the service receives
    mem: float = 1.0          # memory multiplier reached at `end` (linear from 1)
    noisy: bool = False       # error rate and latency wander all the time


@dataclass
class Plan:
    scenario: str
    minutes: int
    onset: int
    versions: dict[str, str]
    faults: list[Fault] = field(default_factory=list)
    deploys: list[dict] = field(default_factory=list)   # minute, ms, service, version, ...
    logs: list[dict] = field(default_factory=list)      # minute, service, level, text, fields
    metric_gap: tuple[int, int] | None = None
    late: bool = False
    truth: dict = field(default_factory=dict)


_AUTHORS = ("ci-bot", "argo", "m.okafor", "j.lindqvist", "release-train", "s.tanaka")
_CHANGES = ("bump deps", "tune retry budget", "refactor handlers", "add tracing spans",
            "fix typo in receipts", "new dashboard widget", "config: raise pool size",
            "rotate signing key", "improve eta model")


def build_plan(scenario: str, seed: int, minutes: int, fleet: dict[str, Service]) -> Plan:
    rng = random.Random(f"plan:{scenario}:{seed}")
    onset = round(minutes * 2 / 3)
    versions = {n: first_version(s.version_style, rng) for n, s in fleet.items()}
    plan = Plan(scenario, minutes, onset, versions)
    truth = {"scenario": scenario, "incident": scenario in INCIDENTS, "onset": onset,
             "root_cause_service": None, "affected_services": [], "suspected_change": None,
             "description": SCENARIOS[scenario]}
    plan.truth = truth
    end = minutes
    deployable = [n for n in fleet if n != DB_NAME]

    def deploy(minute: int, service: str, **extra) -> dict:
        d = {"minute": minute, "ms": rng.randint(0, 59_999), "service": service,
             "author": rng.choice(_AUTHORS), "description": rng.choice(_CHANGES), **extra}
        plan.deploys.append(d)
        return d

    def root(service: str, affected: list[str] | None = None) -> None:
        truth["root_cause_service"] = service
        truth["affected_services"] = affected or blast_radius(fleet, service)

    s = scenario
    if s == "bad_release":
        svc = rng.choice(["card-auth", "ledger", "payout-api", "merchant-portal",
                          "shipment-tracker", "risk-score"])
        d = deploy(onset - rng.randint(1, 5), svc, description="release with new fee rounding")
        d["suspect"] = True
        plan.faults.append(Fault(svc, onset, end, err=rng.uniform(0.25, 0.4), kind="release",
                                 lat=1.8))
        root(svc)
        truth["description"] = f"deploy of {svc} breaks fee rounding: errors and latency up"
    elif s == "silent_db_outage":
        plan.faults.append(Fault(DB_NAME, onset, end, err=rng.uniform(0.45, 0.7),
                                 kind="pool_timeout", lat=8.0))
        root(DB_NAME, sorted([DB_NAME, *callers_of(fleet, DB_NAME)]))
        truth["description"] = "pg-main connection pool exhausted; callers time out"
    elif s == "expired_certificate":
        plan.faults.append(Fault("fx-rates", onset, end, err=0.97, kind="tls_server"))
        root("fx-rates")
        truth["description"] = "fx-rates serving certificate expired: TLS handshakes fail"
    elif s == "feature_flag_flip":
        svc = rng.choice(["card-auth", "risk-score", "merchant-portal", "payout-api"])
        other = rng.choice([n for n in deployable if n != svc])
        deploy(onset - rng.randint(3, 10), other)
        flag = {"card-auth": "auth_3ds_v2", "risk-score": "risk_model_v7",
                "merchant-portal": "new_reports_engine", "payout-api": "instant_payouts"}[svc]
        plan.logs.append({"minute": onset, "service": svc, "level": "info",
                          "text": f"feature flag {flag} enabled",
                          "fields": {"flag": flag, "actor": "flagd"}})
        plan.faults.append(Fault(svc, onset, end, err=rng.uniform(0.3, 0.5), kind="flag"))
        root(svc)
        truth["description"] = f"flag {flag} flipped on {svc}; deploy of {other} is a red herring"
    elif s == "bad_host":
        svc = rng.choice(["edge-proxy", "card-auth", "ledger", "risk-score"])
        host = rng.choice(fleet[svc].hosts)
        plan.faults.append(Fault(svc, onset, end, err=rng.uniform(0.75, 0.9), kind="host",
                                 host=host))
        root(svc)
        truth["description"] = f"host {host} of {svc} fails most requests (disk I/O)"
    elif s == "slow_leak":
        svc = rng.choice(["ledger", "risk-score", "merchant-portal", "settlement-worker",
                          "card-auth"])
        plan.faults.append(Fault(svc, onset, end, mem=3.0))
        oom_from = end - max(3, (end - onset) // 8)
        plan.faults.append(Fault(svc, oom_from, end, err=0.5, kind="oom", ramp=True, lat=1.5))
        root(svc)
        truth["description"] = f"{svc} leaks memory from onset; OOM errors near the end"
    elif s == "low_traffic_outage":
        svc = rng.choice(["label-printer", "sanctions-screen"])
        kind = "spool" if svc == "label-printer" else "internal"
        plan.faults.append(Fault(svc, onset, end, err=1.0, kind=kind))
        root(svc)
        truth["description"] = f"low-traffic {svc} fails every request from onset"
    elif s == "latency_regression":
        svc = rng.choice(["payout-api", "shipment-tracker"])
        d = deploy(onset - 2, svc, description="switch serializer")
        d["suspect"] = True
        plan.faults.append(Fault(svc, onset, end, lat=4.0))
        root(svc, [svc])
        truth["description"] = f"deploy of {svc} makes p99 latency (seconds) x4"
    elif s == "low_traffic_noise":
        for svc in ("label-printer", "refund-desk", "sanctions-screen"):
            plan.faults.append(Fault(svc, 0, end, err=0.06, kind="sparse"))
    elif s == "load_test":
        plan.faults.append(Fault("edge-proxy", onset, min(end, onset + 30), traffic=3.0, lat=1.1))
        for e in fleet["edge-proxy"].calls:
            plan.faults.append(Fault(e.callee, onset, min(end, onset + 30), lat=1.1))
    elif s == "promotion_ends":
        share = 0.5 * 0.4          # card-auth's part of edge traffic times the drop
        plan.faults.append(Fault("edge-proxy", onset, end, traffic=1 - share))
        plan.faults.append(Fault("card-auth", onset, end, traffic=0.6 / (1 - share)))
        truth["description"] = "card-auth payments_authorized_per_min -40% (promotion over)"
    elif s == "collector_restart":
        plan.metric_gap = (onset, min(end, onset + rng.randint(4, 8)))
    elif s == "late_records":
        plan.late = True
    elif s == "healthy_canary":
        svc = rng.choice([n for n in deployable if len(fleet[n].hosts) >= 2])
        host = rng.choice(fleet[svc].hosts)
        d = deploy(onset, svc, attributes={"canary": True, "host": host},
                   description="canary: new connection pooling")
        d["canary"] = True
        truth["description"] = f"healthy canary of {svc} on host {host}"
    elif s == "noisy_neighbour":
        noisy = rng.choice(["feature-store", "token-vault", "fx-rates"])
        plan.faults.append(Fault(noisy, 0, end, noisy=True))
        spike = rng.choice(["ledger", "card-auth", "risk-score", "payout-api"])
        plan.faults.append(Fault(spike, onset, onset + 1, lat=6.0))
        truth["description"] = f"{noisy} is always noisy; one-minute latency spike on {spike}"

    _background_deploys(plan, rng, deployable, deploy, soak=(s == "soak"))
    _assign_versions(plan, fleet, rng)
    for d in plan.deploys:
        if d.pop("suspect", False):
            truth["suspected_change"] = {"service": d["service"], "version": d["version"]}
    return plan


def _background_deploys(plan: Plan, rng: random.Random, deployable: list[str], deploy,
                        soak: bool) -> None:
    """6-10 healthy deploys per simulated day, kept clear of the onset window."""
    quiet = range(plan.onset - 20, plan.onset + 15)
    days = plan.minutes / 1440
    if soak:
        counts = [rng.randint(6, 10) for _ in range(max(1, round(days)))]
        total = sum(counts)
    else:
        expected = days * rng.uniform(6, 10)
        total = int(expected) + (rng.random() < expected - int(expected))
    placed = 0
    while placed < total:
        minute = rng.randrange(5, plan.minutes - 1)
        if minute in quiet:
            continue
        deploy(minute, rng.choice(deployable))
        placed += 1


def _assign_versions(plan: Plan, fleet: dict[str, Service], rng: random.Random) -> None:
    plan.deploys.sort(key=lambda d: (d["minute"], d["ms"]))
    current = dict(plan.versions)
    for d in plan.deploys:
        svc = d["service"]
        d["previous_version"] = current[svc]
        d["version"] = next_version(fleet[svc].version_style, current[svc], rng)
        if not d.get("canary"):
            current[svc] = d["version"]
