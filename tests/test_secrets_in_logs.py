"""Secrets never reach the logs: approval tokens are `/approve/<redacted>` in the access log,
API keys lose their secret part, and a whole demo run with every kind of secret configured
(session key, Slack signing secret and bot token, model key, SMTP password, the demo's own
API key and approval links) logs none of them. A validly signed token holding values out of
range is a 4xx, never a 5xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import re
import secrets
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from uvicorn.logging import AccessFormatter

from oasis.api import create_app
from oasis.api.security import redact
from oasis.auth import Role
from oasis.cli import app as cli
from oasis.config import Settings
from tests.helpers import wait_until
from tests.servers import free_port

API_KEY = re.compile(r"oasis_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")
TOKEN = re.compile(r"/approve/(?!<redacted>)[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")


def test_the_filter_redacts_arguments_that_are_not_strings(caplog) -> None:
    from oasis.api.security import install_log_redaction

    install_log_redaction()
    with caplog.at_level("INFO", logger="httpx"):
        logging.getLogger("httpx").info(
            "HTTP Request: %s %s %d", "GET", httpx.URL("http://h/approve/abc.def"), 200
        )
    assert caplog.messages == ["HTTP Request: GET http://h/approve/<redacted> 200"]


def test_redact_hides_approval_tokens_and_api_key_secrets() -> None:
    line = (
        '127.0.0.1:5 - "GET /approve/eyJpIjoiaW5jLTEifQ.c2lnbmF0dXJl?x=1 HTTP/1.1" 200 '
        "key oasis_0123456789ab_" + "s" * 43
    )
    assert redact(line) == (
        '127.0.0.1:5 - "GET /approve/<redacted>?x=1 HTTP/1.1" 200 key oasis_0123456789ab_<redacted>'
    )


@pytest.fixture
def access_log(tmp_path) -> Iterator[tuple[str, io.StringIO, TestClient]]:
    """A real uvicorn server with its access log on, the log written to a buffer."""
    settings = Settings(data_dir=tmp_path / "data", notify={"email_enabled": False})
    app = create_app(settings, monitor=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(
        AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    )
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _up(url), 60, what="the server to start")
    try:
        yield url, buffer, app
    finally:
        server.should_exit = True
        thread.join(10)
        access.removeHandler(handler)


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_access_log_shows_approve_redacted_never_the_token(access_log) -> None:
    url, buffer, app = access_log
    token = app.state.signer.sign("inc-1", "act-1", _decision("approve"), _in_an_hour())
    key = app.state.auth.users.create_api_key("bot", Role.VIEWER)[1]
    httpx.get(f"{url}/approve/{token}")
    httpx.post(f"{url}/approve/{token}", data={"name": "someone"})
    httpx.get(f"{url}/api/v1/incidents?key={key}")
    wait_until(lambda: buffer.getvalue().count("\n") >= 4, 30, what="the access log lines")
    logged = buffer.getvalue()
    assert token not in logged and token.split(".")[1] not in logged
    assert logged.count("/approve/<redacted>") == 2
    assert key not in logged and "oasis_" in logged


def _decision(value: str):
    from oasis.approve import Decision

    return Decision(value)


def _in_an_hour():
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(hours=1)


# -- tokens holding values out of range ------------------------------------------------


def _signed(secret: bytes, claims: dict) -> str:
    payload = json.dumps(claims).encode()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(payload)}.{b64(hmac.new(secret, payload, hashlib.sha256).digest())}"


GOOD = {"i": "inc-1", "a": "act-1", "d": "approve", "n": "nonce", "e": 4_000_000_000}
OUT_OF_RANGE = [
    {"e": 9e17},
    {"e": -9e17},
    {"e": 1e308},
    {"e": 10**30},
    {"e": "tomorrow"},
    {"e": None},
    {"e": [1]},
    {"i": 12345},
    {"i": "x" * 5000},
    {"a": {"x": 1}},
    {"n": None},
    {"n": ""},
    {"d": "maybe"},
    {"d": 1},
]


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", notify={"email_enabled": False}, auth={"enabled": True}
    )
    with TestClient(create_app(settings, monitor=False), follow_redirects=False) as c:
        yield c


@pytest.mark.parametrize("change", OUT_OF_RANGE, ids=lambda c: repr(c)[:40])
def test_a_signed_approval_token_out_of_range_is_a_4xx(client: TestClient, change) -> None:
    token = _signed(client.app.state.ledger.shared_secret(), {**GOOD, **change})
    shown = client.get(f"/approve/{token}")
    done = client.post(f"/approve/{token}", data={"name": "someone"})
    # Malformed (400), not a lookup of a made-up incident (404) nor a crash (500).
    assert shown.status_code == 400, shown.text
    assert done.status_code == 400, done.text
    assert "malformed" in shown.text


@pytest.mark.parametrize(
    "change",
    [{"e": 9e17}, {"e": "x"}, {"n": 5}, {"r": "overlord"}, {"r": None}, {"n": ["alice"]}],
    ids=repr,
)
def test_a_signed_session_cookie_out_of_range_is_a_401(client: TestClient, change) -> None:
    auth = client.app.state.auth
    secret = auth.signer._tokens._secret
    cookie = _signed(secret, {"n": "alice", "r": "admin", "e": 4_000_000_000, **change})
    client.cookies.set("oasis_session", cookie)
    assert client.get("/api/v1/incidents").status_code == 401


# -- a whole demo run --------------------------------------------------------------------


@pytest.mark.slow
def test_a_demo_run_logs_none_of_its_secrets(tmp_path) -> None:
    used = {
        name: f"{name}-{secrets.token_urlsafe(24)}"
        for name in ("session", "signing", "model", "smtp")
    }
    used["bot"] = f"xoxb-{secrets.token_urlsafe(24)}"
    closed = free_port()  # nothing listens: the model and Slack calls fail, and are logged
    env = {
        "OASIS_DATA_DIR": str(tmp_path),
        "OASIS_AUTH__ENABLED": "true",
        "OASIS_AUTH__SECRET": used["session"],
        "OASIS_SLACK__SIGNING_SECRET": used["signing"],
        "OASIS_SLACK__BOT_TOKEN": used["bot"],
        "OASIS_SLACK__API_URL": f"http://127.0.0.1:{closed}/api/",
        "OASIS_MODEL__PROVIDER": "openai",
        "OASIS_MODEL__API_KEY": used["model"],
        "OASIS_MODEL__BASE_URL": f"http://127.0.0.1:{closed}/v1",
        "OASIS_MODEL__MAX_RETRIES": "0",
        "OASIS_NOTIFY__SMTP__USERNAME": "oasis",
        "OASIS_NOTIFY__SMTP__PASSWORD": used["smtp"],
        "OASIS_NOTIFY__SMTP__SECURITY": "starttls",
    }
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        result = CliRunner().invoke(
            cli,
            [
                "demo",
                "--speed",
                "600",
                "--approve-after",
                "0",
                "--duration",
                "90",
                "--port",
                str(free_port()),
                "--control-port",
                str(free_port()),
                "--smtp-port",
                str(free_port()),
            ],
            env=env,
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert result.exit_code == 0, result.output
    # The loop ran through: a link was mailed, opened and confirmed.
    assert "demo approver" in result.output, result.output
    logs = captured.getvalue() + result.output
    assert "/approve/<redacted>" in captured.getvalue()  # httpx's request lines, redacted
    for name, secret in used.items():
        assert secret not in logs, f"the {name} secret is in the logs"
    assert API_KEY.findall(logs) == []
    assert TOKEN.findall(logs) == []
    from oasis.notify.catcher import MailCatcher, text_of

    mails = [text_of(m) for m in MailCatcher(tmp_path / "demo" / "mail").messages()]
    assert any(TOKEN.search(m) for m in mails), "the approval mail carries the link"
