"""`oasis users add|list|key|revoke|password|disable|enable`: who may log in to OASIS.

Importing this module registers the `users` commands on the root app. (It was
`oasis.auth.cli`; the auth package does not import the CLI.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from rich.table import Table

from oasis.auth.roles import Role
from oasis.auth.users import UserStore
from oasis.cli.app import app, console, fail, nothing_stored, print_json, settings_from
from oasis.signals.model import utc_iso
from oasis.state import state_engine

users_app = typer.Typer(
    help="Users and API keys for the console, chat, API and Slack.", no_args_is_help=True
)
app.add_typer(users_app, name="users")

T = TypeVar("T")
RoleOption = Annotated[Role, typer.Option("--role", "-r", case_sensitive=False,
                                          help="viewer, responder, approver or admin; ingest for a "
                                                "sender's API key (push only).")]


def _with_store(ctx: typer.Context, use: Callable[[UserStore], T]) -> T:
    """Run `use` on the user store; bad input and database errors exit 2 with a message.
    Only commands that write get here: they may start a fresh data dir."""
    settings = settings_from(ctx)
    if settings.state_url is None:  # the default SQLite file lives in the data dir
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = state_engine(settings.incident_db_url)
    try:
        return use(UserStore(engine))  # an AuthError exits 2 with its message (oasis.cli.app)
    except sa.exc.SQLAlchemyError as exc:
        raise fail(f"the state database failed: {getattr(exc, 'orig', None) or exc}") from None
    finally:
        engine.dispose()


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input "
        'instead of asking (for scripts: `echo "$PW" | oasis ...`).',
    ),
]


def _new_password(from_stdin: bool) -> str:
    if not from_stdin:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    # only the line ending goes: spaces inside or around a password are the user's
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise fail("--password-stdin: standard input has no password on its first line")
    return password


@users_app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    role: RoleOption = Role.VIEWER,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user; asks for the password twice (or reads it with --password-stdin)."""
    password = _new_password(password_stdin)
    user = _with_store(ctx, lambda s: s.create_user(name, role, password))
    console.print(f"added {user.name} as {user.role.value}")


@users_app.command("password")
def password(ctx: typer.Context, name: str, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password; asks for it twice (or reads it with --password-stdin)."""
    new = _new_password(password_stdin)
    _with_store(ctx, lambda s: s.set_password(name, new))
    console.print(f"password of {name} changed")


@users_app.command("disable")
def disable(ctx: typer.Context, name: str) -> None:
    """Stop a user's logins, sessions and API keys."""
    _with_store(ctx, lambda s: s.set_disabled(name, True))
    console.print(f"{name} disabled")


@users_app.command("enable")
def enable(ctx: typer.Context, name: str) -> None:
    """Let a disabled user in again."""
    _with_store(ctx, lambda s: s.set_disabled(name, False))
    console.print(f"{name} enabled")


@users_app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Users and API keys (never their secrets)."""
    if (empty := nothing_stored(settings_from(ctx))) is not None:
        if as_json:
            print_json({"users": [], "api_keys": []})
        else:
            console.print(empty, highlight=False)
        return
    found_users, keys = _with_store(ctx, lambda s: (s.list_users(), s.list_api_keys()))
    if as_json:
        print_json(
            {
                "users": [_user_json(u) for u in found_users],
                "api_keys": [_key_json(k) for k in keys],
            }
        )
        return
    people = Table("user", "role", "status", "created (UTC)", title="Users")
    for u in found_users:
        people.add_row(
            u.name,
            u.role.value,
            "disabled" if u.disabled else "active",
            f"{u.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(people if found_users else "no users yet; add one with `oasis users add`")
    if keys:
        table = Table(
            "key id", "name", "role", "status", "created (UTC)", "last used (UTC)", title="API keys"
        )
        for k in keys:
            table.add_row(
                k.id,
                k.name,
                k.role.value,
                "revoked" if k.revoked else "active",
                f"{k.created_at:%Y-%m-%d %H:%M}",
                f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never",
            )
        console.print(table)


def _user_json(user: Any) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role.value,
        "disabled": user.disabled,
        "created_at": utc_iso(user.created_at),
    }


def _key_json(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role.value,
        "revoked": key.revoked,
        "created_at": utc_iso(key.created_at),
        "last_used_at": utc_iso(key.last_used_at) if key.last_used_at else None,
    }


@users_app.command("key")
def key(ctx: typer.Context, name: str, role: RoleOption = Role.VIEWER) -> None:
    """Make an API key for NAME (a user or a bot); it is printed this once."""
    key_id, secret = _with_store(ctx, lambda s: s.create_api_key(name, role))
    console.print(
        f"API key {key_id} for {name} as {role.value}; copy it now, it is not shown again:",
        highlight=False,
    )
    print(secret)  # plain, so it can be piped and is never wrapped


@users_app.command("revoke")
def revoke(ctx: typer.Context, key_id: str) -> None:
    """Revoke an API key by its id (see `oasis users list`)."""
    _with_store(ctx, lambda s: s.revoke_api_key(key_id))
    console.print(f"API key {key_id} revoked")
