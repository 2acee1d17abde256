"""The API description: /docs and /redoc work with no internet access (their scripts come
from the installed package, not a CDN), and every POST documents the body it takes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route, expect

from oasis.api import create_app
from oasis.config import Settings
from tests.browser_setup import chromium
from tests.servers import serving

# POST routes that take no body at all; each must say why.
BODYLESS_POSTS: dict[str, str] = {}


def _settings(tmp: Path) -> Settings:
    return Settings(
        data_dir=tmp / "data", notify={"email_enabled": False}, knowledge={"embedder": "none"}
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    return create_app(_settings(tmp_path_factory.mktemp("docs")), monitor=False)


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize(("page", "script"), [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")])
def test_doc_pages_load_everything_from_this_server(
    client: TestClient, page: str, script: str
) -> None:
    html = client.get(page).text
    assets = _assets(html)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    # no inline script: a Content-Security-Policy of script-src 'self' must hold
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    bodies = {a: client.get(a) for a in assets}
    assert {a: r.status_code for a, r in bodies.items()} == dict.fromkeys(assets, 200)
    assert any(script in r.text for a, r in bodies.items() if a.endswith(".js"))


def test_every_post_documents_its_request_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    posts = {path: ops["post"] for path, ops in spec["paths"].items() if "post" in ops}
    assert "/api/v1/events" in posts and len(posts) >= 10
    missing = [p for p, op in posts.items() if "requestBody" not in op and p not in BODYLESS_POSTS]
    assert missing == []
    events = posts["/api/v1/events"]["requestBody"]["content"]["application/json"]
    assert {s.get("type") for s in events["schema"]["oneOf"]} == {"object", "array"}


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_swagger_ui_and_redoc_render_without_internet(app) -> None:
    with serving(app) as url, chromium() as browser:
        context = browser.new_context(base_url=url)
        outside: list[str] = []

        def offline(route: Route) -> None:
            # anything not on this server is what a machine without internet cannot fetch
            if urlparse(route.request.url).netloc != urlparse(url).netloc:
                # ReDoc's footer tries a logo from its CDN and hides it when that fails
                if route.request.resource_type != "image":
                    outside.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", offline)
        page = context.new_page()
        try:
            page.goto("/docs")
            expect(
                page.locator(
                    ".opblock-summary-path", has_text=re.compile(r"^/api/v1/events$")
                ).first
            ).to_be_visible(timeout=30_000)
            page.goto("/redoc")
            expect(page.get_by_role("heading", name="Receive Events")).to_be_visible(timeout=30_000)
        finally:
            context.close()
        assert outside == []
