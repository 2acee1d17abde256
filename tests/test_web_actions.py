"""Console actions besides approve/reject, with auth and triage on: acknowledge and resolve
an incident, Accept/Discharge an event waiting for a person, move a ticket on. Each shows
a confirmation first, lands on the timeline or ticket history and in the audit trail under
the signed-in name, is refused below its role, and every form needs the CSRF token of the
browser that posts it. Also the services page: health from seeded signals and the call
graph learned from their trace ids."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from oasis.auth import Role
from oasis.config import Settings
from oasis.incidents import Incident, Severity, Status, TimelineEvent
from oasis.remediate.catalog import ActionKind, ActionSpec, Risk
from oasis.signals.model import DeploymentRecord, Level, LogRecord, MetricRecord
from tests.test_triage_events import README_SAMPLE_1, README_SAMPLE_2
from tests.test_web import (
    NOW,
    ONSET,
    SERVICE,
    _console,
    _settings,
    browser_token,
    form_token,
    login,
)

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"
PASSWORD = "long enough pass"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One console for the module (its start-up is most of a test's cost); each test makes
    its own incident, events and tickets, so none depends on another's."""
    tmp = tmp_path_factory.mktemp("console")
    settings = Settings(data_dir=tmp / "data", notify={"email_enabled": False},
                        knowledge={"embedder": "none"}, auth={"enabled": True},
                        triage={"organisation_file": ORG, "allow_interaction": True})
    with TestClient(_console(settings)) as client:
        users = client.app.state.auth.users
        for name, role in (("vic", Role.VIEWER), ("rita", Role.RESPONDER),
                           ("ana", Role.APPROVER)):
            users.create_user(name, role, PASSWORD)
        yield client


def as_user(client: TestClient, name: str) -> TestClient:
    client.cookies.clear()
    login(client, name, PASSWORD)
    return client


def seed_incident(client: TestClient, incident_id: str) -> None:
    state = client.app.state
    state.incidents.create(Incident(
        incident_id, Status.ANALYSIS_COMPLETE, Severity.HIGH, f"checkout errors {incident_id}",
        [SERVICE], SERVICE, ONSET, ONSET + timedelta(minutes=1), NOW),
        TimelineEvent(ONSET + timedelta(minutes=1), "detected", "error rate rose"))
    state.actions.add(ActionSpec(id=f"{incident_id}-act", incident_id=incident_id,
                                 kind=ActionKind.ROLLBACK, params={"service": SERVICE},
                                 risk=Risk.MEDIUM, reason="errors began after 9.9.9"),
                      proposed_by="oasis")


def send_event(client: TestClient, payload: dict) -> dict:
    """An event in through the JSON API, as a monitoring integration sends it."""
    _id, secret = client.app.state.auth.users.create_api_key("integration", Role.RESPONDER)
    r = client.post("/api/v1/events", params={"wait": True}, content=json.dumps(payload),
                    headers={"content-type": "application/json",
                             "Authorization": f"Bearer {secret}"})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def waiting_event(client: TestClient, name: str) -> str:
    """An event naming no account, which the policy leaves to a person; its key."""
    event = copy.deepcopy(json.loads(README_SAMPLE_2))
    event["eventArn"] += f"_{name}"
    event.pop("affectedAccount")
    event.update(eventScopeCode="ACCOUNT_SPECIFIC", affectedEntities=[])
    result = send_event(client, event)
    assert result["verdict"] == "ask"
    return result["key"]


def audit_actors(client: TestClient, kind: str, subject: str) -> list[str]:
    """Who the audit trail names for `kind` records about `subject`."""
    records = client.app.state.response.audit.records(subject=subject)
    return [r.actor for r in records if r.kind == kind]


def confirm_and_post(client: TestClient, confirm_url: str, post_url: str,
                     **fields: str) -> object:
    page = client.get(confirm_url)
    assert page.status_code == 200 and 'id="confirm-submit"' in page.text, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(post_url, data={**fields, "csrf_token": token},
                       follow_redirects=False)


