"""OHERO end to end over HTTP and real SMTP: the README's two sample events and a Security
Hub finding are acknowledged, ticketed to the right teams, mailed and audited; sent again
they change nothing; bad input gets a clear 4xx."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.notify.catcher import MailCatcher, free_port
from tests.helpers import wait_until
from tests.test_triage_events import README_SAMPLE_1, README_SAMPLE_2, finding

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, MailCatcher]]:
    port = free_port()
    with MailCatcher(tmp_path / "mail", port=port) as catcher:
        settings = Settings(data_dir=tmp_path / "data", triage={"organisation_file": ORG},
                            notify={"smtp": {"port": port}}, respond={"interval_seconds": 0.2})
        with TestClient(create_app(settings)) as client:
            yield client, catcher


def send(client: TestClient, payload, wait: bool = True):
    return client.post("/api/v1/events", params={"wait": wait}, content=json.dumps(payload),
                       headers={"content-type": "application/json"})


def samples() -> list[dict]:
    return [json.loads(README_SAMPLE_1), json.loads(README_SAMPLE_2), finding(1)]


def test_readme_samples_and_a_finding_go_through_end_to_end(world) -> None:
    client, catcher = world
    results = [send(client, p).json()["results"][0] for p in samples()]
    assert all(r["received"] == "new" for r in results)
    lifecycle, issue, found = results
    assert lifecycle["verdict"] == "accept" and lifecycle["tickets_created"]
    assert issue["verdict"] == "accept"  # production account named in the sample
    assert found["verdict"] == "accept" and "sec01" in found["teams"]
    tickets = client.get("/api/v1/tickets").json()
    by_event = {}
    for t in tickets:
        by_event.setdefault(t["event_key"], []).append(t)
    for r in results:
        if r["verdict"] == "accept":
            owners = [t for t in by_event[r["key"]] if t["role"] == "owner"]
            assert len(owners) == 1, r  # exactly one owner team per event
    eks = by_event[lifecycle["key"]]
    assert {t["team"] for t in eks if t["role"] == "owner"} == {"app01"}  # EKS: applications
    event = client.get(f"/api/v1/events/{lifecycle['key']}").json()
    assert event["verdict"] == "accept" and "production" in event["reason"]
    assert {t["id"] for t in event["tickets"]} == {t["id"] for t in eks}

    wait_until(lambda: len(catcher.messages()) >= len(tickets), what="the ticket emails")
    subjects = [m["subject"] for m in catcher.messages()]
    assert len(subjects) == len(tickets) and all("ticket" in s for s in subjects)
    to = {(m["to"], m["subject"].split(" for ")[1].split(" ")[0]) for m in catcher.messages()}
    assert ("app-team@example.com", "Applications") in to  # each team at its own address
    assert ("secops@example.com", "SecOps") in to  # the finding: security is told

    before = {t["id"]: t for t in client.get("/api/v1/tickets").json()}
    again = [send(client, p).json()["results"][0] for p in samples()]
    assert [r["received"] for r in again] == ["unchanged"] * 3
    after = {t["id"]: t for t in client.get("/api/v1/tickets").json()}
    assert after == before  # nothing changed, nothing new
    assert client.get(f"/api/v1/events/{lifecycle['key']}").json()["seen"] == 2

    newer = json.loads(README_SAMPLE_1)
    newer["lastUpdatedTime"] = "Thu, 30 Nov 2023 10:00:00 GMT"
    updated = send(client, newer).json()["results"][0]
    assert updated["received"] == "updated" and not updated["tickets_created"]
    assert set(updated["tickets_updated"]) == {t["id"] for t in eks}


    audit = client.app.state.services.audit  # keyed with the server's audit key
    kinds = {r.kind for r in audit.records(subject=lifecycle["key"])}
    assert {"event.received", "event.acknowledged", "event.triaged"} <= kinds
    assert audit.verify().ok


def test_the_queue_processes_what_it_accepts(world) -> None:
    client, _ = world
    accepted = send(client, samples(), wait=False)
    assert accepted.status_code == 202 and len(accepted.json()["keys"]) == 3
    client.app.state.triage.queue.join()
    assert len(client.get("/api/v1/events").json()) == 3


def test_a_person_settles_what_the_policy_cannot(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", notify={"email_enabled": False},
                        triage={"organisation_file": ORG, "allow_interaction": True})
    nameless = json.loads(README_SAMPLE_2)
    nameless.pop("affectedAccount", None)
    nameless["eventScopeCode"] = "ACCOUNT_SPECIFIC"
    nameless["affectedEntities"] = []
    with TestClient(create_app(settings)) as client:
        result = send(client, nameless).json()["results"][0]
        assert result["verdict"] == "ask"
        decided = client.post("/api/v1/events/accept",
                              json={"key": result["key"], "actor": "alice", "note": "ours"})
        assert decided.status_code == 200 and decided.json()["verdict"] == "accept"
        assert client.post("/api/v1/events/discharge", json={
            "key": result["key"], "actor": "bob"}).status_code == 409


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"{not json", 422, "not valid JSON"),
    (json.dumps({"hello": "world"}).encode(), 422, ""),
    (json.dumps({"eventArn": "arn:aws:health:x", "service": 5}).encode(), 422, ""),
    (b"[" + b",".join([json.dumps({"pad": "x" * 1000}).encode()] * 2000) + b"]", 413, "KB"),
])
def test_bad_input_gets_a_clear_4xx(world, body: bytes, status: int, message: str) -> None:
    client, _ = world
    response = client.post("/api/v1/events", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code == status
    assert message in response.json()["detail"] and response.json()["detail"]


def test_wrong_types_name_the_field(world) -> None:
    client, _ = world
    bad = copy.deepcopy(json.loads(README_SAMPLE_1))
    bad["affectedAccount"] = 111122223333
    response = send(client, bad)
    assert response.status_code == 422 and "affectedAccount" in response.json()["detail"]


def test_without_an_organisation_file_triage_runs_on_the_built_in_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", notify={"email_enabled": False})
    with TestClient(create_app(settings, monitor=False)) as client:
        named = send(client, json.loads(README_SAMPLE_1))
        reported = client.post("/api/v1/events/report", params={"wait": True}, json={
            "text": "Checkout pages time out for customers in eu-west-1",
            "reporter": "alice"})
        listed = client.get("/api/v1/events")
    # Its one team has no accounts: an event naming an account is unknown, said so.
    assert named.status_code == 200, named.text
    result = named.json()["results"][0]
    assert result["verdict"] == "reject" and "unknown account" in result["reason"]
    assert reported.status_code == 200, reported.text
    assert listed.status_code == 200 and len(listed.json()) == 2


def test_ticket_status_moves_in_order_only(world) -> None:
    client, _ = world
    send(client, json.loads(README_SAMPLE_1))
    ticket = client.get("/api/v1/tickets").json()[0]
    url = f"/api/v1/tickets/{ticket['id']}/status"
    skip = client.post(url, json={"status": "Resolved", "actor": "alice"})
    assert skip.status_code == 409
    ok = client.post(url, json={"status": "Acknowledged", "actor": "alice"})
    assert ok.status_code == 200 and ok.json()["status"] == "Acknowledged"
    assert client.post(url, json={"status": "Bogus", "actor": "a"}).status_code == 422
    assert client.post("/api/v1/tickets/nope/status",
                       json={"status": "Acknowledged", "actor": "a"}).status_code == 404
    assert client.get("/api/v1/tickets", params={"status": "Bogus"}).status_code == 422


def test_words_from_people_are_routed_to_triage_or_consult(world) -> None:
    from oasis.triage.act import classify

    assert classify("checkout is down in 111122223333 since 10:00")[0] == "report"
    assert classify("We are seeing 5xx from the payments API")[0] == "report"
    assert classify("How do we upgrade EKS clusters?")[0] == "consult"
    assert classify("What should I do when an outage is declared?")[0] == "consult"
    client, _ = world
    reported = client.post("/api/v1/act", json={
        "text": "payments API is down for account 444333222111, please open a ticket",
        "reporter": "dana"}).json()
    assert reported["route"] == "report" and reported["verdict"] == "accept"
    assert reported["tickets"] and "dana" in reported["reply"]
    asked = client.post("/api/v1/act", json={"text": "How do we upgrade EKS?",
                                              "reporter": "dana"}).json()
    assert asked["route"] == "consult" and asked["reply"]


def test_triaged_events_are_remembered_for_later_questions(world) -> None:
    client, _ = world
    send(client, json.loads(README_SAMPLE_1))
    answer = client.post("/api/v1/consult", json={
        "question": "Have we had an EKS Kubernetes version deprecation before, and who "
                    "handled it?"}).json()
    remembered = json.dumps(answer.get("memory", [])) + json.dumps(answer.get("citations", []))
    assert "EKS" in remembered
    assert "app01" in remembered or "Applications" in remembered


@pytest.mark.parametrize(("says", "verdict"), [(True, "accept"), (False, "discharge"),
                                               (None, "discharge")])
def test_a_model_may_raise_cost_impact_never_lower_it(tmp_path: Path, says, verdict) -> None:
    from tests.fakes.llm_servers import Script, openai_app
    from tests.servers import serving

    turn = ({"status": 500} if says is None else {"tool_calls": [{"name": "CostVerdict", "input": {
        "potential_cost_impact": says, "reason": "instances will be billed after the move"}}]})
    script = Script([turn, turn])
    nonprod = json.loads(README_SAMPLE_1)
    nonprod["affectedAccount"] = "555566667777"  # non-production: rules alone discharge
    for entity in nonprod["affectedEntities"]:
        entity["entityValue"] = entity["entityValue"].replace("111122223333", "555566667777")
    with serving(openai_app(script)) as url:
        settings = Settings(data_dir=tmp_path / "d", notify={"email_enabled": False},
                            triage={"organisation_file": ORG},
                            model={"provider": "openai", "base_url": url + "/v1",
                                   "model_id": "fake", "max_retries": 0})
        with TestClient(create_app(settings)) as client:
            result = send(client, nonprod).json()["results"][0]
    assert result["verdict"] == verdict
    if says:
        assert "fin01" in result["teams"]  # FinOps is a stakeholder of cost impact
    assert "<untrusted" in json.dumps(script.bodies)
