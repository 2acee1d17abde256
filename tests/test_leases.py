"""Leases: one holder at a time, takeover only after expiry, and a holder that lost its
lease cannot commit (fencing), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from oasis import schema
from oasis.api import create_app
from oasis.config import Settings
from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent
from oasis.leases import LeaseLost, LeaseStore, fenced
from tests.helpers import T0, wait_until


def _waiting_on_a_lock(url: str) -> bool:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        n = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    engine.dispose()
    return n > 0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("postgres_url")


def _incident(n: int) -> tuple[Incident, TimelineEvent]:
    return (
        Incident(
            f"inc-{n}",
            Status.INITIAL_DETECTION,
            Severity.HIGH,
            "errors",
            ["api"],
            "api",
            T0,
            T0,
            T0,
        ),
        TimelineEvent(T0, "detected", "seen"),
    )


def test_one_holder_until_expiry_then_a_new_token(state_url) -> None:
    incidents = IncidentStore(state_url)
    clock = Clock()
    leases = LeaseStore(incidents.engine, clock=clock)
    a = leases.acquire("monitor", "replica-a", 20)
    assert a is not None and a.token == 1
    assert leases.acquire("monitor", "replica-b", 20) is None
    clock.now += timedelta(seconds=19)
    renewed = leases.acquire("monitor", "replica-a", 20)  # renewing keeps the token
    assert renewed is not None and renewed.token == 1
    clock.now += timedelta(seconds=20)
    assert leases.acquire("monitor", "replica-b", 20) is None  # exactly at expiry: not yet
    clock.now += timedelta(milliseconds=1)
    b = leases.acquire("monitor", "replica-b", 20)
    assert b is not None and b.token == 2
    assert leases.acquire("monitor", "replica-a", 20) is None
    incidents.close()


def test_a_replica_that_lost_its_lease_cannot_commit(state_url) -> None:
    incidents = IncidentStore(state_url)
    clock = Clock()
    leases = LeaseStore(incidents.engine, clock=clock)
    a = leases.acquire("monitor", "replica-a", 10)
    with fenced(a):
        incidents.create(*_incident(1))  # still ours: committed
    clock.now += timedelta(seconds=11)
    b = leases.acquire("monitor", "replica-b", 10)
    assert b is not None
    with fenced(a), pytest.raises(LeaseLost, match="taken over by replica-b"):
        incidents.create(*_incident(2))
    with fenced(b):
        incidents.create(*_incident(3))
    assert sorted(i.id for i in incidents.list()) == ["inc-1", "inc-3"]
    incidents.close()


@pytest.mark.postgres
def test_takeover_waits_for_the_old_holders_open_transaction(postgres_url) -> None:
    """The fence check locks the lease row: a takeover during the old holder's transaction
    waits for its commit, so no commit of the old holder lands after the new token."""
    incidents = IncidentStore(postgres_url)
    clock = Clock()
    leases = LeaseStore(incidents.engine, clock=clock)
    a = leases.acquire("responder", "replica-a", 10)
    events: list[str] = []
    with fenced(a), incidents.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (n int)"))
        conn.execute(sa.text("INSERT INTO probe VALUES (1)"))  # fence checked, row share-locked
        clock.now += timedelta(seconds=11)
        taker = threading.Thread(
            target=lambda: events.append(
                f"taken:{leases.acquire('responder', 'replica-b', 10).token}"
            )
        )
        taker.start()
        wait_until(lambda: _waiting_on_a_lock(postgres_url), what="the takeover to wait")
        assert events == []
        events.append("committed")
    taker.join(30)
    assert events == ["committed", "taken:2"]
    incidents.close()


def test_detection_checks_every_minute_and_resumes_where_the_last_holder_stopped(state_url) -> None:
    from oasis.runtime.detection import CHECKS_PER_PASS, check_times

    minute = timedelta(minutes=1)
    assert check_times(None, None, T0 + 5 * minute + timedelta(seconds=20)) == [T0 + 5 * minute]
    assert check_times(T0, None, T0 + 3 * minute) == [T0 + minute, T0 + 2 * minute, T0 + 3 * minute]
    # far behind: a bounded number of checks, spread evenly, the newest minute last
    assert check_times(T0, None, T0 + 40 * minute) == [
        T0 + 10 * minute,
        T0 + 20 * minute,
        T0 + 30 * minute,
        T0 + 40 * minute,
    ]
    # a new holder starts at its predecessor's last minute (baselines are read back from
    # there), then goes on up to now
    resumed = check_times(None, T0, T0 + 2 * minute)
    assert resumed == [T0, T0 + minute, T0 + 2 * minute]
    assert len(check_times(None, T0, T0 + 99 * minute)) == CHECKS_PER_PASS

    incidents = IncidentStore(state_url)
    clock = Clock()
    leases = LeaseStore(incidents.engine, clock=clock)
    a = leases.acquire("monitor", "replica-a", 10)
    assert leases.record_progress(a, T0 + 7 * minute)
    clock.now += timedelta(seconds=11)
    assert leases.acquire("monitor", "replica-b", 10) is not None
    assert not leases.record_progress(a, T0 + 8 * minute)  # a lost it: nothing written
    assert leases.progress("monitor") == T0 + 7 * minute
    incidents.close()


def _runs(client) -> list[str]:
    return client.get("/readyz").json()["runs"]


def test_a_restarted_embedded_process_resumes_a_crashed_ones_loops_at_once(tmp_path) -> None:
    """The embedded default is one process per data dir (DuckDB locks the file), so a
    lease left by a predecessor killed with -9 is not waited out for `lease_seconds`."""
    settings = Settings(data_dir=tmp_path / "data", server={"lease_seconds": 600})
    settings.data_dir.mkdir(parents=True)
    leases = LeaseStore(sa.create_engine(settings.incident_db_url))
    dead = leases.acquire("responder", "host:4242:1", 600)

    with TestClient(create_app(settings)) as client:
        wait_until(lambda: "responder" in _runs(client), 60, what="the responder lease taken")
        holder = leases.holders()["responder"]
    assert holder["holder"] != dead.holder
    assert holder["token"] == dead.token + 1  # a new token: the dead one's writes are fenced


@pytest.mark.postgres
def test_replicas_on_a_shared_state_database_wait_out_a_current_lease(
    tmp_path, postgres_url
) -> None:
    """With state in PostgreSQL another replica may be alive: its lease is respected."""
    settings = Settings(data_dir=tmp_path / "data", state_url=postgres_url,
                        server={"lease_seconds": 600})
    engine = sa.create_engine(postgres_url)
    schema.upgrade(engine)  # `oasis db upgrade`, as production does before replicas start
    leases = LeaseStore(engine)
    other = leases.acquire("responder", "other-host:7:1", 600)

    with TestClient(create_app(settings)) as client:
        def asked() -> dict | None:
            body = client.get("/readyz").json()
            return body if "responder" in body["standby"] else None

        body = wait_until(asked, 60, what="the responder to ask for its lease and be refused")
        assert "responder" not in body["runs"]
    assert leases.holders()["responder"]["holder"] == other.holder


@pytest.mark.postgres
def test_only_the_triage_lease_holder_works_the_shared_event_queue(
    tmp_path, postgres_url
) -> None:
    """Events queued on any replica wait in the shared database for the one replica that
    holds the `triage` lease; when it goes, another takes the queue over."""
    from oasis.runtime.services import open_services
    from oasis.triage.parse import parse_batch
    from tests.test_triage_events import finding

    engine = sa.create_engine(postgres_url)
    schema.upgrade(engine)
    leases = LeaseStore(engine)
    other = leases.acquire("triage", "other-replica:7:1", 600)
    settings = Settings(data_dir=tmp_path / "data", state_url=postgres_url,
                        knowledge={"embedder": "none"}, notify={"email_enabled": False})
    services = open_services(settings, monitor=False)
    try:
        queue = services.triage.queue
        queue.submit(parse_batch(finding(1), received_at=T0).events)
        wait_until(lambda: "triage" in services.leader.standby, 60,
                   what="this replica to ask for the triage lease and be refused")
        assert queue.pending() == 1  # the holder (elsewhere) has it, not this replica
        leases.release(other.name, other.holder)  # the other replica shut down
        queue._wake.set()
        wait_until(lambda: queue.pending() == 0, 60, what="the event triaged here")
        assert "triage" in services.leader.held
        [event] = services.triage.events.list()
        assert event.verdict is not None
    finally:
        services.close()


def test_a_clean_shutdown_hands_the_triage_queue_over_at_once(tmp_path) -> None:
    from datetime import UTC, datetime

    from oasis.runtime.services import open_services

    settings = Settings(data_dir=tmp_path / "data", knowledge={"embedder": "none"})
    services = open_services(settings, monitor=False)
    try:
        wait_until(lambda: "triage" in services.leader.held, 60, what="the triage lease")
    finally:
        services.close()
    leases = LeaseStore(sa.create_engine(settings.incident_db_url))
    assert leases.holders()["triage"]["expires_at"] < datetime.now(UTC)  # free for a standby