def test_responder_acknowledges_then_resolves_an_incident(world: TestClient) -> None:
    seed_incident(world, "inc-ack")
    client = as_user(world, "rita")
    detail = client.get("/incidents/inc-ack").text
    assert 'data-testid="acknowledge-incident"' in detail and "/incidents/inc-ack/resolve" in detail
    confirm = client.get("/incidents/inc-ack/acknowledge")
    assert "Acknowledge this incident?" in confirm.text
    incidents = client.app.state.incidents
    assert not [t for t in incidents.get("inc-ack").timeline if t.kind == "acknowledged"]

    done = confirm_and_post(client, "/incidents/inc-ack/acknowledge",
                            "/incidents/inc-ack/acknowledge", note="looking at checkout")
    assert done.status_code == 303 and done.headers["location"] == "/incidents/inc-ack"
    acked = [t for t in incidents.get("inc-ack").timeline if t.kind == "acknowledged"]
    assert [(t.actor, t.message) for t in acked] == [("rita", "looking at checkout")]
    assert audit_actors(client, "incident.acknowledged", "inc-ack") == ["rita"]
    assert "looking at checkout" in client.get("/incidents/inc-ack").text

    confirm = client.get("/incidents/inc-ack/resolve").text
    assert "Resolve this incident?" in confirm and "1 proposed action is withdrawn" in confirm
    done = confirm_and_post(client, "/incidents/inc-ack/resolve", "/incidents/inc-ack/resolve")
    assert done.status_code == 303
    assert incidents.get("inc-ack").status is Status.RESOLVED
    assert client.app.state.actions.get("inc-ack-act").status.value == "withdrawn"
    assert audit_actors(client, "incident.resolved", "inc-ack") == ["rita"]
    page = client.get("/incidents/inc-ack").text
    assert "resolved by a person" in page and 'id="resolve-incident"' not in page

    token = browser_token(client)
    again = client.post("/incidents/inc-ack/resolve", data={"csrf_token": token})
    assert again.status_code == 409 and "resolved already" in again.text
    assert client.get("/incidents/inc-ack/acknowledge").status_code == 409
    assert client.get("/incidents/inc-nope/resolve").status_code == 404
    missing = client.post("/incidents/inc-nope/acknowledge", data={"csrf_token": token})
    assert missing.status_code == 404 and "inc-nope" in missing.text
    assert client.get("/incidents/inc-ack/reopen").status_code == 404


def test_approver_accepts_and_discharges_events_waiting_for_a_person(
        world: TestClient) -> None:
    keep, drop = waiting_event(world, "KEEP"), waiting_event(world, "DROP")
    client = as_user(world, "ana")
    events = client.get("/events").text
    row = events[events.index(f'data-event-key="{keep}"'):]
    assert 'data-testid="event-accept"' in row[:row.index("</tr>")]
    kit = client.app.state.triage
    assert not kit.tickets.for_event(keep)

    accept_url = f"/events/accept?key={keep}"
    assert keep in client.get(accept_url).text
    done = confirm_and_post(client, accept_url, "/events/accept", key=keep, note="ours")
    assert done.status_code == 303 and done.headers["location"] == "/events"
    record = kit.events.get(keep)
    assert (record.verdict, record.decided_by) == ("accept", "ana")
    assert kit.tickets.for_event(keep)  # triaged at once: the owner team has its ticket
    assert audit_actors(client, "event.accepted", keep) == ["ana"]

    done = confirm_and_post(client, f"/events/discharge?key={drop}", "/events/discharge",
                            key=drop)
    assert done.status_code == 303
    assert kit.events.get(drop).verdict == "discharge" and not kit.tickets.for_event(drop)
    assert audit_actors(client, "event.discharged", drop) == ["ana"]
    assert "by ana" in client.get("/events").text

    token = browser_token(client)
    again = client.post("/events/discharge", data={"key": keep, "csrf_token": token})
    assert again.status_code == 409 and "only events waiting for a person" in again.text
    assert client.get(accept_url).status_code == 409
    assert client.get("/events/accept", params={"key": "arn:nope"}).status_code == 404
    assert client.post("/events/accept", data={"csrf_token": token}).status_code == 400
    assert client.get(f"/events/approve?key={keep}").status_code == 404


def test_responder_moves_a_ticket_along_its_order(world: TestClient) -> None:
    event = json.loads(README_SAMPLE_1)
    event["eventArn"] += "_tickets"
    key = send_event(world, event)["key"]
    ticket = world.app.state.triage.tickets.for_event(key)[0]
    client = as_user(world, "rita")
    tickets = client.get("/tickets").text
    row = tickets[tickets.index(f'id="ticket-{ticket.id}"'):]
    assert 'data-testid="ticket-to-acknowledged"' in row[:row.index("</tr>")]

    url = f"/tickets/{ticket.id}/status"
    assert "New → Acknowledged" in client.get(url, params={"to": "Acknowledged"}).text
    done = confirm_and_post(client, f"{url}?to=Acknowledged", url, status="Acknowledged",
                            note="on it")
    assert done.status_code == 303 and done.headers["location"] == "/tickets"
    moved = client.app.state.triage.tickets.get(ticket.id)
    assert moved.status.value == "Acknowledged"
    assert moved.history[-1]["actor"] == "rita" and "on it" in moved.history[-1]["change"]
    assert audit_actors(client, "ticket.status", ticket.id) == ["rita"]
    row = client.get("/tickets").text.split(f'id="ticket-{ticket.id}"')[1].split("</tr>")[0]
    assert "Acknowledged" in row and 'data-testid="ticket-to-in-progress"' in row

    token = browser_token(client)
    skip = client.post(url, data={"status": "Resolved", "csrf_token": token})
    assert skip.status_code == 409 and "can move to In progress" in skip.text
    assert client.get(url, params={"to": "New"}).status_code == 409
    bogus = client.post(url, data={"status": "Teleported", "csrf_token": token})
    assert bogus.status_code == 400 and "Teleported" in bogus.text
    assert client.get("/tickets/tkt-nope/status", params={"to": "Acknowledged"}
                      ).status_code == 404
    assert client.app.state.triage.tickets.get(ticket.id).status.value == "Acknowledged"


