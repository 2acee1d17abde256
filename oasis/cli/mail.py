"""`oasis mail catch|list|show|test`: a local mailbox for the demo, and a check that the
configured SMTP relay accepts OASIS's mail."""

from __future__ import annotations

import html
import json
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from oasis.cli.app import app, console, fail, settings_from
from oasis.config import Settings
from oasis.notify.catcher import MailCatcher, html_of, parse_message, stored_files, text_of
from oasis.notify.channels import DeliveryError, EmailChannel
from oasis.notify.message import Notification
from oasis.notify.settings import NotifySettings, check_address

mail_app = typer.Typer(help="Mail: catch it locally, read what was caught, send a test.",
                       no_args_is_help=True)
app.add_typer(mail_app, name="mail")

MailDir = Annotated[Path | None, typer.Option(
    "--dir", file_okay=False, help="Where caught mail is kept [default: DATA_DIR/mail]")]


def _mail_dir(ctx: typer.Context, directory: Path | None) -> Path:
    return directory if directory is not None else settings_from(ctx).data_dir / "mail"


def _notify(settings: Settings) -> NotifySettings:
    # Settings gains `notify` when the notification settings are wired into the root.
    return getattr(settings, "notify", None) or NotifySettings()


def _received(path: Path) -> str:
    """Arrival time from the file name the catcher gave it."""
    try:
        at = datetime.strptime(path.name.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ")
    except ValueError:
        return "?"
    return f"{at:%Y-%m-%d %H:%M:%S}Z"


@mail_app.command("catch")
def catch(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 1025,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    directory: MailDir = None,
) -> None:
    """Run a local SMTP server that keeps every message it receives; Ctrl-C stops it."""
    where = _mail_dir(ctx, directory)

    def received(path: Path, msg: EmailMessage) -> None:
        console.print(f"{datetime.now(UTC):%H:%M:%S}Z  to {msg['To']}  {msg['Subject']}",
                      markup=False, highlight=False)

    catcher = MailCatcher(where, host, port, on_message=received)
    try:
        catcher.start()
    except OSError as exc:
        raise fail(str(exc.strerror or exc)) from None
    console.print(f"Catching mail on {host}:{port}, keeping it in {where}. Ctrl-C stops.",
                  markup=False, highlight=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        catcher.stop()
    console.print(f"Stopped. {len(stored_files(where))} message(s) in {where}.", markup=False,
                  highlight=False)


@mail_app.command("list")
def list_mail(
    ctx: typer.Context,
    directory: MailDir = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Caught messages, oldest first, numbered for `oasis mail show N`."""
    where = _mail_dir(ctx, directory)
    rows = []
    for n, path in enumerate(stored_files(where), start=1):
        msg = parse_message(path)
        rows.append({"n": n, "received": _received(path), "from": str(msg["From"] or ""),
                     "to": str(msg["To"] or ""), "subject": str(msg["Subject"] or ""),
                     "file": path.name})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print(f"No mail in {where}.", markup=False, highlight=False)
        return
    table = Table("#", "received", "to", "subject", box=None, header_style="bold")
    for r in rows:
        table.add_row(str(r["n"]), r["received"], r["to"], r["subject"])
    console.print(table, markup=False)


@mail_app.command("show")
def show_mail(
    ctx: typer.Context,
    which: Annotated[str, typer.Argument(help="Number from `oasis mail list`, or a file")],
    directory: MailDir = None,
    as_html: Annotated[bool, typer.Option("--html", help="Print the HTML part")] = False,
) -> None:
    """One caught message: its headers and its text (or HTML) part."""
    path = _find(_mail_dir(ctx, directory), which)
    msg = parse_message(path)
    for header in ("From", "To", "Date", "Subject", "X-OASIS-Incident"):
        if msg[header]:
            typer.echo(f"{header}: {msg[header]}")
    typer.echo("")
    body = html_of(msg) if as_html else text_of(msg)
    if body is None:
        raise fail(f"{path.name} has no HTML part", code=1)
    typer.echo(body.rstrip("\n"))


def _find(where: Path, which: str) -> Path:
    if which.isdigit():
        files = stored_files(where)
        n = int(which)
        if not 1 <= n <= len(files):
            raise fail(f"no message {n}: {len(files)} caught in {where}", code=1)
        return files[n - 1]
    for path in (Path(which), where / which):
        if path.is_file():
            return path
    raise fail(f"no message {which!r}: give a number from `oasis mail list` or a file",
               code=1)


@mail_app.command("test")
def test_mail(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="Address to send the test message to")],
) -> None:
    """Send a test message with the configured SMTP settings and say how it went."""
    try:
        address = check_address(to)
    except ValueError as exc:
        raise fail(str(exc)) from None
    smtp = _notify(settings_from(ctx)).smtp
    where = f"{smtp.host}:{smtp.port} (security {smtp.security}" + (
        f", user {smtp.username})" if smtp.username else ")")
    text = (f"This is a test message from OASIS, sent through {where}.\n"
            "If you can read it, OASIS can email incident notifications.\n")
    n = Notification(id=uuid.uuid4().hex, kind="test", incident_id=None,
                     subject="[OASIS] Test message", text=text,
                     html=f"<p>{html.escape(text).replace(chr(10), '<br>')}</p>",
                     recipients=[address], payload={})
    try:
        EmailChannel(smtp).send(n)
    except DeliveryError as exc:
        raise fail(f"not sent via {where}: {exc.message}", code=1) from None
    console.print(f"Sent a test message to {address} via {where}.", markup=False,
                  highlight=False)
