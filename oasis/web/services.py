"""The services page: every service's health at a glance, and the learned call graph.

"Now" is the signals' own clock (the newest record stored), like detection's, so a
replayed or simulated fleet reads as current. A service's state is what a person on
call should look at first:

    red    it is the root cause of an open incident, or its error rate is at least 20 %
    amber  an open incident touches it, its error rate is at least 5 %, or it has sent
           nothing for 15 minutes
    green  none of that

Detection judges each service against its own baseline; these fixed thresholds only
catch what is plainly bad whether or not detection has spoken yet. The `error_rate`
metric is read as a percentage, as the wire format and the simulator send it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from oasis.auth import Principal
from oasis.incidents import Incident, Status
from oasis.signals import DeploymentRecord
from oasis.store import SignalStore
from oasis.web.callgraph import count_text, current_graph, learned_edges, render_graph_svg
from oasis.web.render import page, viewer

router = APIRouter(include_in_schema=False)
Who = Annotated[Principal, Depends(viewer)]

RECENT = timedelta(minutes=5)  # what "latest" error rate and latency are taken over
STALE = timedelta(minutes=15)
RED_ERROR_RATE, AMBER_ERROR_RATE = 20.0, 5.0  # percent
ERROR_METRIC = "error_rate"
LATENCY_METRICS = ("latency_p99_ms", "p99_latency_ms", "latency_p99")
OPEN = [s.value for s in Status if s is not Status.RESOLVED]
OPEN_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    name: str
    state: str  # green, amber or red
    reasons: list[str]
    error_rate: float | None  # percent, newest minute
    latency_p99: tuple[str, float] | None  # (metric name, value), newest minute
    error_lines: int  # ERROR and FATAL log lines in the last RECENT
    incidents: list[Incident]  # open ones touching it
    version: str | None
    last_deploy: DeploymentRecord | None
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class FleetHealth:
    now: datetime | None
    services: list[ServiceHealth] = field(default_factory=list)


def fleet_health(store: SignalStore, open_incidents: list[Incident]) -> FleetHealth:
    """Every service the store knows, with its newest figures and its state."""
    now = store.latest_timestamp()
    summaries = store.services()
    if now is None or not summaries:
        return FleetHealth(now)
    end = now + timedelta(seconds=1)  # windows are half-open; keep the newest record
    latest: dict[tuple[str, str], float] = {}
    for m in store.metric_stats(now - RECENT, end):  # oldest bucket first: newest wins
        latest[(m.service, m.name)] = m.mean
    errors: dict[str, int] = defaultdict(int)
    for c in store.log_counts(now - RECENT, end, bucket_seconds=int(RECENT.total_seconds()),
                              errors_only=True):
        errors[c.service] += c.count
    deploys: dict[str, DeploymentRecord] = {}
    for d in store.deployments(min(s.first_seen for s in summaries), end):
        deploys[d.service] = d  # oldest first: the last one stays
    touching: dict[str, list[Incident]] = defaultdict(list)
    for incident in open_incidents:
        named = set(incident.services)
        if incident.root_cause_service:
            named.add(incident.root_cause_service)
        for name in named:
            touching[name].append(incident)
    services = []
    for s in summaries:
        rate = latest.get((s.service, ERROR_METRIC))
        state, reasons = assess(s.service, rate, touching[s.service], now - s.last_seen)
        services.append(ServiceHealth(
            s.service, state, reasons, rate, _latency(latest, s.service),
            errors[s.service], touching[s.service], s.current_version,
            deploys.get(s.service), s.last_seen))
    return FleetHealth(now, services)


def assess(name: str, error_rate: float | None, incidents: list[Incident],
           silent_for: timedelta) -> tuple[str, list[str]]:
    """The state of one service and the reasons for it, worst first."""
    red, amber = [], []
    for i in incidents:
        if i.root_cause_service == name:
            red.append(f"root cause of {i.id} ({i.severity.value})")
        else:
            amber.append(f"affected by {i.id} ({i.severity.value})")
    if error_rate is not None and error_rate >= RED_ERROR_RATE:
        red.append(f"error rate {error_rate:.1f} % (red from {RED_ERROR_RATE:g} %)")
    elif error_rate is not None and error_rate >= AMBER_ERROR_RATE:
        amber.append(f"error rate {error_rate:.1f} % (amber from {AMBER_ERROR_RATE:g} %)")
    if silent_for >= STALE:
        amber.append(f"no signal for {int(silent_for.total_seconds() // 60)} min")
    return ("red" if red else "amber" if amber else "green"), red + amber


def _latency(latest: dict[tuple[str, str], float], service: str) -> tuple[str, float] | None:
    for name in LATENCY_METRICS:
        if (service, name) in latest:
            return name, latest[(service, name)]
    others = sorted(n for (s, n) in latest if s == service and "p99" in n)
    return (others[0], latest[(service, others[0])]) if others else None


@router.get("/services", response_class=HTMLResponse)
async def services_page(request: Request, who: Who) -> Response:
    state = request.app.state
    open_incidents = await run_in_threadpool(state.incidents.list, status=OPEN,
                                             limit=OPEN_LIMIT)
    fleet = await run_in_threadpool(fleet_health, state.store, open_incidents)
    names = [s.name for s in fleet.services]
    monitor = getattr(state, "monitor", None)
    graph, source = await run_in_threadpool(
        current_graph, monitor.graph if monitor is not None else None, state.store,
        fleet.now, names)
    edges = learned_edges(graph, names)
    svg = render_graph_svg(edges, {s.name: s.state for s in fleet.services}) if edges else None
    return page(request, "services.html", principal=who, fleet=fleet, edges=edges,
                graph_svg=svg, graph_source=source, count_text=count_text)
