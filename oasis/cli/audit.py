"""`oasis audit verify|export|list`: check and copy the audit trail in the state database."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from oasis.audit import AuditError, AuditLog, AuditRecord, AuditSettings, verify_jsonl
from oasis.cli.app import app, console, err_console, fail, settings_from

audit_app = typer.Typer(help="Audit trail: verify it, export it, list records.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")

T = TypeVar("T")


def _with_log(ctx: typer.Context, use: Callable[[AuditLog], T]) -> T:
    """Run `use` on the configured audit log; database and audit errors exit 2 with a message."""
    url = settings_from(ctx).incident_db_url
    try:
        log = AuditLog(url)
    except AuditError as exc:
        raise fail(str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:  # unreachable, no rights, not a database
        raise fail(f"cannot open the audit log in the state database {_shown(url)}: "
                   f"{_reason(exc)}") from None
    try:
        return use(log)
    except (AuditError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:
        raise fail(f"the state database failed: {_reason(exc)}") from None
    finally:
        log.close()


def _shown(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(invalid URL)"


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    # The driver's own message, without SQLAlchemy's statement dump and help link.
    return str(getattr(exc, "orig", None) or exc).strip()


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Option(
        "--file", dir_okay=False, help="Check an exported JSONL file instead of the database.")]
    = None,
    prev_hash: Annotated[str | None, typer.Option(
        help="With --file: the hash its first record must link to (the previous export's "
             "last hash).")] = None,
) -> None:
    """Re-check every hash and link; exit 1 if anything was edited or deleted."""
    if file is not None:
        try:
            result = verify_jsonl(file, prev_hash=prev_hash)
        except AuditError as exc:
            raise fail(str(exc)) from None
    else:
        result = _with_log(ctx, lambda log: log.verify())
    if result.ok:
        where = escape(str(file)) if file else "the audit log"
        console.print(f"[green]OK[/]: {result.checked} records in {where} verify")
        if result.head_hash:  # the anchor worth keeping somewhere else
            console.print(f"head: seq {result.last_seq} hash {result.head_hash}",
                          highlight=False, soft_wrap=True)
        return
    for problem in result.problems:
        console.print(f"[red]problem:[/] {escape(problem)}", highlight=False)
    console.print(f"[red]FAILED[/]: {len(result.problems)} problem(s) in {result.checked} "
                  "records")
    raise typer.Exit(1)


@audit_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(
        "--out", dir_okay=False, help="JSONL file to write [default: standard output].")]
    = None,
    to_s3: Annotated[bool, typer.Option(
        "--s3", help="Upload to the bucket in audit.s3_bucket.")] = False,
    since: Annotated[int, typer.Option(
        "--since", min=0, help="Only records after this seq (the last one exported before).")]
    = 0,
) -> None:
    """Write the records as JSON lines, hashes included, to a file, stdout and/or S3."""
    settings = settings_from(ctx)
    audit_settings = getattr(settings, "audit", AuditSettings())
    if to_s3 and not audit_settings.s3_bucket:
        raise fail("S3 export is not configured: set audit.s3_bucket (OASIS_AUDIT__S3_BUCKET)")

    def run(log: AuditLog) -> None:
        if out is not None:
            count = log.export_jsonl(out, since_seq=since)
            err_console.print(f"wrote {count} records to {out}")
        elif not to_s3:
            log.export_jsonl(sys.stdout, since_seq=since)
        if to_s3:
            err_console.print(f"uploaded {log.export_s3(audit_settings, since_seq=since)}",
                              highlight=False)

    _with_log(ctx, run)


@audit_app.command("list")
def list_records(
    ctx: typer.Context,
    subject: Annotated[str | None, typer.Option(help="Only records about this incident or "
                                                     "action id.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind, e.g. approval.granted, or "
                                                  "a family: approval.*")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest records shown.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest audit records, oldest first."""
    found = _with_log(ctx, lambda log: log.records(subject=subject, kind=kind, limit=limit))
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in found], indent=2))
        return
    _record_table(found)


def _record_table(records: list[AuditRecord]) -> None:
    if not records:
        console.print("no audit records")
        return
    table = Table("seq", "at (UTC)", "kind", "actor", "subject", "data", "hash")
    for r in records:
        data = json.dumps(r.data, ensure_ascii=False)
        cells = (str(r.seq), f"{r.at:%Y-%m-%d %H:%M:%S}", r.kind, r.actor, r.subject,
                 data if len(data) <= 60 else data[:57] + "...", r.hash[:12])
        table.add_row(*(Text(cell) for cell in cells))  # no Rich markup from recorded text
    console.print(table)
