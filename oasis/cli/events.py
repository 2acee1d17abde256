"""`oasis events import|list|show|accept|discharge` and `oasis tickets list|show`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from oasis.cli.app import (
    app,
    console,
    err_console,
    fail,
    nothing_stored,
    print_json,
    settings_from,
)
from oasis.signals.errors import NotFound
from oasis.triage.acknowledge import Verdict
from oasis.triage.tickets import TicketStatus

events_app = typer.Typer(
    help="Operational events: import, list, show, accept, discharge.", no_args_is_help=True
)
tickets_app = typer.Typer(help="Triage tickets: list and show.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(tickets_app, name="tickets")


class NoDataYet(NotFound):
    """A command that only reads found a fresh data dir; the message says where (a `show`
    lets it exit 1 with that message, a `list` prints it as an empty result)."""


def _empty_list(message: str, as_json: bool) -> None:
    if as_json:
        print_json([])
    else:
        console.print(message, highlight=False)


class _Kit:
    """The triage side on the configured state database, closed on exit."""

    def __init__(self, ctx: typer.Context, *, reads_only: bool = False) -> None:
        from oasis.incidents import IncidentStore
        from oasis.notify import Outbox
        from oasis.runtime.response import open_audit
        from oasis.runtime.triage import build_triage

        settings = settings_from(ctx)
        if reads_only and (empty := nothing_stored(settings)) is not None:
            raise NoDataYet(empty)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = IncidentStore(settings.incident_db_url)
        self.outbox = Outbox(settings.incident_db_url, retry=settings.notify.retry)
        try:
            self.kit = build_triage(settings, self.store, open_audit(settings, self.store.engine),
                                    self.outbox)
        except (OSError, ValueError) as exc:
            self.close()
            raise fail(str(exc)) from None

    def __enter__(self) -> Any:
        return self.kit

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.outbox.close()
        self.store.close()


def _payloads(path: Path) -> list[Any]:
    text = path.read_text() if str(path) != "-" else typer.get_text_stream("stdin").read()
    try:
        body = json.loads(text)
        return body if isinstance(body, list) else [body]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]  # NDJSON


@events_app.command("import")
def import_events(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="JSON (one event or a list) or NDJSON")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Acknowledge and triage events from files, as the HTTP endpoint would."""
    from oasis.triage.parse import EventFormatError, parse_events

    results, bad = [], 0
    with _Kit(ctx) as kit:
        for path in files:
            try:
                payloads = _payloads(path)
            except (OSError, ValueError) as exc:
                raise fail(f"{path}: {exc}") from None
            for n, payload in enumerate(payloads, 1):
                try:
                    events = parse_events(payload, received_at=datetime.now(UTC))
                except EventFormatError as exc:
                    err_console.print(f"[yellow]skipped[/] {path} #{n}: {exc}")
                    bad += 1
                    continue
                results.extend(kit.flow.handle(e).to_dict() for e in events)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        table = Table("event", "received", "verdict", "reason", "tickets")
        for r in results:
            table.add_row(
                r["key"][-60:],
                r["received"],
                r["verdict"] or "-",
                r["reason"] or "",
                str(len(r["tickets_created"]) + len(r["tickets_updated"])),
            )
        console.print(table)
    if bad:
        raise typer.Exit(1)


@events_app.command("list")
def list_events(
    ctx: typer.Context,
    verdict: Annotated[
        Verdict | None, typer.Option(case_sensitive=False, help="Only events with this decision.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Events, most recently updated first, with the decision and its reason."""
    try:
        with _Kit(ctx, reads_only=True) as kit:
            found = [
                r.to_dict()
                for r in kit.events.list(verdict=verdict.value if verdict else None, limit=limit)
            ]
    except NoDataYet as empty:
        _empty_list(str(empty), as_json)
        return
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table("event", "updated", "verdict", "reason")
    for r in found:
        table.add_row(r["title"][:60], r["last_updated"], r["verdict"] or "-", r["reason"] or "")
    console.print(table if found else "no events")


@events_app.command("show")
def show_event(ctx: typer.Context, key: str) -> None:
    """One event with its decision, history and tickets, as JSON."""
    with _Kit(ctx, reads_only=True) as kit:
        record = kit.events.get(key)
        if record is None:
            raise fail(f"no event {key!r}", code=1)
        tickets = [t.model_dump(mode="json") for t in kit.tickets.for_event(key)]
    typer.echo(json.dumps({**record.to_dict(), "tickets": tickets}, indent=2))


def _decide(ctx: typer.Context, key: str, accept: bool, actor: str, note: str) -> None:
    with _Kit(ctx) as kit:
        try:
            result = kit.flow.decide(key, accept, actor, note)
        except KeyError:
            raise fail(f"no event {key!r}", code=1) from None
        except ValueError as exc:
            raise fail(str(exc), code=1) from None
    console.print(
        f"{result.verdict}: {result.reason}; tickets created: "
        f"{', '.join(result.tickets_created) or 'none'}"
    )


@events_app.command("accept")
def accept(
    ctx: typer.Context,
    key: str,
    actor: Annotated[str, typer.Option("--as", envvar="USER")] = "cli",
    note: str = "",
) -> None:
    """Accept an event the policy left to a person; it is triaged now."""
    _decide(ctx, key, True, actor, note)


@events_app.command("discharge")
def discharge(
    ctx: typer.Context,
    key: str,
    actor: Annotated[str, typer.Option("--as", envvar="USER")] = "cli",
    note: str = "",
) -> None:
    """Discharge an event the policy left to a person."""
    _decide(ctx, key, False, actor, note)


@tickets_app.command("list")
def list_tickets(
    ctx: typer.Context,
    team: Annotated[str | None, typer.Option(help="Only this team's tickets.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help=f"Only this status: {', '.join(s.value for s in TicketStatus)}."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Tickets, newest first."""
    try:
        wanted = TicketStatus.parse(status) if status else None
    except ValueError as exc:
        raise fail(f"--status: {exc}") from None
    try:
        with _Kit(ctx, reads_only=True) as kit:
            found = [
                t.model_dump(mode="json")
                for t in kit.tickets.list(team=team, status=wanted, limit=limit)
            ]
    except NoDataYet as empty:
        _empty_list(str(empty), as_json)
        return
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table("id", "team", "role", "sev", "status", "title")
    for t in found:
        table.add_row(
            t["id"], t["team"], t["role"], str(t["severity"]), t["status"], t["title"][:70]
        )
    console.print(table if found else "no tickets")


@tickets_app.command("show")
def show_ticket(ctx: typer.Context, ticket_id: str) -> None:
    """One ticket with its history, as JSON."""
    with _Kit(ctx, reads_only=True) as kit:
        ticket = kit.tickets.get(ticket_id)
    if ticket is None:
        raise fail(f"no ticket {ticket_id!r}", code=1)
    typer.echo(json.dumps(ticket.model_dump(mode="json"), indent=2))
