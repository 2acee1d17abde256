"""Deciding over HTTP: approval links (confirmation page, tampered, expired, reused), the
decision endpoints, illegal moves answered 409, and what the incident shows afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.approve import Decision
from oasis.config import Settings
from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent
from oasis.simulate.control import create_control_app
from oasis.simulate.fleet import Fleet
from tests.helpers import wait_until
from tests.servers import serving

NOW = datetime.now(UTC).replace(microsecond=0)
SERVICE = "checkout-service"


@pytest.fixture
def fleet() -> Fleet:
    f = Fleet()
    f.deploy(SERVICE, "9.9.9")
    return f


@pytest.fixture
def client(tmp_path, fleet: Fleet) -> Iterator[TestClient]:
    with serving(create_control_app(fleet)) as control:
        settings = Settings(
            data_dir=tmp_path / "data", notify={"email_enabled": False},
            remediate={"executors": [{"type": "fleet", "name": "sim", "url": control,
                                      "kinds": ["rollback"]}]},
            respond={"interval_seconds": 0.2})
        settings.data_dir.mkdir(parents=True)
        store = IncidentStore(settings.incident_db_url)
        store.create(Incident(
            "inc-1", Status.ANALYSIS_COMPLETE, Severity.HIGH, "checkout errors", [SERVICE],
            SERVICE, NOW, NOW, NOW, suspected_change={
                "service": SERVICE, "version": "9.9.9", "minutes_before_onset": 1,
                "previous_version": fleet.state(SERVICE).history[-1]}),
            TimelineEvent(NOW, "detected", "seen"))
        store.close()
        with TestClient(create_app(settings)) as c:
            yield c


def wait_status(client: TestClient, *statuses: str) -> dict:
    """The incident once the response loop has moved it to one of `statuses`."""
    def reached() -> dict | None:
        incident = client.get("/api/v1/incidents/inc-1").json()
        return incident if incident["status"] in statuses else None

    return wait_until(reached, what=f"the incident to be {' or '.join(statuses)}")


def wait_action(client: TestClient, status: str) -> dict:
    """The incident once the response loop has moved its first action to `status`."""
    def reached() -> dict | None:
        incident = client.get("/api/v1/incidents/inc-1").json()
        actions = incident["actions"]
        return incident if actions and actions[0]["status"] == status else None

    return wait_until(reached, what=f"the action to be {status}")


def link(client: TestClient, action_id: str, decision: Decision, expires: datetime) -> str:
    return "/approve/" + client.app.state.signer.sign("inc-1", action_id, decision, expires)


def test_link_page_shows_the_action_and_only_the_post_decides(client: TestClient,
                                                              fleet: Fleet) -> None:
    [action] = wait_status(client, "pending_approval")["actions"]
    url = link(client, action["id"], Decision.APPROVE, NOW + timedelta(hours=1))
    page = client.get(url)
    assert page.status_code == 200
    assert "rollback" in page.text and SERVICE in page.text and "medium" in page.text
    assert "sim" in page.text  # the executor that will run it
    assert client.get(url).status_code == 200 and fleet.actions() == []
    assert client.post(url, data={"name": ""}).status_code == 422  # who decides is required
    assert client.post(url, data={"name": "alice"}).status_code == 200
    wait_status(client, "mitigating")  # set just before the specialist runs it
    incident = wait_action(client, "succeeded")
    assert incident["actions"][0]["approved_by"] == "alice (email link)"
    assert [a.action for a in fleet.actions()] == ["rollback"]
    twin = client.get(link(client, action["id"], Decision.REJECT, NOW + timedelta(hours=1)))
    assert "<form" not in twin.text
    assert "Approved by alice (email link) at " in twin.text
    assert "It has run and succeeded." in twin.text
    again = client.post(url, data={"name": "mallory"})
    assert again.status_code == 409 and "already used" in again.text


def test_after_a_decision_the_other_link_says_what_was_decided(client: TestClient,
                                                                fleet: Fleet) -> None:
    [action] = wait_status(client, "pending_approval")["actions"]
    expires = NOW + timedelta(hours=1)
    reject = link(client, action["id"], Decision.REJECT, expires)
    approve = link(client, action["id"], Decision.APPROVE, expires)
    assert client.post(reject, data={"name": "bob", "note": "change freeze"}).status_code == 200
    page = client.get(approve)
    assert page.status_code == 200 and "<form" not in page.text
    assert 'Already decided. Rejected by bob (email link) at ' in page.text
    assert "&#34;change freeze&#34;" in page.text or "&quot;change freeze&quot;" in page.text
    late = client.post(approve, data={"name": "carol"})
    assert late.status_code == 409 and "Rejected by bob (email link)" in late.text
    used = client.get(reject)
    assert used.status_code == 409 and "Already decided. Rejected by bob" in used.text
    incident = client.get("/api/v1/incidents/inc-1").json()
    assert incident["actions"][0]["status"] == "rejected" and fleet.actions() == []


def test_tampered_and_expired_links_decide_nothing(client: TestClient, fleet: Fleet) -> None:
    [action] = wait_status(client, "pending_approval")["actions"]
    reject = link(client, action["id"], Decision.REJECT, NOW + timedelta(hours=1))
    approve = link(client, action["id"], Decision.APPROVE, NOW + timedelta(hours=1))
    forged = approve.split(".")[0] + "." + reject.split(".")[1]
    assert client.get(forged).status_code == 403
    assert client.post(forged, data={"name": "eve"}).status_code == 403
    old = link(client, action["id"], Decision.APPROVE, NOW - timedelta(minutes=1))
    response = client.post(old, data={"name": "bob"})
    assert response.status_code == 410 and "expired" in response.text
    assert client.get("/approve/garbage").status_code == 400
    assert wait_status(client, "pending_approval") and fleet.actions() == []


def test_decision_endpoints_and_illegal_moves(client: TestClient, fleet: Fleet) -> None:
    [action] = wait_status(client, "pending_approval")["actions"]
    base = "/api/v1/incidents/inc-1"
    assert client.post(f"{base}/acknowledge", json={"actor": "bob"}).status_code == 200
    assert client.post(f"{base}/actions/nope/approve", json={"actor": "bob"}).status_code == 404
    assert client.post("/api/v1/incidents/nope/resolve", json={"actor": "bob"}).status_code \
        == 404
    assert client.post(f"{base}/actions/{action['id']}/approve",
                       json={"actor": ""}).status_code == 422
    rejected = client.post(f"{base}/actions/{action['id']}/reject",
                           json={"actor": "bob", "note": "freeze"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert client.post(f"{base}/resolve", json={"actor": "bob"}).json()["status"] == "resolved"
    again = client.post(f"{base}/actions/{action['id']}/approve", json={"actor": "carol"})
    assert again.status_code == 409 and "resolved" in again.json()["detail"]
    incident = client.get(base).json()
    kinds = [e["kind"] for e in incident["timeline"]]
    assert "acknowledged" in kinds and kinds[-1] == "status:resolved"
    assert fleet.actions() == []
