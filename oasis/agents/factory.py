"""Which analyst runs: the model-backed one when `model.provider` is set, else the
deterministic one. The service and the evals build theirs here, the same way. Each takes the
`model` settings section, not the whole `oasis.config.Settings` (which sits above every
package: see docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from oasis.agents.settings import ModelSettings
from oasis.analyze.analyst import DeterministicAnalyst
from oasis.analyze.investigation import Analyst, Catalog
from oasis.analyze.proposals import ReplicaCounter
from oasis.detect.graph import CallGraph
from oasis.incidents import Incident, IncidentStore
from oasis.remediate.catalog import ActionKind
from oasis.store.base import SignalStore

REPLICA_SAMPLE_MINUTES = 10


def replica_counter(signals: SignalStore | None) -> ReplicaCounter:
    """Replicas of a service now, estimated from the distinct hosts logging in the last
    minutes (pods, instances): what a scale proposal starts from."""
    def count(service: str) -> int | None:
        if signals is None:
            return None
        end = signals.latest_timestamp() or datetime.now(UTC)
        lines = signals.sample_logs(end - timedelta(minutes=REPLICA_SAMPLE_MINUTES), end,
                                    service=service, limit=5000)
        return len({line.host for line in lines if line.host}) or None
    return count


def make_analyst(model: ModelSettings, catalog_for: Catalog, signals: SignalStore | None,
                 incidents: IncidentStore | None,
                 graph: Callable[[], CallGraph | None] = lambda: None) -> Analyst:
    deterministic = DeterministicAnalyst(catalog_for, replica_counter(signals))
    if model.provider == "none" or signals is None or incidents is None:
        return deterministic
    from oasis.agents.investigator import ModelAnalyst
    from oasis.agents.tools import ToolContext

    def context_for(incident: Incident, redactor) -> ToolContext:
        known = {s.service for s in signals.services()} | set(incident.services)
        return ToolContext(signals=signals, incidents=incidents, graph=graph(),
                           redactor=redactor, now=incident.last_seen_at,
                           known_services=known, evidence=list(incident.evidence),
                           incident_id=incident.id)

    return ModelAnalyst(model, deterministic, context_for, catalog_for, redact=model.redact)


def eval_analyst(model: ModelSettings):
    """For `oasis eval agents`: an analyst per replay, every catalog kind runnable."""
    def for_monitor(monitor) -> Analyst:
        return make_analyst(model, lambda _s: set(ActionKind), monitor.signals,
                            monitor.tracker.store, lambda: monitor.graph)
    return for_monitor


def specialist_model(model: ModelSettings) -> Callable[[], object] | None:
    """A lazily built model for the specialist agent, or None: run executors directly."""
    if model.provider == "none" or not model.specialist:
        return None
    built: list[object] = []

    def get() -> object:
        from oasis.agents.providers import build_model

        if not built:
            built.append(build_model(model))
        return built[0]
    return get
