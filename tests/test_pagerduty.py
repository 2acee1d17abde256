"""OASIS as a PagerDuty Events API v2 endpoint, tested from the published API description
(developer.pagerduty.com, "Send Alert Event" / "Send Change Event"): trigger, duplicate
trigger, acknowledge, resolve, trigger after resolve, routing keys, missing fields, a
list with one bad event, and change events kept for incident analysis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.triage.org import OrganisationError

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"
KEY = "0123456789abcdef0123456789abcdef"  # PagerDuty integration keys are 32 characters
OTHER_KEY = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        notify={"email_enabled": False},
        triage={
            "organisation_file": ORG,
            "pagerduty": [
                {
                    "name": "grafana-edge",
                    "routing_key": KEY,
                    "team": "inf01",
                    "labels": {"environment": "production"},
                }
            ],
        },
    )
    with TestClient(create_app(settings)) as c:
        yield c


def trigger(dedup_key: str | None = "edge-5xx", **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": KEY,
        "event_action": "trigger",
        "payload": {
            "summary": "edge proxy 5xx above 5%",
            "source": "edge-proxy-1.eu",
            "severity": "critical",
            "component": "edge-proxy",
            "group": "edge",
            "class": "http-errors",
            "custom_details": {"ratio": 0.12, "cluster": "edge-eu"},
            **payload,
        },
        "client": "Grafana",
        "client_url": "https://grafana.example.com",
        "links": [{"href": "https://grafana.example.com/d/edge", "text": "Dashboard"}],
        "images": [{"src": "https://grafana.example.com/render/edge.png", "alt": "5xx"}],
    }
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return body


def action(name: str, dedup_key: str = "edge-5xx") -> dict[str, Any]:
    return {"routing_key": KEY, "event_action": name, "dedup_key": dedup_key}


def enqueue(client: TestClient, body: Any):
    return client.post("/v2/enqueue", json=body)


def tickets(client: TestClient, dedup_key: str = "edge-5xx") -> list[dict[str, Any]]:
    return client.get(f"/api/v1/events/pagerduty:grafana-edge:{dedup_key}").json()["tickets"]


def test_trigger_answers_as_pagerduty_and_opens_tickets_for_the_integration_team(
    client: TestClient,
) -> None:
    response = enqueue(client, trigger())
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "edge-5xx",
    }
    opened = tickets(client)
    owner = next(t for t in opened if t["role"] == "owner")
    assert owner["team"] == "inf01" and owner["status"] == "New" and owner["severity"] == 5
    event = client.get("/api/v1/events/pagerduty:grafana-edge:edge-5xx").json()["event"]
    assert event["source"] == "pagerduty" and event["severity_label"] == "critical"
    assert event["service"] == "edge-proxy" and event["event_type"] == "http-errors"
    assert event["resources"][0]["id"] == "edge-proxy-1.eu"
    labels = event["labels"]
    assert labels["group"] == "edge" and labels["cluster"] == "edge-eu"
    assert labels["link.0"] == "https://grafana.example.com/d/edge"
    assert labels["image.0"] == "https://grafana.example.com/render/edge.png"
    assert labels["client"] == "Grafana" and labels["integration"] == "grafana-edge"
    assert "ratio: 0.12" in event["description"]


def test_the_whole_lifecycle_by_dedup_key(client: TestClient) -> None:
    enqueue(client, trigger())
    first = {t["id"] for t in tickets(client)}

    again = enqueue(client, trigger())  # PagerDuty dedups: same event, same tickets
    assert again.status_code == 202 and again.json()["dedup_key"] == "edge-5xx"
    assert {t["id"] for t in tickets(client)} == first
    assert len(client.get("/api/v1/tickets").json()) == len(first)
    assert client.get("/api/v1/events/pagerduty:grafana-edge:edge-5xx").json()["seen"] == 2

    acked = enqueue(client, action("acknowledge"))
    assert acked.status_code == 202 and acked.json()["message"] == "Event processed"
    owner = next(t for t in tickets(client) if t["role"] == "owner")
    assert owner["status"] == "Acknowledged"
    assert owner["history"][-1]["actor"] == "pagerduty:grafana-edge"

    resolved = enqueue(client, action("resolve"))
    assert resolved.status_code == 202 and resolved.json()["dedup_key"] == "edge-5xx"
    assert {t["status"] for t in tickets(client)} == {"Resolved"}
    assert enqueue(client, action("resolve")).status_code == 202  # twice: still fine

    reopened = enqueue(client, trigger(severity="warning"))
    assert reopened.status_code == 202
    after = tickets(client)
    assert {t["id"] for t in after} == first  # the same tickets, reopened
    assert {t["status"] for t in after} == {"New"}
    assert max(t["severity"] for t in after) == 5  # peak kept though now a warning


def test_a_trigger_without_dedup_key_gets_one_to_resolve_with(client: TestClient) -> None:
    response = enqueue(client, trigger(dedup_key=None))
    made = response.json()["dedup_key"]
    assert response.status_code == 202 and len(made) >= 16
    assert enqueue(client, action("resolve", made)).status_code == 202
    assert {t["status"] for t in tickets(client, made)} == {"Resolved"}


def test_unknown_dedup_keys_are_accepted_and_change_nothing(client: TestClient) -> None:
    for name in ("acknowledge", "resolve"):
        response = enqueue(client, action(name, "never-triggered"))
        assert response.status_code == 202 and response.json()["dedup_key"] == "never-triggered"
    assert client.get("/api/v1/tickets").json() == []


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({**trigger(), "routing_key": OTHER_KEY}, ["Invalid routing key"]),
        (
            {**trigger(), "routing_key": "short"},
            ["Length of 'routing_key' is incorrect (should be 32 characters)"],
        ),
        (
            {k: v for k, v in trigger().items() if k != "routing_key"},
            ["'routing_key' is missing or blank"],
        ),
        (
            {k: v for k, v in trigger().items() if k != "event_action"},
            ["'event_action' is missing or blank"],
        ),
        (
            {**trigger(), "event_action": "snooze"},
            ["'event_action' is invalid (must be one of trigger, acknowledge, resolve)"],
        ),
        (
            {**trigger(), "payload": {"source": "x"}},
            ["'payload.summary' is missing or blank", "'payload.severity' is missing or blank"],
        ),
        (
            {k: v for k, v in trigger().items() if k != "payload"},
            ["'payload' is missing or not an object"],
        ),
        (
            trigger(severity="fatal"),
            ["'payload.severity' is invalid (must be one of critical, error, warning, info)"],
        ),
        (trigger(timestamp="yesterday"), None),
        (
            {"routing_key": KEY, "event_action": "resolve"},
            ["'dedup_key' is required for event_action resolve"],
        ),
        ([], ["no events in the list"]),
        ("trigger", ["Event object must be a JSON object, not a string"]),
    ],
)
def test_invalid_events_are_400_with_every_error(
    client: TestClient, body: Any, errors: list[str] | None
) -> None:
    response = enqueue(client, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "invalid event" and answer["message"] == "Event object is invalid"
    if errors is None:
        assert answer["errors"][0].startswith("'payload.timestamp' is invalid")
    else:
        assert answer["errors"] == errors
    assert client.get("/api/v1/tickets").json() == []


def test_a_body_that_is_not_json_is_an_invalid_event(client: TestClient) -> None:
    response = client.post(
        "/v2/enqueue", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["errors"][0]


def test_a_list_with_one_bad_event_keeps_the_others(client: TestClient) -> None:
    bad = {**trigger("b"), "payload": {"summary": "no source", "severity": "error"}}
    response = enqueue(client, [trigger("a"), bad, trigger("c")])
    assert response.status_code == 202
    assert response.json() == {
        "status": "partial success",
        "message": "Events processed",
        "dedup_keys": ["a", "c"],
        "errors": ["event 1: 'payload.source' is missing or blank"],
    }
    assert tickets(client, "a") and tickets(client, "c")
    assert client.get("/api/v1/events/pagerduty:grafana-edge:b").status_code == 404


def test_change_events_are_kept_as_deployments_for_incident_analysis(client: TestClient) -> None:
    # Recent: ingest refuses records older than retention, and change events are records.
    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    change = {
        "routing_key": KEY,
        "payload": {
            "summary": "checkout 2.4.1 deployed",
            "source": "github-actions",
            "timestamp": when.isoformat().replace("+00:00", "Z"),
            "custom_details": {"service": "checkout", "version": "2.4.1", "author": "dana"},
        },
        "links": [{"href": "https://github.com/shop/checkout/pull/7", "text": "PR"}],
    }
    response = client.post("/v2/change/enqueue", json=change)
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Change event processed"}
    store = client.app.state.store
    found = store.deployments(when - timedelta(minutes=1), when + timedelta(minutes=1))
    assert [(d.service, d.version, d.author) for d in found] == [("checkout", "2.4.1", "dana")]
    assert found[0].description == "checkout 2.4.1 deployed"
    bad = client.post(
        "/v2/change/enqueue", json={"routing_key": OTHER_KEY, "payload": {"summary": "x"}}
    )
    assert bad.status_code == 400 and bad.json()["errors"] == ["Invalid routing key"]
    blank = client.post("/v2/change/enqueue", json={"routing_key": KEY, "payload": {}})
    assert blank.json()["errors"] == ["'payload.summary' is missing or blank"]


def test_an_integration_naming_an_unknown_team_is_refused_at_start(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        notify={"email_enabled": False},
        triage={
            "organisation_file": ORG,
            "pagerduty": [{"name": "x", "routing_key": KEY, "team": "ghost"}],
        },
    )
    with (
        pytest.raises(OrganisationError, match=r"triage.pagerduty \(x\): team 'ghost'"),
        TestClient(create_app(settings)),
    ):
        pass
