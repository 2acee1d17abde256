"""`oasis incidents list|show`: the incidents in the incident database."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.panel import Panel

from oasis.cli.app import app, console, fail, settings_from
from oasis.cli.detect import _incident_table
from oasis.incidents import IncidentStore, NotFoundError, Status

incidents_app = typer.Typer(help="Incidents: list and show.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")


def _store(ctx: typer.Context) -> IncidentStore:
    return IncidentStore(settings_from(ctx).incident_db_url)


@incidents_app.command("list")
def list_incidents(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses")] = None,
    service: Annotated[str | None, typer.Option(help="Only incidents affecting it")] = None,
    active: Annotated[bool | None, typer.Option(
        "--active/--recovered", help="Only incidents with symptoms now / recovered")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Incidents, newest first."""
    bad = [s for s in status or [] if s not in Status._value2member_map_]
    if bad:
        raise fail(f"unknown status {bad[0]!r}; one of {', '.join(s.value for s in Status)}")
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
    store = _store(ctx)
    try:
        incident = store.get(incident_id)
    except NotFoundError:
        raise fail(f"no incident {incident_id!r}", code=1) from None
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(incident.to_dict(), indent=2))
        return
    i = incident
    console.print(Panel(
        f"[bold]{i.title}[/]\nstatus {i.status.value}  severity {i.severity.value}\n"
        f"started {i.started_at:%Y-%m-%d %H:%M}Z  detected {i.detected_at:%H:%M}Z"
        + (f"  recovered {i.recovered_at:%H:%M}Z" if i.recovered_at else "")
        + f"\nservices {', '.join(i.services)}\n\n{i.summary}", title=i.id))
    for e in i.timeline:
        console.print(f"  {e.at:%H:%M:%S}Z  {e.kind:<20} {e.actor:<24} {e.message}")
