"""Incidents: the database (SQLite and a real PostgreSQL), de-duplication, root cause,
recovery, and the CLI/API that show them."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from oasis.analyze.rootcause import rank_root_cause
from oasis.cli import app
from oasis.detect.anomaly import Anomaly
from oasis.detect.graph import CallGraph
from oasis.detect.settings import DetectSettings
from oasis.incidents import (
    ConflictError,
    Incident,
    IncidentStore,
    NotFoundError,
    Severity,
    Status,
    TimelineEvent,
)
from oasis.monitor.tracker import CheckContext, IncidentTracker
from oasis.signals.model import DeploymentRecord, Level, LogRecord
from tests.helpers import wait_until

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
runner = CliRunner()


def make_incident(n: int = 0, services=("checkout",)) -> Incident:
    at = T0 + timedelta(minutes=n)
    return Incident(id=f"inc-test-{n}", status=Status.INITIAL_DETECTION,
                    severity=Severity.HIGH, title=f"incident {n}", services=list(services),
                    root_cause_service=services[0], started_at=at, detected_at=at,
                    last_seen_at=at, evidence=[{"summary": "errors"}])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def incident_store(request, tmp_path) -> IncidentStore:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = IncidentStore(url)
    yield store
    store.close()


def test_incidents_round_trip_with_timeline_in_utc(incident_store: IncidentStore) -> None:
    created = incident_store.create(make_incident(), TimelineEvent(T0, "detected", "seen"))
    created.status = Status.ANALYSIS_COMPLETE
    incident_store.update(created, [TimelineEvent(T0 + timedelta(seconds=5), "analysis_complete",
                                                  "done", actor="analyst")])
    got = incident_store.get("inc-test-0")
    assert got.status is Status.ANALYSIS_COMPLETE and got.started_at == T0
    assert got.started_at.tzinfo is UTC
    assert [(e.kind, e.actor) for e in got.timeline] == [("detected", "oasis"),
                                                         ("analysis_complete", "analyst")]
    assert got.evidence == [{"summary": "errors"}]
    with pytest.raises(NotFoundError):
        incident_store.get("inc-nope")


def test_concurrent_writers_never_overwrite_each_other(incident_store: IncidentStore) -> None:
    incident_store.create(make_incident(), TimelineEvent(T0, "detected", "seen"))
    a, b = incident_store.get("inc-test-0"), incident_store.get("inc-test-0")
    a.title = "from writer a"
    incident_store.update(a)
    b.title = "from writer b"
    with pytest.raises(ConflictError):
        incident_store.update(b)
    assert incident_store.get("inc-test-0").title == "from writer a"


def test_two_processes_worth_of_threads_update_safely(incident_store: IncidentStore) -> None:
    incident_store.create(make_incident(), TimelineEvent(T0, "detected", "seen"))
    done: list[int] = []

    def worker(n: int) -> None:
        for _ in range(10):
            while True:
                inc = incident_store.get("inc-test-0")
                inc.evidence = [*inc.evidence, {"from": n}]
                try:
                    incident_store.update(inc, [TimelineEvent(T0, "note", f"w{n}")])
                    done.append(n)
                    break
                except ConflictError:
                    continue

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = incident_store.get("inc-test-0")
    assert len(final.evidence) == 41 and len(final.timeline) == 41


def test_list_filters(incident_store: IncidentStore) -> None:
    for n, services in enumerate([("checkout",), ("auth", "gateway"), ("gateway",)]):
        incident_store.create(make_incident(n, services), TimelineEvent(T0, "detected", "x"))
    recovered = incident_store.get("inc-test-2")
    recovered.recovered_at = T0 + timedelta(hours=1)
    incident_store.update(recovered)
    assert [i.id for i in incident_store.list()] == ["inc-test-2", "inc-test-1", "inc-test-0"]
    assert [i.id for i in incident_store.list(service="gateway", active=True)] == ["inc-test-1"]
    assert incident_store.list(status=["resolved"]) == []


# -- root cause ---------------------------------------------------------------------------

def anomaly(service: str, detector: str = "error_rate", minute: int = 0,
            strength: float = 0.8) -> Anomaly:
    return Anomaly(service, detector, f"{detector}:{service}", T0 + timedelta(minutes=minute),
                   100, 5, strength, f"{service} {detector}")


def chain_graph() -> CallGraph:
    """frontend -> api -> db, learned from traces where the callee logs first."""
    graph = CallGraph()
    logs = []
    for n in range(20):
        at = T0 + timedelta(seconds=n)
        for offset, service in enumerate(["db", "api", "frontend"]):
            logs.append(LogRecord(at + timedelta(milliseconds=10 * offset), service,
                                  Level.INFO, "ok", trace_id=f"t{n}"))
    graph.learn(logs, ["frontend", "api", "db"])
    return graph


def test_call_graph_learns_direction_from_traces() -> None:
    graph = chain_graph()
    assert graph.edges(["frontend", "api", "db"]) == [
        ("api", "db"), ("frontend", "api"), ("frontend", "db")]


def test_root_cause_is_the_dependency_not_the_loudest_caller() -> None:
    graph = chain_graph()
    found = [anomaly("frontend", strength=1.0), anomaly("api", strength=0.9),
             anomaly("db", strength=0.5)]
    # The callers' errors mostly name their failing callee.
    ranked = rank_root_cause(found, graph, {"frontend": 0.9, "api": 0.9, "db": 0.0})
    assert ranked[0].service == "db"
    # ... and the one whose symptoms started first, when nothing else tells them apart.
    later = [anomaly("frontend", minute=6), anomaly("api", minute=3), anomaly("db", minute=0)]
    assert rank_root_cause(later, CallGraph(), {})[0].service == "db"


def ctx(graph: CallGraph | None = None, deployments=()) -> CheckContext:
    return CheckContext(graph or CallGraph(), {}, list(deployments), lambda *a: [])


def test_tracker_opens_one_incident_grows_it_and_reopens_after_recovery(tmp_path) -> None:
    store = IncidentStore(f"sqlite:///{tmp_path / 's.db'}")
    tracker = IncidentTracker(store, DetectSettings())
    deploy = DeploymentRecord(T0 - timedelta(minutes=2), "db", "2.0", previous_version="1.9")
    graph = chain_graph()
    # Minute 1: db and api; minute 2: frontend joins; the same problem, one incident.
    tracker.update([anomaly("db"), anomaly("api", minute=1)], T0 + timedelta(minutes=1),
                   ctx(graph, [deploy]))
    tracker.update([anomaly("db"), anomaly("frontend", minute=2)], T0 + timedelta(minutes=2),
                   ctx(graph, [deploy]))
    [incident] = store.list()
    assert incident.status is Status.ANALYSIS_COMPLETE
    assert set(incident.services) == {"db", "api", "frontend"}
    assert incident.root_cause_service == "db"
    assert incident.suspected_change["version"] == "2.0"
    kinds = [e.kind for e in store.get(incident.id).timeline]
    assert kinds[:2] == ["detected", "analysis_complete"] and "services_added" in kinds
    # Quiet for the recovery period: recovered. Symptoms again: a new incident.
    quiet = T0 + timedelta(minutes=2 + DetectSettings().recovery_minutes)
    tracker.update([], quiet, ctx(graph))
    assert store.get(incident.id).recovered_at == quiet
    tracker.update([anomaly("db", minute=40)], quiet + timedelta(minutes=20), ctx(graph))
    assert len(store.list()) == 2
    # The same root cause back within a day: a new incident that says it is a recurrence.
    again = store.get(store.list()[0].id)
    [recurrence] = [e for e in again.timeline if e.kind == "recurrence"]
    assert again.id != incident.id and recurrence.data == {"incident_id": incident.id}
    assert recurrence.message.startswith(f"recurrence of {incident.id}")
    # A different root cause, or one long after, is news.
    tracker.update([], quiet + timedelta(minutes=40), ctx(graph))
    later = quiet + timedelta(hours=30)
    tracker.update([anomaly("frontend", minute=int((later - T0).total_seconds() // 60))],
                   later, ctx(CallGraph()))
    newest = store.get(store.list()[0].id)
    assert not [e for e in newest.timeline if e.kind == "recurrence"]
    store.close()


def test_root_cause_holds_through_a_long_outage(tmp_path) -> None:
    # Hours in, the detectors' onsets have drifted (they look back a bounded time) and a
    # caller's latency has only now started to rise: the root cause stays the service
    # whose symptoms began the incident.
    store = IncidentStore(f"sqlite:///{tmp_path / 's.db'}")
    tracker = IncidentTracker(store, DetectSettings())
    graph = chain_graph()
    tracker.update([anomaly("db"), anomaly("api", minute=1), anomaly("frontend", minute=1)],
                   T0 + timedelta(minutes=2), ctx(graph))
    assert store.list()[0].root_cause_service == "db"
    for minute in range(3, 180):
        drifted = max(0, minute - 90)
        latency = [anomaly("frontend", "metric", minute=70)] if minute >= 72 else []
        tracker.update([anomaly("db", minute=drifted), anomaly("api", minute=drifted),
                        anomaly("frontend", minute=drifted), *latency],
                       T0 + timedelta(minutes=minute), ctx(graph))
    [incident] = store.list()
    assert incident.root_cause_service == "db"
    assert not [e for e in store.get(incident.id).timeline if e.kind == "root_cause_changed"]
    store.close()


def test_context_anomalies_alone_open_nothing(tmp_path) -> None:
    store = IncidentStore(f"sqlite:///{tmp_path / 's.db'}")
    tracker = IncidentTracker(store, DetectSettings())
    traffic = anomaly("frontend", "metric")
    traffic.role = "context"
    tracker.update([traffic], T0, ctx())
    assert store.list() == []
    store.close()


# -- replay, CLI and API ------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_deploy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "bad_deploy.ndjson"
    result = runner.invoke(app, ["simulate", "--scenario", "bad_deploy", "--hours", "3",
                                 "--seed", "3", "--start", "2026-11-23T06:00:00Z",
                                 "--out", str(path)])
    assert result.exit_code == 0
    return path


@pytest.mark.slow
def test_replay_prints_one_incident_with_root_cause_and_change(bad_deploy_file, tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"type": "log"}\nnot json\n')
    result = runner.invoke(app, ["replay", str(bad_deploy_file), str(bad), "--json"])
    assert result.exit_code == 0, result.output
    incidents = json.loads(result.stdout)
    assert len(incidents) == 1
    inc = incidents[0]
    assert inc["root_cause_service"] == "checkout-service"
    assert {"api-gateway", "web-frontend"} <= set(inc["services"])
    assert inc["suspected_change"]["version"] == "2.5.0"
    onset = datetime.fromisoformat("2026-11-23T08:00:00+00:00")
    detected = datetime.fromisoformat(inc["detected_at"])
    assert onset <= detected <= onset + timedelta(minutes=3)
    assert abs(datetime.fromisoformat(inc["started_at"]) - onset) <= timedelta(minutes=1)
    assert any(e.get("kind") == "log_samples" for e in inc["evidence"])
    assert "bad.ndjson:2" in result.stderr


@pytest.mark.slow
def test_healthy_replay_opens_nothing(tmp_path) -> None:
    path = tmp_path / "none.ndjson"
    runner.invoke(app, ["simulate", "--scenario", "healthy_deploy", "--hours", "3", "--seed",
                        "3", "--start", "2026-11-23T06:00:00Z", "--out", str(path)])
    result = runner.invoke(app, ["replay", str(path), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_api_and_cli_show_incidents(settings, client, tmp_path) -> None:
    store = IncidentStore(settings.incident_db_url)
    store.create(make_incident(), TimelineEvent(T0, "detected", "seen"))
    store.close()
    listed = client.get("/api/v1/incidents", params={"service": "checkout"})
    assert listed.status_code == 200 and [i["id"] for i in listed.json()] == ["inc-test-0"]
    one = client.get("/api/v1/incidents/inc-test-0").json()
    assert one["timeline"][0]["kind"] == "detected" and one["started_at"].endswith("Z")
    missing = client.get("/api/v1/incidents/nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no incident 'nope'"})
    assert client.get("/api/v1/incidents", params={"status": "bogus"}).status_code == 422
    env = {"OASIS_DATA_DIR": str(settings.data_dir)}
    shown = runner.invoke(app, ["incidents", "show", "inc-test-0"], env=env)
    assert shown.exit_code == 0 and "incident 0" in shown.output
    shown_missing = runner.invoke(app, ["incidents", "show", "nope"], env=env)
    assert shown_missing.exit_code == 1 and "no incident 'nope'" in shown_missing.output
    listed_cli = runner.invoke(app, ["incidents", "list", "--json"], env=env)
    assert [i["id"] for i in json.loads(listed_cli.stdout)] == ["inc-test-0"]


def test_the_service_detects_incidents_from_signals_it_receives(tmp_path) -> None:

    from fastapi.testclient import TestClient

    from oasis.api import create_app
    from oasis.config import Settings
    from oasis.simulate import simulate

    # The server takes records ahead of the wall clock, as for a simulator at N x real time.
    settings = Settings(data_dir=tmp_path / "live",
                        detect=DetectSettings(check_interval_seconds=0.2),
                        ingest={"max_future_seconds": 0})
    # Signals newer than the service's clock, as from a simulator running ahead of it.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    sim = simulate("bad_deploy", hours=2.5, seed=2, start=start, onset=130)
    body = b"\n".join(json.dumps(r).encode() for r in sim.records())
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/v1/signals", content=body,
                           headers={"content-type": "application/x-ndjson"}).status_code == 200

        def analysed() -> list[dict]:
            # Opened, then analysed a moment later: wait for the analysis.
            return [i for i in client.get("/api/v1/incidents").json()
                    if i["status"] != "initial_detection"]

        found = wait_until(analysed, timeout=60, what="an analysed incident")
    assert len(found) == 1
    assert found[0]["root_cause_service"] == "checkout-service"
    assert found[0]["status"] == "analysis_complete"


def test_only_one_process_holds_the_monitor_lease(incident_store: IncidentStore) -> None:
    assert incident_store.acquire_lease("monitor", "a", 60, now=T0)
    assert not incident_store.acquire_lease("monitor", "b", 60, now=T0 + timedelta(seconds=30))
    assert incident_store.acquire_lease("monitor", "a", 60, now=T0 + timedelta(seconds=30))
    # Holder a stops renewing: after the lease runs out, b takes over.
    assert incident_store.acquire_lease("monitor", "b", 60, now=T0 + timedelta(seconds=91))
    assert not incident_store.acquire_lease("monitor", "a", 60, now=T0 + timedelta(seconds=92))


def test_an_unattended_incident_that_recovers_is_resolved_with_a_reason(tmp_path) -> None:
    store = IncidentStore(f"sqlite:///{tmp_path / 's.db'}")
    tracker = IncidentTracker(store, DetectSettings())
    tracker.update([anomaly("db")], T0 + timedelta(minutes=1), ctx(chain_graph()))
    [incident] = store.list()
    # Symptoms still there at minute 10: open. Quiet for 15 minutes after that: resolved.
    tracker.update([anomaly("db")], T0 + timedelta(minutes=10), ctx(chain_graph()))
    tracker.update([], T0 + timedelta(minutes=24), ctx(chain_graph()))
    assert store.get(incident.id).recovered_at is None
    tracker.update([], T0 + timedelta(minutes=25), ctx(chain_graph()))
    done = store.get(incident.id)
    assert done.recovered_at == T0 + timedelta(minutes=25)
    assert done.status is Status.RESOLVED
    assert "recovered on its own" in done.timeline[-1].message
    store.close()


def test_an_incident_someone_is_handling_keeps_its_status_when_it_recovers(tmp_path) -> None:
    store = IncidentStore(f"sqlite:///{tmp_path / 's.db'}")
    tracker = IncidentTracker(store, DetectSettings())
    tracker.update([anomaly("db")], T0 + timedelta(minutes=1), ctx())
    incident = store.list()[0]
    incident.status = Status.PENDING_APPROVAL
    store.update(incident, [TimelineEvent(T0, "status:pending_approval", "asked")])
    tracker.update([], T0 + timedelta(minutes=30), ctx())
    got = store.get(incident.id)
    assert got.recovered_at is not None and got.status is Status.PENDING_APPROVAL
    store.close()


def test_a_deployment_after_the_first_symptom_is_never_blamed(tmp_path) -> None:
    store = IncidentStore(f"sqlite:///{tmp_path / 's.db'}")
    tracker = IncidentTracker(store, DetectSettings())
    graph = chain_graph()
    late = DeploymentRecord(T0 + timedelta(minutes=6), "db", "2.0", previous_version="1.9")
    early = DeploymentRecord(T0 - timedelta(minutes=3), "frontend", "7.1",
                             previous_version="7.0")
    # The db's own onset is minute 8 (after its deploy at 6), but the incident's first
    # symptom is at 0: the db's deploy came later and did not cause it.
    tracker.update([anomaly("api"), anomaly("db", minute=8, strength=1.0)],
                   T0 + timedelta(minutes=9), ctx(graph, [late, early]))
    [incident] = store.list()
    assert incident.suspected_change is None
    # Within the clock-skew allowance (2 min) it can still be blamed.
    store2 = IncidentStore(f"sqlite:///{tmp_path / 's2.db'}")
    tracker2 = IncidentTracker(store2, DetectSettings())
    skewed = DeploymentRecord(T0 + timedelta(minutes=1), "db", "2.0", previous_version="1.9")
    tracker2.update([anomaly("db")], T0 + timedelta(minutes=3), ctx(graph, [skewed]))
    assert store2.list()[0].suspected_change["version"] == "2.0"
    store.close()
    store2.close()


def test_a_later_problem_on_a_connected_service_is_a_new_incident(tmp_path) -> None:
    store = IncidentStore(f"sqlite:///{tmp_path / 's.db'}")
    tracker = IncidentTracker(store, DetectSettings())
    graph = chain_graph()
    tracker.update([anomaly("frontend")], T0 + timedelta(minutes=1), ctx(graph))
    # 40 minutes on, still open (the frontend keeps its symptom), the db fails after a deploy.
    deploy = DeploymentRecord(T0 + timedelta(minutes=38), "db", "3.0", previous_version="2.9")
    for minute in range(2, 42):
        found = [anomaly("frontend")] + ([anomaly("db", minute=40)] if minute >= 41 else [])
        tracker.update(found, T0 + timedelta(minutes=minute), ctx(graph, [deploy]))
    first, second = sorted(store.list(), key=lambda i: i.detected_at)
    assert first.root_cause_service == "frontend" and "db" not in first.services
    assert second.root_cause_service == "db"
    assert second.suspected_change["version"] == "3.0"
    store.close()


def test_the_dependency_a_log_line_names_is_read_from_its_attributes() -> None:
    from oasis.monitor.monitor import _is_known

    def line(**attributes) -> LogRecord:
        return LogRecord(T0, "ledger", Level.ERROR, "query failed", attributes=attributes)

    named = CallGraph.dependency_named
    assert named(line(**{"peer.service": "pg-main", "db.system": "postgresql"})) == "pg-main"
    assert named(line(**{"server.address": "payments.prod.svc:8443"})) == "payments.prod.svc"
    assert named(line(**{"db.system": "postgresql"})) == "postgresql"
    assert named(line(**{"peer.service": "ledger"})) is None  # itself
    assert _is_known("payments.prod.svc", {"payments"}) and not _is_known("pg-main", {"ledger"})
