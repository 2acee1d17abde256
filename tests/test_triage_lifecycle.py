"""An alert's lifecycle moves its tickets: resolved → Resolved (timeline, audit, a mail to
the team), firing again → reopened as New, and the ticket keeps its peak severity
throughout. Alertmanager webhooks and CloudWatch alarm state changes, over HTTP."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.notify.catcher import MailCatcher, free_port
from tests.helpers import wait_until
from tests.test_triage_events import alarm_event

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, MailCatcher]]:
    port = free_port()
    with MailCatcher(tmp_path / "mail", port=port) as catcher:
        settings = Settings(
            data_dir=tmp_path / "data",
            triage={"organisation_file": ORG},
            notify={"smtp": {"port": port}},
        )
        with TestClient(create_app(settings)) as client:
            yield client, catcher


def send(client: TestClient, payload: Any) -> dict[str, Any]:
    response = client.post("/api/v1/events", params={"wait": True}, json=payload)
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


def alert(
    status: str, starts: str, ends: str = "0001-01-01T00:00:00Z", severity: str = "critical"
) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="CheckoutErrors"}',
        "status": status,
        "receiver": "oasis",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "fingerprint": "feedface01",
                "labels": {
                    "alertname": "CheckoutErrors",
                    "severity": severity,
                    "service": "checkout",
                    "account_id": "111122223333",
                },
                "annotations": {"summary": "checkout 5xx above 5%"},
                "startsAt": starts,
                "endsAt": ends,
            }
        ],
    }


def tickets_of(client: TestClient, key: str) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/events/{key}").json()["tickets"]


def test_resolve_closes_and_refire_reopens_keeping_the_peak(world) -> None:
    client, catcher = world
    fired = send(client, alert("firing", "2024-03-01T11:50:00Z"))
    assert fired["verdict"] == "accept" and fired["tickets_created"]
    key = fired["key"]
    opened = {t["id"]: t for t in tickets_of(client, key)}
    owner = next(t for t in opened.values() if t["role"] == "owner")
    assert owner["status"] == "New" and owner["severity"] == 5  # critical, production
    wait_until(lambda: len(catcher.messages()) >= len(opened), what="the new-ticket mails")
    mails_before = len(catcher.messages())

    resolved = send(client, alert("resolved", "2024-03-01T11:50:00Z", "2024-03-01T12:05:00Z"))
    assert resolved["received"] == "updated" and resolved["verdict"] == "accept"
    assert set(resolved["tickets_resolved"]) == set(opened)
    after = {t["id"]: t for t in tickets_of(client, key)}
    assert {t["status"] for t in after.values()} == {"Resolved"}
    assert after[owner["id"]]["severity"] == 5  # the resolve does not rewrite it to 1
    assert "status → Resolved" in after[owner["id"]]["history"][-1]["change"]
    assert after[owner["id"]]["history"][-1]["actor"] == "source:alertmanager"
    event = client.get(f"/api/v1/events/{key}").json()
    assert event["history"][-1]["change"].startswith("resolved")
    wait_until(
        lambda: len(catcher.messages()) >= mails_before + len(opened),
        what="the resolved-ticket mails",
    )
    subjects = [m["subject"] for m in catcher.messages()[mails_before:]]
    assert all(s.startswith("[OASIS] Resolved ticket") for s in subjects), subjects

    again = send(client, alert("resolved", "2024-03-01T11:50:00Z", "2024-03-01T12:05:00Z"))
    assert again["received"] == "unchanged"  # Alertmanager repeats itself; nothing moves

    refired = send(client, alert("firing", "2024-03-01T12:30:00Z", severity="warning"))
    assert set(refired["tickets_reopened"]) == set(opened) and not refired["tickets_created"]
    reopened = {t["id"]: t for t in tickets_of(client, key)}
    assert {t["status"] for t in reopened.values()} == {"New"}
    # A warning now, but it was critical: the ticket keeps its peak.
    assert reopened[owner["id"]]["severity"] == 5
    assert any(h["change"].startswith("reopened") for h in reopened[owner["id"]]["history"])
    audit = client.app.state.services.audit
    kinds = [r.kind for r in audit.records(subject=key)]
    assert "event.resolved" in kinds
    statuses = [
        r.data["status"] for r in audit.records(subject=owner["id"]) if r.kind == "ticket.status"
    ]
    assert statuses == ["Resolved", "New"]
    # The ticket can be worked again from New, one step at a time.
    moved = client.post(
        f"/api/v1/tickets/{owner['id']}/status", json={"status": "Acknowledged", "actor": "alice"}
    )
    assert moved.status_code == 200 and moved.json()["severity"] == 5


def test_a_person_closed_ticket_still_resolves_and_discharged_stays_closed(world) -> None:
    client, _ = world
    key = send(client, alert("firing", "2024-03-01T11:50:00Z"))["key"]
    owner = next(t for t in tickets_of(client, key) if t["role"] == "owner")
    for status in ("Acknowledged", "In progress"):  # worked on: resolve closes from any step
        client.post(
            f"/api/v1/tickets/{owner['id']}/status", json={"status": status, "actor": "alice"}
        )
    others = [t for t in tickets_of(client, key) if t["role"] != "owner"]
    send(client, alert("resolved", "2024-03-01T11:50:00Z", "2024-03-01T12:05:00Z"))
    assert {t["status"] for t in tickets_of(client, key)} == {"Resolved"}
    assert others  # the informed teams' tickets closed too


def test_an_alert_first_seen_resolved_opens_nothing(world) -> None:
    client, _ = world
    result = send(client, alert("resolved", "2024-03-01T11:50:00Z", "2024-03-01T12:05:00Z"))
    assert result["verdict"] == "discharge" and "already resolved" in result["reason"]
    assert client.get("/api/v1/tickets").json() == []


def test_a_cloudwatch_alarm_back_to_ok_resolves_and_alarm_again_reopens(world) -> None:
    client, _ = world
    firing = alarm_event()
    key = send(client, firing)["key"]
    before = tickets_of(client, key)
    assert before and {t["status"] for t in before} == {"New"}
    peak = max(t["severity"] for t in before)

    ok = copy.deepcopy(firing)
    ok["detail"]["previousState"] = ok["detail"]["state"]
    ok["detail"]["state"] = {
        "value": "OK",
        "reason": "Threshold no longer crossed",
        "timestamp": "2024-03-01T12:20:00.000+0000",
    }
    assert send(client, ok)["tickets_resolved"]
    closed = tickets_of(client, key)
    assert {t["status"] for t in closed} == {"Resolved"}
    assert max(t["severity"] for t in closed) == peak

    again = copy.deepcopy(firing)
    again["detail"]["state"]["timestamp"] = "2024-03-01T13:00:00.000+0000"
    assert send(client, again)["tickets_reopened"]
    assert {t["status"] for t in tickets_of(client, key)} == {"New"}


def test_a_health_issue_closing_leaves_the_tickets_to_the_owner(world) -> None:
    """A closed AWS Health issue asks the owner to check recovery: not a resolve."""
    from tests.test_triage_events import README_SAMPLE_2

    client, _ = world
    issue = json.loads(README_SAMPLE_2)
    key = send(client, issue)["key"]
    closed = {**issue, "statusCode": "closed", "lastUpdatedTime": "Thu, 30 Nov 2023 10:00:00 GMT"}
    result = send(client, closed)
    assert not result["tickets_resolved"]
    assert {t["status"] for t in tickets_of(client, key)} == {"New"}


def test_one_bad_alert_is_not_a_lost_group(world) -> None:
    client, _ = world
    group = alert("firing", "2024-03-01T11:50:00Z")
    good = group["alerts"][0]
    group["alerts"] = [good, {**good, "fingerprint": "feedface02", "labels": {"severity": "x"}},
                       {**good, "fingerprint": "feedface03", "status": "pending"}]
    response = client.post("/api/v1/events", params={"wait": True}, json=group)
    assert response.status_code == 200
    body = response.json()
    assert [r["key"] for r in body["results"]] == ["alertmanager:feedface01"]
    assert body["rejected"] == [
        "alerts[1].labels.alertname: required field is missing",
        "alerts[2].status: expected 'firing' or 'resolved', got 'pending'"]
    listed = client.post("/api/v1/events", json=[group, {"hello": "world"}])
    assert listed.status_code == 202 and listed.json()["keys"] == ["alertmanager:feedface01"]
    assert len(listed.json()["rejected"]) == 3
    assert listed.json()["rejected"][0].startswith("item 0: alerts[1].labels.alertname")
    assert listed.json()["rejected"][2].startswith("item 1: payload: not a recognised event")
    nothing = client.post("/api/v1/events", json={**group, "alerts": group["alerts"][1:]})
    assert nothing.status_code == 422 and "alerts[0].labels.alertname" in nothing.json()["detail"]
