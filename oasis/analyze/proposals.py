"""What the deterministic analyst proposes to do about an incident.

The rules are an on-call engineer's first moves, read off the evidence, never off service
names: a bad release is rolled back; a saturated service (latency and CPU up together,
whether or not it also fails requests) gets more replicas; a service failing with no
recent change and not saturated (exhausted pools, leaks) is restarted. Only actions some
executor can run for that service are proposed; when none can, people are told and nothing
is proposed to run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from oasis.incidents.model import Incident
from oasis.remediate.catalog import DEFAULT_RISK, ActionKind, ActionSpec, Risk

LATENCY_WORDS = ("latency", "duration", "response_time", "p99", "p95")
SATURATION_WORDS = ("cpu", "utilization", "utilisation", "saturation", "load")
MEMORY_WORDS = ("memory", "mem_", "heap", "rss")
ERROR_DETECTORS = ("error_rate", "error_type", "log_template")
MAX_REPLICAS = 100

ReplicaCounter = Callable[[str], int | None]
Catalog = Callable[[str | None], Collection[ActionKind]]


def _lead(change: dict[str, Any]) -> str:
    minutes = change.get("minutes_before_onset")
    if not isinstance(minutes, int | float):
        return "shortly before the symptoms began"
    if minutes < 1:
        return "in the minute the symptoms began"
    return f"{minutes:g} min before the symptoms began"


def _metric_anomalies(incident: Incident, service: str) -> list[dict[str, Any]]:
    return [e for e in incident.evidence if e.get("service") == service
            and str(e.get("detector", "")).startswith("metric")]


def _mentions(evidence: list[dict[str, Any]], words: tuple[str, ...]) -> bool:
    return any(any(w in str(e.get("metric", e.get("signal", ""))).lower() for w in words)
               for e in evidence)


def _errors_of(incident: Incident, service: str) -> bool:
    return any(e.get("service") == service and e.get("detector") in ERROR_DETECTORS
               and e.get("role", "symptom") == "symptom" for e in incident.evidence)


def propose(incident: Incident, catalog: Catalog, replicas: ReplicaCounter,
            new_id: Callable[[], str]) -> list[ActionSpec]:
    """Actions for `incident`, best first; a `notify_only` when nothing else applies."""
    service = incident.root_cause_service
    change = incident.suspected_change
    proposals: list[tuple[ActionKind, dict[str, Any], Risk, str]] = []
    if change and change.get("previous_version"):
        proposals.append((
            ActionKind.ROLLBACK,
            {"service": change["service"], "to_version": change["previous_version"]},
            DEFAULT_RISK[ActionKind.ROLLBACK],
            f"{change['service']} {change['version']} went out {_lead(change)}; "
            f"rolling back to {change['previous_version']} removes the suspected change"))
    if service:
        metrics = _metric_anomalies(incident, service)
        saturated = _mentions(metrics, LATENCY_WORDS) and _mentions(metrics, SATURATION_WORDS)
        leaking = any(e.get("detector") == "metric_trend" for e in metrics) and _mentions(
            metrics, MEMORY_WORDS)
        if saturated:
            current = replicas(service)
            if current:
                target = min(MAX_REPLICAS, max(current + 1, current * 2))
                proposals.append((
                    ActionKind.SCALE, {"service": service, "replicas": target},
                    DEFAULT_RISK[ActionKind.SCALE],
                    f"{service} is saturated (latency and CPU up together); "
                    f"doubling from {current} to {target} replicas adds headroom"))
        if not change and not saturated and (_errors_of(incident, service) or leaking):
            why = ("memory is climbing steadily; a restart frees it while the leak is found"
                   if leaking else "no recent change explains the errors; a restart gives "
                   "the service fresh connection pools and caches")
            proposals.append((ActionKind.RESTART, {"service": service},
                              DEFAULT_RISK[ActionKind.RESTART], f"{service}: {why}"))
    out = []
    for kind, params, risk, reason in proposals:
        if kind in catalog(params.get("service")):
            out.append(ActionSpec(id=new_id(), incident_id=incident.id, kind=kind,
                                  params=params, risk=risk, reason=reason))
    if not out:
        note = (f"proposed {', '.join(k.value for k, *_ in proposals)} but no executor is "
                "configured to run it here; a person has to act" if proposals else
                "no action in the catalog fits this evidence; a person has to look")
        out.append(ActionSpec(id=new_id(), incident_id=incident.id,
                              kind=ActionKind.NOTIFY_ONLY, params={"note": note},
                              risk=Risk.LOW, reason=note))
    return out