def test_roles_too_low_are_refused_on_every_action(world: TestClient) -> None:
    seed_incident(world, "inc-role")
    key = waiting_event(world, "ROLE")
    event = json.loads(README_SAMPLE_1)
    event["eventArn"] += "_roles"
    ticket = world.app.state.triage.tickets.for_event(send_event(world, event)["key"])[0]
    client = as_user(world, "vic")
    detail = client.get("/incidents/inc-role").text
    assert "responder role needed" in detail and "/incidents/inc-role/resolve" not in detail
    assert "approver role needed" in client.get("/events").text
    assert "responder role needed" in client.get("/tickets").text
    token = browser_token(client)
    for confirm, post, data in (
            ("/incidents/inc-role/acknowledge", "/incidents/inc-role/acknowledge", {}),
            ("/incidents/inc-role/resolve", "/incidents/inc-role/resolve", {}),
            (f"/events/accept?key={key}", "/events/accept", {"key": key}),
            (f"/events/discharge?key={key}", "/events/discharge", {"key": key}),
            (f"/tickets/{ticket.id}/status?to=Acknowledged", f"/tickets/{ticket.id}/status",
             {"status": "Acknowledged"})):
        assert client.get(confirm).status_code == 403, confirm
        refused = client.post(post, data={**data, "csrf_token": token})
        assert refused.status_code == 403 and "role needed; you are viewer" in refused.text
    client = as_user(world, "rita")  # a responder, but Accept needs an approver
    token = browser_token(client)
    refused = client.post("/events/accept", data={"key": key, "csrf_token": token})
    assert refused.status_code == 403 and "approver role needed" in refused.text
    state = world.app.state
    assert state.incidents.get("inc-role").status is Status.ANALYSIS_COMPLETE
    assert not [t for t in state.incidents.get("inc-role").timeline if t.kind == "acknowledged"]
    assert state.triage.events.get(key).verdict == "ask"
    assert state.triage.tickets.get(ticket.id).status.value == "New"


def test_forms_need_this_browsers_csrf_token(world: TestClient) -> None:
    seed_incident(world, "inc-csrf")
    client = as_user(world, "vic")
    viewer_token = browser_token(client)
    client = as_user(world, "ana")
    own_token = form_token(client, "/incidents/inc-csrf/acknowledge")
    url = "/incidents/inc-csrf/acknowledge"
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": viewer_token}):
        refused = client.post(url, data=data)
        assert refused.status_code == 403 and "security token" in refused.text, data
    refused = client.post("/incidents/inc-csrf/actions/inc-csrf-act/approve", data={})
    assert refused.status_code == 403 and "security token" in refused.text
    refused = client.post("/events/accept", data={"key": "x", "csrf_token": "forged"})
    assert refused.status_code == 403 and "security token" in refused.text
    incidents = world.app.state.incidents
    assert not [t for t in incidents.get("inc-csrf").timeline if t.kind == "acknowledged"]
    assert world.app.state.actions.get("inc-csrf-act").status.value == "proposed"
    assert client.post(url, data={"csrf_token": own_token},
                       follow_redirects=False).status_code == 303

    # Another site cannot sign a browser in either (login CSRF).
    client.cookies.clear()
    refused = client.post("/login", data={"name": "ana", "password": PASSWORD, "next": "/"})
    assert refused.status_code == 403 and "oasis_session" not in client.cookies

    # API keys are never sent by a browser on its own: the JSON API and key callers of
    # the console need no token.
    _id, secret = world.app.state.auth.users.create_api_key("ana", Role.APPROVER)
    key = {"Authorization": f"Bearer {secret}"}
    api = client.post("/api/v1/incidents/inc-csrf/acknowledge", json={"actor": "ana"},
                      headers=key)
    assert api.status_code == 200
    console = client.post(url, data={"note": "by key"}, headers=key, follow_redirects=False)
    assert console.status_code == 303
    assert audit_actors(world, "incident.acknowledged", "inc-csrf") == ["ana"] * 3


