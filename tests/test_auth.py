"""Logins, API keys, sessions and roles: who may do what in OASIS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from starlette.testclient import WebSocketDenialResponse
from typer.testing import CliRunner

import oasis.cli.users  # noqa: F401  (registers `oasis users`)
from oasis.auth import (
    COOKIE_NAME,
    AuthContext,
    AuthError,
    AuthSettings,
    Principal,
    Role,
    SessionSigner,
    UserStore,
    current_principal,
    parse_role,
    require,
)
from oasis.cli import app as cli_app
from oasis.state import state_engine, stored_secret


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    e = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    yield e
    e.dispose()


@pytest.fixture
def users(engine: sa.Engine) -> UserStore:
    return UserStore(engine)


# --- roles ---------------------------------------------------------------------------------

def test_roles_are_ordered_each_allowing_those_below() -> None:
    assert Role.ADMIN.allows(Role.APPROVER) and Role.APPROVER.allows(Role.RESPONDER)
    assert Role.RESPONDER.allows(Role.VIEWER) and Role.VIEWER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.RESPONDER)
    assert not Role.RESPONDER.allows(Role.APPROVER)
    assert not Role.APPROVER.allows(Role.ADMIN)
    assert parse_role(" Approver ") is Role.APPROVER
    with pytest.raises(ValueError, match="viewer, responder, approver, admin"):
        parse_role("root")


def test_settings_default_to_local_mode_and_reject_unknown_keys() -> None:
    assert AuthSettings().enabled is False
    assert AuthSettings().session_hours == 12
    with pytest.raises(ValidationError):
        AuthSettings(enable=True)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        AuthSettings(session_hours=0)


# --- passwords -----------------------------------------------------------------------------

def test_password_checks_wrong_password_unknown_and_disabled_user(users: UserStore) -> None:
    users.create_user("ana", Role.APPROVER, "correct horse")
    user = users.verify_password("ana", "correct horse")
    assert user is not None and user.name == "ana" and user.role is Role.APPROVER
    assert user.created_at.tzinfo is UTC
    assert users.verify_password("ana", "correct horsE") is None
    assert users.verify_password("bob", "correct horse") is None
    users.set_disabled("ana", True)
    assert users.verify_password("ana", "correct horse") is None
    users.set_disabled("ana", False)
    users.set_password("ana", "battery staple")
    assert users.verify_password("ana", "correct horse") is None
    assert users.verify_password("ana", "battery staple") is not None


def test_passwords_are_salted_per_user_and_never_stored_plain(
        users: UserStore, engine: sa.Engine) -> None:
    users.create_user("ana", Role.VIEWER, "same password")
    users.create_user("bob", Role.VIEWER, "same password")
    with engine.connect() as conn:
        hashes = [r[0] for r in conn.execute(sa.text("SELECT password_hash FROM auth_users"))]
    assert len(set(hashes)) == 2
    assert all(h.startswith("scrypt$") and "same password" not in h for h in hashes)


def test_bad_user_input_is_refused_with_a_reason(users: UserStore) -> None:
    users.create_user("ana", Role.VIEWER, "long enough")
    with pytest.raises(AuthError, match="already exists"):
        users.create_user("ana", Role.ADMIN, "long enough")
    with pytest.raises(AuthError, match="at least 8"):
        users.create_user("bob", Role.VIEWER, "short")
    with pytest.raises(AuthError, match="invalid name"):
        users.create_user("bob smith", Role.VIEWER, "long enough")
    with pytest.raises(AuthError, match="no user named"):
        users.set_password("nobody", "long enough")
    assert [u.name for u in users.list_users()] == ["ana"]


# --- API keys ------------------------------------------------------------------------------

def test_api_key_valid_then_revoked(users: UserStore) -> None:
    key_id, key = users.create_api_key("slack-bot", Role.RESPONDER)
    assert key.startswith(f"oasis_{key_id}_")
    assert users.verify_api_key(key) == Principal("slack-bot", Role.RESPONDER, "api_key")
    listed = {k.id: k for k in users.list_api_keys()}
    assert listed[key_id].last_used_at is not None and not listed[key_id].revoked
    users.revoke_api_key(key_id)
    assert users.verify_api_key(key) is None
    with pytest.raises(AuthError, match="no API key"):
        users.revoke_api_key("000000000000")


def test_tampered_or_malformed_api_keys_are_refused(users: UserStore) -> None:
    key_id, key = users.create_api_key("ci", Role.VIEWER)
    other_id, _ = users.create_api_key("ci", Role.ADMIN)
    last = "A" if key[-1] != "A" else "B"
    assert users.verify_api_key(key[:-1] + last) is None
    # The secret of one key under another's id must not pass as either.
    assert users.verify_api_key(f"oasis_{other_id}_{key.split('_', 2)[2]}") is None
    for junk in ("", "oasis_", "Bearer x", f"oasis_{key_id}", "x" * 500):
        assert users.verify_api_key(junk) is None


def test_keys_of_a_disabled_user_stop_working(users: UserStore) -> None:
    users.create_user("ana", Role.APPROVER, "long enough")
    _, key = users.create_api_key("ana", Role.APPROVER)
    users.set_disabled("ana", True)
    assert users.verify_api_key(key) is None


@pytest.mark.postgres
def test_user_store_on_postgresql(postgres_url: str) -> None:
    engine = state_engine(postgres_url)
    try:
        store = UserStore(engine)
        store.create_user("ana", Role.ADMIN, "long enough")
        assert store.verify_password("ana", "long enough") is not None
        key_id, key = store.create_api_key("ana", Role.VIEWER)
        assert store.verify_api_key(key) == Principal("ana", Role.VIEWER, "api_key")
        store.revoke_api_key(key_id)
        assert store.verify_api_key(key) is None
        assert stored_secret(engine, "sessions") == stored_secret(engine, "sessions")
    finally:
        engine.dispose()


# --- sessions ------------------------------------------------------------------------------

def test_session_cookie_round_trip_expiry_and_tampering() -> None:
    signer = SessionSigner(b"k" * 32, session_hours=1)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    ana = Principal("ana", Role.APPROVER, "session")
    cookie = signer.issue(ana, now=now)
    assert signer.verify(cookie, now=now + timedelta(minutes=59)) == ana
    assert signer.verify(cookie, now=now + timedelta(hours=1)) is None
    body, mac = cookie.split(".")
    admin_body = signer.issue(Principal("ana", Role.ADMIN, "session"), now=now).split(".")[0]
    assert signer.verify(f"{admin_body}.{mac}", now=now) is None
    assert signer.verify(cookie, now=now) is not None
    assert SessionSigner(b"x" * 32).verify(cookie, now=now) is None
    for junk in ("", ".", "a.b.c", "!!!.???", body):
        assert signer.verify(junk, now=now) is None
    with pytest.raises(ValueError, match="at least 16"):
        SessionSigner(b"short")


def test_generated_secret_is_kept_in_the_state_database(engine: sa.Engine) -> None:
    first = AuthContext.open(AuthSettings(enabled=True), engine)
    again = AuthContext.open(AuthSettings(enabled=True), engine)
    cookie = first.signer.issue(Principal("ana", Role.VIEWER, "session"))
    assert again.signer.verify(cookie) is not None
    configured = AuthContext.open(AuthSettings(enabled=True,
                                               secret=SecretStr("s" * 32)), engine)
    assert configured.signer.verify(cookie) is None


# --- FastAPI dependencies ------------------------------------------------------------------

def _app(auth: AuthContext) -> FastAPI:
    app = FastAPI()
    app.state.auth = auth

    @app.get("/whoami")
    def whoami(p: Principal = Depends(current_principal)) -> dict[str, str]:
        return {"name": p.name, "role": p.role.value, "via": p.via}

    @app.websocket("/ws")
    async def chat(sock: WebSocket, p: Principal = Depends(current_principal)) -> None:
        await sock.accept()
        await sock.send_text(p.name)
        await sock.close()

    @app.post("/approve")
    def approve(p: Principal = require(Role.APPROVER)) -> dict[str, str]:
        return {"approved_by": p.name}

    return app


@pytest.fixture
def secured(engine: sa.Engine) -> tuple[TestClient, AuthContext]:
    auth = AuthContext.open(AuthSettings(enabled=True), engine)
    auth.users.create_user("vic", Role.VIEWER, "viewer pass")
    auth.users.create_user("ana", Role.APPROVER, "approver pass")
    return TestClient(_app(auth)), auth


def test_no_credentials_get_401_when_enabled(secured: tuple[TestClient, AuthContext]) -> None:
    client, _ = secured
    r = client.get("/whoami")
    assert r.status_code == 401 and "log in" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/whoami", headers={"Authorization": "Bearer oasis_nope"})
    assert r.status_code == 401 and "API key" in r.json()["detail"]
    client.cookies.set(COOKIE_NAME, "forged.cookie")
    assert client.get("/whoami").status_code == 401


def test_viewer_gets_403_on_an_approver_route_and_approver_200(
        secured: tuple[TestClient, AuthContext]) -> None:
    client, auth = secured
    viewer_cookie = auth.login("vic", "viewer pass")
    assert viewer_cookie is not None and auth.login("vic", "wrong pass") is None
    client.cookies.set(COOKIE_NAME, viewer_cookie)
    r = client.post("/approve")
    assert r.status_code == 403
    assert r.json()["detail"] == "approver role needed; you are viewer"
    approver_cookie = auth.login("ana", "approver pass")
    assert approver_cookie is not None
    client.cookies.set(COOKIE_NAME, approver_cookie)
    r = client.post("/approve")
    assert r.status_code == 200 and r.json() == {"approved_by": "ana"}


def test_api_keys_work_in_either_header(secured: tuple[TestClient, AuthContext]) -> None:
    client, auth = secured
    _, key = auth.users.create_api_key("slack-bot", Role.APPROVER)
    r = client.post("/approve", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json() == {"approved_by": "slack-bot"}
    r = client.get("/whoami", headers={"X-API-Key": key})
    assert r.json() == {"name": "slack-bot", "role": "approver", "via": "api_key"}
    _, weak = auth.users.create_api_key("dash", Role.VIEWER)
    assert client.post("/approve", headers={"X-API-Key": weak}).status_code == 403


def test_websocket_handshake_needs_credentials(secured: tuple[TestClient, AuthContext]) -> None:
    client, auth = secured
    _, key = auth.users.create_api_key("chat-user", Role.VIEWER)
    with client.websocket_connect("/ws", headers={"X-API-Key": key}) as sock:
        assert sock.receive_text() == "chat-user"
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
        pass
    assert denied.value.status_code == 401


def test_session_follows_role_changes_and_disabling(
        secured: tuple[TestClient, AuthContext]) -> None:
    client, auth = secured
    cookie = auth.login("ana", "approver pass")
    assert cookie is not None
    client.cookies.set(COOKIE_NAME, cookie)
    assert client.post("/approve").status_code == 200
    auth.users.set_role("ana", Role.VIEWER)
    assert client.post("/approve").status_code == 403
    auth.users.set_disabled("ana", True)
    r = client.get("/whoami")
    assert r.status_code == 401 and "log in again" in r.json()["detail"]


def test_local_mode_when_disabled_acts_as_local_admin(engine: sa.Engine) -> None:
    client = TestClient(_app(AuthContext.open(AuthSettings(), engine)))
    assert client.get("/whoami").json() == {"name": "local", "role": "admin", "via": "local"}
    assert client.post("/approve").json() == {"approved_by": "local"}


# --- CLI -----------------------------------------------------------------------------------

def test_cli_adds_lists_keys_and_revokes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OASIS_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    added = runner.invoke(cli_app, ["users", "add", "ana", "--role", "approver"],
                          input="long enough\nlong enough\n")
    assert added.exit_code == 0, added.output
    assert "added ana as approver" in added.output
    mismatch = runner.invoke(cli_app, ["users", "add", "bob"], input="long enough\nother one\n"
                             "long enough\nlong enough\n")
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output
    dup = runner.invoke(cli_app, ["users", "add", "ana"], input="long enough\nlong enough\n")
    assert dup.exit_code == 2 and "already exists" in dup.output
    bad_role = runner.invoke(cli_app, ["users", "add", "eve", "--role", "root"])
    assert bad_role.exit_code == 2

    made = runner.invoke(cli_app, ["users", "key", "ci", "--role", "responder"])
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("oasis_")
    key_id = key.split("_")[1]

    store = UserStore(state_engine(f"sqlite:///{tmp_path / 'data' / 'state.db'}"))
    assert store.verify_password("ana", "long enough") is not None
    assert store.verify_api_key(key) == Principal("ci", Role.RESPONDER, "api_key")

    listed = runner.invoke(cli_app, ["users", "list"])
    assert listed.exit_code == 0
    assert "ana" in listed.output and "bob" in listed.output and key_id in listed.output
    assert key.split("_", 2)[2] not in listed.output

    revoked = runner.invoke(cli_app, ["users", "revoke", key_id])
    assert revoked.exit_code == 0 and store.verify_api_key(key) is None
    unknown = runner.invoke(cli_app, ["users", "revoke", "nosuchkey"])
    assert unknown.exit_code == 2 and "no API key" in unknown.output
    store.engine.dispose()
