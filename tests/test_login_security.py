"""Logins are throttled per user and per address (driven by an injected clock, never by
sleeping), the session cookie is Secure unless the server listens only on loopback, and
console pages carry the security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.auth import Role
from oasis.auth.throttle import LoginLocked, LoginThrottle
from oasis.config import Settings

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_the_throttle_locks_after_free_failures_and_doubles_each_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=3, clock=clock)
    for _ in range(3):
        throttle.check("alice", "10.0.0.1")
        throttle.failed("alice", "10.0.0.1")
    throttle.check("alice", "10.0.0.1")  # three failures are free
    waits = []
    for _ in range(4):
        throttle.failed("alice", "10.0.0.1")
        with pytest.raises(LoginLocked) as locked:
            throttle.check("alice", "10.0.0.1")
        waits.append(locked.value.retry_after)
        clock.advance(locked.value.retry_after.total_seconds())
        throttle.check("alice", "10.0.0.1")  # the wait is over
    assert waits == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert locked.value.status == 429


def test_the_user_and_the_address_are_counted_apart() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=2, clock=clock)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # one user from many places
        throttle.failed("alice", address)
    with pytest.raises(LoginLocked):
        throttle.check("alice", "10.0.0.9")
    throttle.check("bob", "10.0.0.9")
    for name in ("u1", "u2", "u3"):  # many users from one place
        throttle.failed(name, "10.6.6.6")
    with pytest.raises(LoginLocked):
        throttle.check("carol", "10.6.6.6")
    throttle.succeeded("alice")  # a right password clears the user, not the address
    clock.advance(5)
    throttle.check("alice", "10.0.0.9")
    throttle.failed("alice", "10.0.0.9")  # alice starts from one failure again
    throttle.check("alice", "10.0.0.8")
    throttle.failed("x", "10.6.6.6")  # the address's fourth: its count went on
    with pytest.raises(LoginLocked):
        throttle.check("y", "10.6.6.6")


def test_the_throttle_caps_its_wait_and_forgets_old_failures() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=1, max_delay=timedelta(minutes=15), clock=clock, max_keys=50)
    for _ in range(40):
        throttle.failed("alice", "10.0.0.1")
    with pytest.raises(LoginLocked) as locked:
        throttle.check("alice", "10.0.0.1")
    assert locked.value.retry_after == timedelta(minutes=15)
    clock.advance(3600)
    throttle.check("alice", "10.0.0.1")
    for i in range(200):  # made-up names cannot grow the memory without bound
        throttle.failed(f"user{i}", f"10.1.{i // 250}.{i % 250}")
    assert len(throttle._failures) <= 50


@pytest.fixture
def app_client(tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        notify={"email_enabled": False},
        auth={"enabled": True, "login_free_failures": 3},
    )
    with TestClient(create_app(settings, monitor=False), follow_redirects=False) as client:
        client.app.state.auth.users.create_user("alice", Role.VIEWER, PASSWORD)
        yield client


def _login(client: TestClient, password: str, name: str = "alice"):
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token, "next": "/"}
    )


def test_repeated_wrong_passwords_lock_the_login_even_for_the_right_one(
    app_client: TestClient,
) -> None:
    clock = Clock()
    app_client.app.state.auth.throttle.clock = clock
    assert [_login(app_client, "wrong password").status_code for _ in range(4)] == [
        401,
        401,
        401,
        401,
    ]
    locked = _login(app_client, PASSWORD)
    assert locked.status_code == 429
    assert "too many failed logins" in locked.text
    assert int(locked.headers["retry-after"]) >= 1
    clock.advance(int(locked.headers["retry-after"]))
    assert _login(app_client, PASSWORD).status_code == 303
    audit = app_client.app.state.services.audit
    kinds = [r.kind for r in audit.records()]
    assert kinds.count("auth.login_failed") == 4
    assert kinds.count("auth.login_locked") == 1


def test_failed_logins_are_logged_without_the_password(app_client: TestClient, caplog) -> None:
    with caplog.at_level("WARNING", logger="oasis.auth"):
        _login(app_client, "hunter2-guess")
    assert "failed login for 'alice'" in caplog.text
    assert "hunter2-guess" not in caplog.text


@pytest.mark.parametrize(
    ("host", "configured", "secure"),
    [
        ("127.0.0.1", None, False),
        ("::1", None, False),
        ("localhost", None, False),
        ("0.0.0.0", None, True),
        ("10.1.2.3", None, True),
        ("127.0.0.1", True, True),
        ("0.0.0.0", False, False),
    ],
)
def test_the_session_cookie_is_secure_unless_served_on_loopback(
    tmp_path, host: str, configured: bool | None, secure: bool
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        notify={"email_enabled": False},
        server={"host": host},
        auth={"enabled": True, "cookie_secure": configured},
    )
    with TestClient(create_app(settings, monitor=False), follow_redirects=False) as client:
        client.app.state.auth.users.create_user("alice", Role.VIEWER, PASSWORD)
        cookie = _login(client, PASSWORD).headers["set-cookie"]
    assert cookie.startswith("oasis_session=")
    assert ("; secure" in cookie.lower()) is secure


def test_console_and_api_answers_carry_the_security_headers(app_client: TestClient) -> None:
    for path in ("/login", "/api/v1/incidents", "/healthz", "/static/console.css"):
        headers = app_client.get(path).headers
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
        assert (
            "script-src 'self';" in policy
            and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        ), path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    docs = app_client.get("/docs").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs and "script-src" not in docs


def test_no_console_page_or_template_has_inline_script() -> None:
    from importlib import resources

    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", re.I)
    found = []
    for package in ("oasis.web", "oasis.api"):
        root = resources.files(package)
        for folder in ("templates", "static"):
            where = root.joinpath(folder)
            if not where.is_dir():
                continue
            for item in where.iterdir():
                if item.name.endswith(".html") and inline.search(item.read_text()):
                    found.append(f"{package}/{folder}/{item.name}")
    assert found == []