def test_services_page_shows_health_and_the_learned_call_graph(tmp_path: Path) -> None:
    settings = _settings(tmp_path, auth=False)
    with TestClient(_console(settings)) as client:
        seed_incident(client, "inc-svc")  # checkout-service is its root cause
        minute = NOW - timedelta(minutes=1)
        signals: list = [DeploymentRecord(ONSET, SERVICE, "9.9.9", "9.9.8")]
        for service, rate, p99 in (("web-frontend", 7.5, 310.0), (SERVICE, 31.0, 900.0),
                                   ("payment-service", 0.2, 120.0)):
            signals += [MetricRecord(minute, service, "error_rate", rate),
                        MetricRecord(minute, service, "latency_p99_ms", p99)]
        # Twelve requests, each through frontend → checkout → payment: the callee's span
        # completes (is logged) before its caller's.
        for n in range(12):
            at = minute + timedelta(seconds=n)
            for lag, service in enumerate(("payment-service", SERVICE, "web-frontend")):
                signals.append(LogRecord(at + timedelta(milliseconds=10 * lag), service,
                                         Level.INFO, "request done", trace_id=f"trace-{n}"))
        client.app.state.store.append(signals)

        page = client.get("/")
        assert '<a href="/services"' in page.text
        page = client.get("/services").text
        states = dict(re.findall(r'data-service="([^"]+)" data-state="(\w+)"', page))
        assert states == {"web-frontend": "amber", SERVICE: "red", "payment-service": "green"}
        checkout = page.split(f'data-service="{SERVICE}"')[1].split("</tr>")[0]
        for shown in ("root cause of inc-svc", "31.00 %", "900 ms", "9.9.8 &rarr; 9.9.9",
                      "/incidents/inc-svc"):
            assert shown in checkout, shown
        assert "error rate 7.5 %" in page and "no deployment seen" in page

        svg = page[page.index('<svg class="graph"'):page.index("</svg>")]
        assert f'data-edge="web-frontend->{SERVICE}"' in svg
        assert f'data-edge="{SERVICE}->payment-service"' in svg
        assert 'data-edge="web-frontend->payment-service"' not in svg  # implied, not drawn
        edges = page[page.index('id="call-edges"'):]
        row = edges.split(f'data-edge="web-frontend->{SERVICE}"')[1].split("</tr>")[0]
        assert "12 traces" in row
        implied = edges.split('data-edge="web-frontend->payment-service"')[1].split("</tr>")[0]
        assert f"through {SERVICE}" in implied


def test_the_chat_socket_refuses_pages_of_other_sites(world: TestClient) -> None:
    """The chat can approve actions, so it gets the forms' protection: a socket opened by
    another site's page is closed before anything is read."""
    _id, secret = world.app.state.auth.users.create_api_key("ana", Role.APPROVER)
    key = {"Authorization": f"Bearer {secret}"}
    with pytest.raises(WebSocketDisconnect) as refused, world.websocket_connect(
            "/ws/chat", headers={**key, "Origin": "https://evil.example"}) as ws:
        ws.receive_json()
    assert refused.value.code == 1008
    for origin in ({"Origin": "http://testserver"}, {}):  # OASIS's own page; a program
        with world.websocket_connect("/ws/chat", headers={**key, **origin}) as ws:
            ws.send_json({"type": "ping", "id": "p1"})
            assert {m["type"] for m in (ws.receive_json(), ws.receive_json())} >= {"pong"}


def test_each_event_and_ticket_has_a_page_of_its_own(world: TestClient) -> None:
    event = json.loads(README_SAMPLE_1)
    event["eventArn"] += "_pages"
    key = send_event(world, event)["key"]
    ticket = world.app.state.triage.tickets.for_event(key)[0]
    client = as_user(world, "vic")
    shown = client.get("/events", params={"key": key})
    assert shown.status_code == 200
    assert f'href="/tickets/{ticket.id}"' in shown.text and ticket.title in shown.text
    assert key in shown.text
    page = client.get(f"/tickets/{ticket.id}")
    assert page.status_code == 200 and ticket.title in page.text
    assert ticket.description.splitlines()[0][:40] in page.text
    assert f"/events?key={quote(key, safe='/')}" in page.text
    assert 'data-testid="ticket-to-acknowledged" disabled' in page.text  # a viewer
    assert client.get("/tickets/tkt-nope").status_code == 404
    assert client.get("/events", params={"key": "no-such-event"}).status_code == 404
    listing = client.get("/tickets").text
    assert f'href="/tickets/{ticket.id}"' in listing
    bogus = client.get("/events", params={"verdict": "bogus"})
    assert bogus.status_code == 400 and "accept, discharge, reject, ask" in bogus.text
