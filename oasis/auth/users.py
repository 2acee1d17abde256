"""Users and API keys in the state database.

Passwords are kept as scrypt hashes with a salt per user; API keys as SHA-256 of their
secret part (the key is long and random, so a slow hash adds nothing). Neither can be read
back: a forgotten password is set again, a lost key revoked and made anew.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.auth.roles import Principal, Role
from oasis.signals.errors import InvalidInput
from oasis.state import from_db, to_db

metadata = sa.MetaData()

users = sa.Table(
    "auth_users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

api_keys = sa.Table(
    "auth_api_keys", metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_KEY = re.compile(r"^oasis_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
MIN_PASSWORD = 8
# scrypt cost: about 50 ms and 16 MiB per check, slow enough to hinder guessing offline.
_N, _R, _P = 2**14, 8, 1
# Writing last_used_at on every request would turn reads into writes; once a minute will do.
_TOUCH_EVERY = timedelta(minutes=1)


class AuthError(InvalidInput, ValueError):
    """A request to the user store that cannot be done, said for a person."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash`, so the cost can rise later without breaking old hashes."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        given = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                               r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return kind == "scrypt" and hmac.compare_digest(given, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@cache
def _dummy_hash() -> str:
    """Checked against when the user is unknown, so a wrong name takes as long as a wrong
    password. Made on first use: at import it cost every `oasis` command ~50 ms and 16 MiB."""
    return hash_password(secrets.token_urlsafe(16))


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise AuthError(f"invalid name {name!r}: use 1-64 letters, digits, '.', '_', '@' or "
                        "'-', starting with a letter or digit")
    return name


def check_person_role(role: Role) -> Role:
    """People log in with one of the ordered roles; `ingest` is for senders' API keys."""
    if Role(role) is Role.INGEST:
        raise AuthError("the ingest role is for API keys only (oasis users key NAME "
                        "--role ingest); give a person viewer, responder, approver or admin")
    return Role(role)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


class UserStore:
    """Users with passwords and API keys, shared by every OASIS process on the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    # --- users -------------------------------------------------------------------------

    def create_user(self, name: str, role: Role, password: str,
                    now: datetime | None = None) -> User:
        check_name(name)
        check_person_role(role)
        check_password(password)
        created = now or datetime.now(UTC)
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert().values(
                    name=name, role=Role(role).value, password_hash=hash_password(password),
                    disabled=False, created_at=to_db(created)))
        except sa.exc.IntegrityError:
            raise AuthError(f"a user named {name!r} already exists") from None
        return User(name, Role(role), False, created)

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        self._update_user(name, password_hash=hash_password(password))

    def set_role(self, name: str, role: Role) -> None:
        self._update_user(name, role=check_person_role(role).value)

    def set_disabled(self, name: str, disabled: bool) -> None:
        """A disabled user cannot log in, and their sessions and API keys stop working."""
        self._update_user(name, disabled=disabled)

    def get_user(self, name: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        return _user(row) if row is not None else None

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        return [_user(r) for r in rows]

    def verify_password(self, name: str, password: str) -> User | None:
        """The user, if `password` is theirs and they are not disabled; else None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None:
            password_matches(password, _dummy_hash())
            return None
        if not password_matches(password, row.password_hash) or row.disabled:
            return None
        return _user(row)

    def _update_user(self, name: str, **values: object) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(users.update().where(users.c.name == name).values(**values))
        if done.rowcount == 0:
            raise AuthError(f"no user named {name!r}")

    # --- API keys ----------------------------------------------------------------------

    def create_api_key(self, name: str, role: Role,
                       now: datetime | None = None) -> tuple[str, str]:
        """A new key for `name` (a user or a bot such as the Slack app): (key id, the key).
        The key is shown this once; only its hash is kept."""
        check_name(name)
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(
                id=key_id, name=name, role=Role(role).value, key_hash=_key_hash(secret),
                created_at=to_db(now or datetime.now(UTC)), revoked=False))
        return key_id, f"oasis_{key_id}_{secret}"

    def verify_api_key(self, key: str, now: datetime | None = None) -> Principal | None:
        """Who `key` acts as, or None if it is malformed, unknown, altered or revoked, or
        belongs to a disabled user."""
        match = _KEY.match(key.strip())
        if match is None:
            return None
        key_id, secret = match.groups()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
            owner = conn.execute(sa.select(users.c.disabled)
                                 .where(users.c.name == row.name)).first() if row else None
        if row is None or not hmac.compare_digest(_key_hash(secret), row.key_hash):
            return None
        if row.revoked or (owner is not None and owner.disabled):
            return None
        self._touch(key_id, row.last_used_at, now or datetime.now(UTC))
        return Principal(row.name, Role(row.role), "api_key")

    def revoke_api_key(self, key_id: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(api_keys.update().where(api_keys.c.id == key_id)
                                .values(revoked=True))
        if done.rowcount == 0:
            raise AuthError(f"no API key with id {key_id!r}")

    def list_api_keys(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).all()
        return [ApiKey(r.id, r.name, Role(r.role), from_db(r.created_at),
                       from_db(r.last_used_at), r.revoked) for r in rows]

    def _touch(self, key_id: str, last: datetime | None, now: datetime) -> None:
        if last is not None and now - from_db(last) < _TOUCH_EVERY:
            return
        with self.engine.begin() as conn:
            conn.execute(api_keys.update().where(api_keys.c.id == key_id)
                         .values(last_used_at=to_db(now)))


def _user(row: sa.Row) -> User:
    return User(row.name, Role(row.role), bool(row.disabled), from_db(row.created_at))
