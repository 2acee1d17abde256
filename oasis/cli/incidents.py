"""`oasis incidents list|show`: the incidents in the incident database."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.panel import Panel

from oasis.cli.app import app, console, fail, nothing_stored, print_json, settings_from
from oasis.cli.detect import _incident_table
from oasis.incidents import IncidentStore, Status

incidents_app = typer.Typer(
    help="Incidents: list, show, approve, reject, resolve, ack.", no_args_is_help=True
)
app.add_typer(incidents_app, name="incidents")


def _store(ctx: typer.Context) -> IncidentStore:
    return IncidentStore(settings_from(ctx).incident_db_url)


@incidents_app.command("list")
def list_incidents(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses")] = None,
    service: Annotated[str | None, typer.Option(help="Only incidents affecting it")] = None,
    active: Annotated[
        bool | None,
        typer.Option("--active/--recovered", help="Only incidents with symptoms now / recovered"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Incidents, newest first."""
    bad = [s for s in status or [] if s not in Status._value2member_map_]
    if bad:
        raise fail(f"unknown status {bad[0]!r}; one of {', '.join(s.value for s in Status)}")
    if (empty := nothing_stored(settings_from(ctx))) is not None:
        if as_json:
            print_json([])
        else:
            console.print(empty, highlight=False)
        return
    store = _store(ctx)
    try:
        found = store.list(status=status, service=service, active=active, limit=limit)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([i.to_dict(timeline=False) for i in found], indent=2))
    else:
        _incident_table(found)


@incidents_app.command("show")
def show_incident(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(help="Incident id, e.g. inc-20261123-a1b2c3")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One incident with its evidence and timeline."""
    if (empty := nothing_stored(settings_from(ctx))) is not None:
        raise fail(empty, code=1)
    store = _store(ctx)
    try:
        incident = store.get(incident_id)  # none: "no incident ...", exit 1 (oasis.cli.app)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(incident.to_dict(), indent=2))
        return
    i = incident
    console.print(
        Panel(
            f"[bold]{i.title}[/]\nstatus {i.status.value}  severity {i.severity.value}\n"
            f"started {i.started_at:%Y-%m-%d %H:%M}Z  detected {i.detected_at:%H:%M}Z"
            + (f"  recovered {i.recovered_at:%H:%M}Z" if i.recovered_at else "")
            + f"\nservices {', '.join(i.services)}\n\n{i.summary}",
            title=i.id,
        )
    )
    for e in i.timeline:
        console.print(f"  {e.at:%H:%M:%S}Z  {e.kind:<20} {e.actor:<24} {e.message}")


def _decide(
    ctx: typer.Context, what: str, incident_id: str, action_id: str | None, actor: str, note: str
) -> None:
    # Imported here: the response side is only needed by the commands that decide.
    from oasis.respond import ActionStatus
    from oasis.runtime.response import build_response

    settings = settings_from(ctx)
    store = IncidentStore(settings.incident_db_url)
    kit = build_response(settings, store)
    try:
        if what in ("approve", "reject") and action_id is None:
            waiting = [
                a
                for a in kit.actions.for_incident(incident_id)
                if a.status is ActionStatus.PROPOSED and a.kind.value != "notify_only"
            ]
            if len(waiting) != 1:
                listed = ", ".join(f"{a.id} ({a.kind.value})" for a in waiting) or "none"
                raise fail(f"name the action with --action; waiting for a decision: {listed}")
            action_id = waiting[0].id
        if what == "approve":
            kit.responder.approve(incident_id, action_id, actor, note)
        elif what == "reject":
            kit.responder.reject(incident_id, action_id, actor, note)
        elif what == "resolve":
            kit.responder.resolve(incident_id, actor, note)
        else:
            kit.responder.acknowledge(incident_id, actor, note)
        incident = store.get(incident_id)
    finally:  # no such incident, a refused decision: exit 1 with the reason (oasis.cli.app)
        kit.close()
        store.close()
    done = {
        "approve": "approved",
        "reject": "rejected",
        "resolve": "resolved",
        "ack": "acknowledged",
    }[what]
    console.print(
        f"{done} {action_id or incident_id} as {actor}; incident {incident.id} is "
        f"now [bold]{incident.status.value}[/]"
    )


Actor = Annotated[
    str, typer.Option("--as", help="Who decides (recorded); default: $USER", envvar="USER")
]
Note = Annotated[str, typer.Option(help="Why, for the timeline")]


@incidents_app.command("approve")
def approve(
    ctx: typer.Context,
    incident_id: str,
    action: Annotated[
        str | None, typer.Option(help="Action id [default: the only one waiting]")
    ] = None,
    actor: Actor = "cli",
    note: Note = "",
) -> None:
    """Approve a proposed action; the running service carries it out within seconds."""
    _decide(ctx, "approve", incident_id, action, actor, note)


@incidents_app.command("reject")
def reject(
    ctx: typer.Context,
    incident_id: str,
    action: Annotated[
        str | None, typer.Option(help="Action id [default: the only one waiting]")
    ] = None,
    actor: Actor = "cli",
    note: Note = "",
) -> None:
    """Reject a proposed action; nothing runs."""
    _decide(ctx, "reject", incident_id, action, actor, note)


@incidents_app.command("resolve")
def resolve(ctx: typer.Context, incident_id: str, actor: Actor = "cli", note: Note = "") -> None:
    """Close an incident that needs no (more) action."""
    _decide(ctx, "resolve", incident_id, None, actor, note)


@incidents_app.command("ack")
def acknowledge(
    ctx: typer.Context, incident_id: str, actor: Actor = "cli", note: Note = ""
) -> None:
    """Say you are on it; the status does not change."""
    _decide(ctx, "ack", incident_id, None, actor, note)
