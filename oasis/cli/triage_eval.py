"""`oasis eval triage`: score Acknowledge and Triage on a labelled, simulated event stream."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from oasis.cli.app import console, fail
from oasis.cli.detect import RESULTS, eval_app
from oasis.signals.times import NaiveTimeError, parse_aware

DEFAULT_ORGANISATION = Path("examples") / "organisation.yaml"


@eval_app.command("triage")
def evaluate_triage_command(
    events: Annotated[int, typer.Option(min=1, max=100_000,
                                        help="Payloads to generate (updates and copies "
                                             "included)")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed, organisation and "
                                           "--now give the same stream")] = 1,
    now: Annotated[str | None, typer.Option(
        help="When the stream ends, ISO 8601 with a zone [default: this hour]")] = None,
    organisation: Annotated[Path, typer.Option(
        help="Organisation file (accounts and teams)")] = DEFAULT_ORGANISATION,
    allow_interaction: Annotated[bool, typer.Option(
        help="Events naming no account go to a person (ask) instead of being discharged")
    ] = False,
    out: Annotated[Path | None, typer.Option(
        help="Result file [default: bench/results/eval-triage.json]")] = None,
    show: Annotated[int, typer.Option(min=0, help="Kinds of disagreement to print")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Generate AWS Health, Security Hub, CloudWatch and cost anomaly events with the
    answers the policy gives, run them through parse → Acknowledge → Triage (tickets in
    a throw-away database) and score verdicts, owners, stakeholders, severities and
    duplicate tickets."""
    from oasis.triage.evaluate import evaluate_triage
    from oasis.triage.org import OrganisationError, load_organisation

    try:
        org = load_organisation(organisation)
        result = evaluate_triage(org, events=events, seed=seed, now=_when(now),
                                 allow_interaction=allow_interaction)
    except (OrganisationError, ValueError) as exc:
        raise fail(str(exc)) from None
    out = out or RESULTS / "eval-triage.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print(result, show)
    console.print(f"wrote {out}")


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = parse_aware(text)
    except NaiveTimeError:
        raise ValueError(f"--now: {text!r} has no timezone (add Z for UTC)") from None
    except ValueError:
        raise ValueError(f"--now: {text!r} is not an ISO 8601 time") from None
    return when


def _print(result: dict, show: int) -> None:
    table = Table("kind", "verdict", "owner", "stakeholders", "severity", "copies")
    for kind, scores in result["per_kind"].items():
        table.add_row(kind, *(_cell(scores.get(m)) for m in
                              ("verdict", "owner", "stakeholders", "severity", "copies")))
    console.print(table)
    shares = result["scores"]
    console.print(
        f"{result['payloads']} payloads ({result['events']} events, {result['copies']} "
        f"updates and copies): verdict {_pct(shares['verdict'])}  owner "
        f"{_pct(shares['owner'])}  stakeholders {_pct(shares['stakeholders'])}  severity "
        f"{_pct(shares['severity'])}  copies {_pct(shares['copies'])}  duplicate tickets "
        f"{result['duplicate_tickets']}  created by copies {result['tickets_from_copies']}  "
        f"({result['seconds']} s)")
    groups = result["disagreement_summary"]
    if groups and show:
        rows = Table("measure", "kind", "expected", "got", "n", "the code says (first case)")
        for item in groups[:show]:
            rows.add_row(item["measure"], item["kind"], item["expected"], item["got"],
                         str(item["count"]), item["code_says"])
        console.print(rows)
        if len(groups) > show:
            console.print(f"... and {len(groups) - show} more kinds of disagreement in the "
                          "result file")
    verdict = "[green]targets met[/green]" if result["passed"] else \
        f"[red]targets not met[/red] (each >= {result['target']} over >= 200 payloads, " \
        "0 duplicate tickets)"
    console.print(verdict)


def _cell(score: dict | None) -> str:
    if not score:
        return "-"
    return f"{score['right']}/{score['scored']}"


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.3f}"
