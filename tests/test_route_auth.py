"""With auth on, every route of the service refuses a request without credentials, except
an explicit public list (oasis.api.access.PUBLIC): a route added later cannot be open by
accident. An `ingest` key (a sender's) may push on the push routes (oasis.api.access.PUSH)
and is refused everywhere else, so a leaked sender key can neither read nor decide."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from oasis.api import create_app
from oasis.api.access import PUBLIC, PUSH
from oasis.auth import AuthError, Role
from oasis.config import Settings


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        auth={"enabled": True},
        notify={"email_enabled": False},
        slack={"signing_secret": "s" * 32, "bot_token": "xoxb-test"},
    )
    with TestClient(create_app(settings, monitor=False), follow_redirects=False) as c:
        yield c


def http_routes(routes) -> Iterator[tuple[str, str]]:
    """(method, path) of every HTTP route, through included routers at any depth."""
    for route in routes:
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            continue
        if hasattr(route, "original_router"):  # an included router (FastAPI 0.165)
            yield from http_routes(route.original_router.routes)
        elif isinstance(route, APIRoute | Route):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield method, route.path


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _to_login(response) -> bool:
    """The console's pages send a browser to the login page instead of a 401."""
    return response.status_code in (302, 303, 307) and response.headers.get(
        "location", ""
    ).startswith("/login")


def test_every_route_needs_credentials_unless_listed_public(client: TestClient) -> None:
    checked, open_routes = 0, []
    for method, path in http_routes(client.app.routes):
        if (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path), json={})
        checked += 1
        if response.status_code != 401 and not _to_login(response):
            open_routes.append(f"{method} {path} -> {response.status_code}")
    assert checked >= 20
    assert open_routes == []


def test_the_public_and_push_lists_name_only_routes_that_exist(client: TestClient) -> None:
    routes = set(http_routes(client.app.routes))
    assert routes >= PUBLIC
    assert routes >= PUSH
    assert not PUBLIC & PUSH


def _ingest_key(client: TestClient) -> dict[str, str]:
    key = client.app.state.auth.users.create_api_key("collector", Role.INGEST)[1]
    return {"authorization": f"Bearer {key}"}


def test_an_ingest_key_is_refused_on_every_route_but_the_push_routes(client: TestClient) -> None:
    headers, let_in = _ingest_key(client), []
    for method, path in http_routes(client.app.routes):
        if (method, path) in PUBLIC | PUSH:
            continue
        response = client.request(method, _concrete(path), json={}, headers=headers)
        if response.status_code != 403:
            let_in.append(f"{method} {path} -> {response.status_code}")
    assert let_in == []
    refused = client.get("/api/v1/incidents", headers=headers)
    assert "ingest key may only send" in refused.json()["detail"]


def test_an_ingest_key_may_push_signals_otlp_and_events(client: TestClient) -> None:
    headers = _ingest_key(client)
    now = datetime.now(UTC).isoformat()
    signals = client.post(
        "/api/v1/signals",
        headers=headers,
        json=[
            {
                "kind": "log",
                "service": "checkout",
                "timestamp": now,
                "level": "error",
                "message": "payment gateway timed out",
            }
        ],
    )
    assert signals.status_code == 200, signals.text
    assert signals.json()["accepted"] == 1
    for kind in ("logs", "metrics", "traces"):
        otlp = client.post(
            f"/v1/{kind}", headers={**headers, "content-type": "application/json"}, content=b"{}"
        )
        assert otlp.status_code == 200, (kind, otlp.text)
    alert = client.post(
        "/api/v1/events",
        headers=headers,
        json={
            "version": "4",
            "status": "firing",
            "receiver": "oasis",
            "groupKey": "g",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighErrorRate", "severity": "critical"},
                    "annotations": {"summary": "errors"},
                    "startsAt": now,
                    "fingerprint": "f1",
                }
            ],
        },
    )
    assert alert.status_code == 202, alert.text


def test_an_ingest_key_cannot_open_the_console_or_the_chat(client: TestClient) -> None:
    headers = _ingest_key(client)
    assert client.get("/", headers=headers).status_code == 403
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(
            "/ws/chat", headers={**headers, "origin": "http://testserver"}
        ) as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 1008


def test_people_cannot_be_given_the_ingest_role(client: TestClient) -> None:
    users = client.app.state.auth.users
    with pytest.raises(AuthError, match="for API keys only"):
        users.create_user("eve", Role.INGEST, "long enough password")
    users.create_user("bob", Role.VIEWER, "long enough password")
    with pytest.raises(AuthError, match="for API keys only"):
        users.set_role("bob", Role.INGEST)
