"""Roles over the API with auth on: a viewer reads but cannot approve, reject, accept or
discharge; an approver can, and is recorded under their own name whatever the body claims."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from tests.helpers import FLEET_NOWHERE, seed_bad_deploy_incident, wait_until


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", auth={"enabled": True},
                        notify={"email_enabled": False}, respond={"interval_seconds": 0.2},
                        remediate=FLEET_NOWHERE)
    seed_bad_deploy_incident(settings)
    with TestClient(create_app(settings)) as c:
        yield c


def key(client: TestClient, role: str, name: str) -> dict[str, str]:
    _id, secret = client.app.state.auth.users.create_api_key(name, role)
    return {"Authorization": f"Bearer {secret}"}


def waiting_action(client: TestClient, headers) -> str:
    """The id of the action the response loop proposes, once the incident waits for a
    decision on it (the action is stored a moment before the incident moves)."""
    def waiting() -> dict | None:
        incident = client.get("/api/v1/incidents/inc-1", headers=headers).json()
        return incident if incident["status"] == "pending_approval" else None

    return wait_until(waiting, what="the proposal")["actions"][0]["id"]


def test_viewer_reads_but_cannot_decide(client: TestClient) -> None:
    viewer = key(client, "viewer", "victor")
    action = waiting_action(client, viewer)
    url = f"/api/v1/incidents/inc-1/actions/{action}"
    assert client.post(f"{url}/approve", json={"actor": "victor"}).status_code == 401
    refused = client.post(f"{url}/approve", json={"actor": "boss"}, headers=viewer)
    assert refused.status_code == 403 and "approver role needed" in refused.json()["detail"]
    assert client.post(f"{url}/reject", json={"actor": "x"}, headers=viewer).status_code == 403
    assert client.post("/api/v1/incidents/inc-1/resolve", json={"actor": "x"},
                       headers=viewer).status_code == 403
    assert client.get("/api/v1/incidents/inc-1", headers=viewer).json()["status"] == (
        "pending_approval")


def test_approver_decides_under_their_own_name(client: TestClient) -> None:
    approver = key(client, "approver", "alice")
    action = waiting_action(client, approver)
    done = client.post(f"/api/v1/incidents/inc-1/actions/{action}/reject",
                       json={"actor": "somebody-else"}, headers=approver)
    assert done.status_code == 200 and done.json()["status"] == "rejected"
    incident = client.get("/api/v1/incidents/inc-1", headers=approver).json()
    assert incident["actions"][0]["decided_by"] == "alice"


def test_slack_buttons_decide_only_for_slack_users_with_the_approver_role(tmp_path) -> None:
    import json
    import time
    from urllib.parse import urlencode

    from oasis.slack.verify import sign

    secret = "slack-signing-secret"
    settings = Settings(data_dir=tmp_path / "data", notify={"email_enabled": False},
                        slack={"signing_secret": secret}, respond={"interval_seconds": 0.2},
                        remediate=FLEET_NOWHERE)
    seed_bad_deploy_incident(settings)

    def click(client: TestClient, user: str, action: str) -> None:
        payload = {"type": "block_actions", "user": {"id": user}, "actions": [{
            "action_id": "reject", "value": json.dumps({"incident_id": "inc-1",
                                                        "action_id": action})}]}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(time.time()))
        response = client.post("/slack/interactive", content=body, headers={
            "content-type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(secret, stamp, body)})
        assert response.status_code == 200

    with TestClient(create_app(settings)) as client:
        client.app.state.auth.users.create_user("slack-UAPPROVER", "approver", "long-password")
        action = waiting_action(client, {})
        click(client, "UVIEWER", action)
        assert client.get("/api/v1/incidents/inc-1").json()["status"] == "pending_approval"
        click(client, "UAPPROVER", action)

        def rejected() -> dict | None:
            incident = client.get("/api/v1/incidents/inc-1").json()
            return incident if incident["status"] == "rejected" else None

        incident = wait_until(rejected, what="the rejection")
        assert incident["actions"][0]["decided_by"] == "slack:UAPPROVER"
        unsigned = client.post("/slack/interactive", content=b"payload=%7B%7D",
                               headers={"content-type": "application/x-www-form-urlencoded"})
        assert unsigned.status_code == 401
