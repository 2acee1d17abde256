"""With auth on, every route of the service refuses a request without credentials, except
an explicit public list: a route added later cannot be open by accident."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import Route, WebSocketRoute

from oasis.api import create_app
from oasis.config import Settings

# Public on purpose: health, approval links (the signed token is the credential), the API
# description, the login page itself.
PUBLIC = {
    ("GET", "/healthz"), ("GET", "/approve/{token}"), ("POST", "/approve/{token}"),
    ("GET", "/openapi.json"), ("GET", "/docs"),
    ("GET", "/redoc"), ("GET", "/login"), ("POST", "/login"), ("GET", "/logout"),
}


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", auth={"enabled": True},
                        notify={"email_enabled": False})
    with TestClient(create_app(settings), follow_redirects=False) as c:
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


def test_every_route_needs_credentials_unless_listed_public(client: TestClient) -> None:
    checked, open_routes = 0, []
    for method, path in http_routes(client.app.routes):
        if (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path), json={})
        checked += 1
        # The console's pages send a browser to the login page instead of a 401.
        to_login = response.status_code in (302, 303, 307) and \
            response.headers.get("location", "").startswith("/login")
        if response.status_code != 401 and not to_login:
            open_routes.append(f"{method} {path} -> {response.status_code}")
    assert checked >= 20
    assert open_routes == []


def test_the_public_list_names_only_routes_that_exist(client: TestClient) -> None:
    assert set(http_routes(client.app.routes)) >= PUBLIC
