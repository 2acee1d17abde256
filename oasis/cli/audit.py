"""`oasis audit verify|anchor|rotate-key|export|list`: check, anchor and copy the audit trail
in the state database."""

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

from oasis.audit import (
    AuditError,
    AuditKeys,
    AuditLog,
    AuditRecord,
    AuditSettings,
    VerifyResult,
    anchor,
    load_check,
    verify_jsonl,
)
from oasis.audit.anchors import AnchorCheck, ChainBroken
from oasis.audit.tables import verify_rows
from oasis.cli.app import app, console, err_console, fail, no_data_yet, print_json, settings_from
from oasis.cli.progress import progress_bar
from oasis.config import Settings

audit_app = typer.Typer(
    help="Audit trail: verify it, anchor it, rotate its key, export it, list records.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

T = TypeVar("T")


def _with_log(ctx: typer.Context, use: Callable[[AuditLog], T], keys: AuditKeys | None = None) -> T:
    """Run `use` on the configured audit log; database and audit errors exit 2 with a message."""
    url = settings_from(ctx).incident_db_url
    try:
        log = AuditLog(url, keys=keys)
    except AuditError as exc:
        raise fail(str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:  # unreachable, no rights, not a database
        raise fail(
            f"cannot open the audit log in the state database {_shown(url)}: {_reason(exc)}"
        ) from None
    try:
        return use(log)
    except (AuditError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:
        raise fail(f"the state database failed: {_reason(exc)}") from None
    finally:
        log.close()


def _keys(settings: Settings, *, create: bool) -> AuditKeys:
    try:
        keys = AuditKeys.from_settings(settings.audit, settings.data_dir, create=create)
        keys.ids()  # read the file now, so a broken one is reported before anything else
    except AuditError as exc:
        raise fail(str(exc)) from None
    for warning in keys.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    return keys


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
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", dir_okay=False, help="Check an exported JSONL file instead of the database."
        ),
    ] = None,
    prev_hash: Annotated[
        str | None,
        typer.Option(
            help="With --file: the hash its first record must link to (the previous export's "
            "last hash)."
        ),
    ] = None,
    anchors: Annotated[
        str | None,
        typer.Option(
            "--anchors",
            help="Anchors file or s3://bucket/prefix/ to hold the chain to "
            "[default: audit.anchors, or DATA_DIR/audit-anchors.jsonl if it "
            "exists].",
        ),
    ] = None,
) -> None:
    """Re-check every link, the head and the anchors; exit 1 if anything was edited or
    deleted."""
    settings = settings_from(ctx)
    keys = _keys(settings, create=False)
    if file is not None:
        try:
            result = verify_jsonl(file, prev_hash=prev_hash, keys=keys)
        except AuditError as exc:
            raise fail(str(exc)) from None
        _report(result, escape(str(file)))
        return
    check = _anchor_check(settings, keys, anchors)
    if (missing := no_data_yet(settings)) is not None:
        result = verify_rows([], None, keys, check)  # no database: an empty chain
    else:
        result = _with_log(ctx, lambda log: log.verify(anchors=check), keys=keys)
    if result.ok and not result.checked:
        where = f"no data yet at {missing}" if missing else "the audit log is empty"
        console.print(f"nothing to verify yet: {escape(where)}", highlight=False)
        return
    _report(result, "the audit log")


def _anchor_check(settings: Settings, keys: AuditKeys, given: str | None) -> AnchorCheck | None:
    target = given or settings.audit.anchors
    if target is None:
        default = Path(settings.audit.anchors_target(settings.data_dir))
        if not default.exists():
            return None
        target = str(default)
    try:
        return load_check(target, keys, settings.audit)
    except AuditError as exc:
        raise fail(str(exc)) from None


def _report(result: VerifyResult, where: str) -> None:
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]problem:[/] {escape(problem)}", highlight=False)
        console.print(
            f"[red]FAILED[/]: {len(result.problems)} problem(s) in {result.checked} records"
        )
        raise typer.Exit(1)
    console.print(f"[green]OK[/]: {result.checked} records in {where} verify")
    if result.unkeyed:
        console.print(
            f"unkeyed: {result.unkeyed} record(s) with a plain SHA-256 link, written "
            f"before audit keys: only anchors protect them against recomputation",
            highlight=False,
        )
    if result.anchors:
        console.print(
            f"anchors: {result.anchors} checked, the newest at seq {result.anchored_seq}",
            highlight=False,
        )
    if result.head_hash:  # the anchor worth keeping somewhere else
        console.print(
            f"head: seq {result.last_seq} hash {result.head_hash}", highlight=False, soft_wrap=True
        )


@audit_app.command("anchor")
def anchor_head(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Anchors file (appended to) or s3://bucket/prefix/ (one object each) "
            "[default: audit.anchors, or DATA_DIR/audit-anchors.jsonl].",
        ),
    ] = None,
) -> None:
    """Verify the chain, then append its signed head to the anchors (exit 1 if it does not
    verify)."""
    settings = settings_from(ctx)
    target = to or settings.audit.anchors_target(settings.data_dir)
    if (missing := no_data_yet(settings)) is not None:
        console.print(
            f"nothing to anchor yet: no data yet at {escape(str(missing))}", highlight=False
        )
        return
    keys = _keys(settings, create=True)

    def run(log: AuditLog):
        try:
            return anchor(log, keys, target, settings.audit)
        except ChainBroken as exc:
            for problem in exc.problems:
                console.print(f"[red]problem:[/] {escape(problem)}", highlight=False)
            console.print(f"[red]NOT ANCHORED[/]: {len(exc.problems)} problem(s)")
            raise typer.Exit(1) from None

    done = _with_log(ctx, run, keys=keys)
    if done is None:
        console.print("nothing to anchor yet: the audit log is empty")
        return
    console.print(
        f"anchored seq {done.seq} hash {done.hash} (key {done.key_id}) to {escape(done.where)}",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("rotate-key")
def rotate_key(ctx: typer.Context) -> None:
    """Add a new audit key on top of the key file; later records and anchors use it."""
    settings = settings_from(ctx)
    keys = _keys(settings, create=True)
    try:
        new = keys.rotate()
    except AuditError as exc:
        raise fail(str(exc)) from None
    retired = keys.ids()[1:]
    console.print(f"new audit key {new} in {escape(str(keys.path))}", highlight=False)
    if retired:
        console.print(
            f"retired (keep them, older records need them): {', '.join(retired)}", highlight=False
        )
    console.print(
        "running OASIS processes use the new key from their next record; copy the "
        "file to every host that writes or verifies the trail",
        highlight=False,
    )


@audit_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", dir_okay=False, help="JSONL file to write [default: standard output]."
        ),
    ] = None,
    to_s3: Annotated[
        bool, typer.Option("--s3", help="Upload to the bucket in audit.s3_bucket.")
    ] = False,
    since: Annotated[
        int,
        typer.Option(
            "--since", min=0, help="Only records after this seq (the last one exported before)."
        ),
    ] = 0,
) -> None:
    """Write the records as JSON lines, hashes included, to a file, stdout and/or S3."""
    settings = settings_from(ctx)
    audit_settings = getattr(settings, "audit", AuditSettings())
    if to_s3 and not audit_settings.s3_bucket:
        raise fail("S3 export is not configured: set audit.s3_bucket (OASIS_AUDIT__S3_BUCKET)")

    if (missing := no_data_yet(settings)) is not None:
        err_console.print(
            f"nothing to export yet: no data yet at {escape(str(missing))}", highlight=False
        )
        return

    def run(log: AuditLog) -> None:
        head = log.head()
        total = max(0, head.last_seq - since) if head else 0
        if out is not None:
            with progress_bar("audit export", total) as advance:
                count = log.export_jsonl(out, since_seq=since, on_record=advance)
            err_console.print(f"wrote {count} records to {out}")
        elif not to_s3:
            # on a terminal the lines themselves show the progress
            with progress_bar("audit export", total, shown=not sys.stdout.isatty()) as advance:
                log.export_jsonl(sys.stdout, since_seq=since, on_record=advance)
        if to_s3:
            err_console.print(
                f"uploaded {log.export_s3(audit_settings, since_seq=since)}", highlight=False
            )

    _with_log(ctx, run)


@audit_app.command("list")
def list_records(
    ctx: typer.Context,
    subject: Annotated[
        str | None, typer.Option(help="Only records about this incident or action id.")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="Only this kind, e.g. approval.granted, or a family: approval.*"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest records shown.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest audit records, oldest first."""
    if (missing := no_data_yet(settings_from(ctx))) is not None:
        if as_json:
            print_json([])
        else:
            console.print(
                f"no audit records: no data yet at {escape(str(missing))}", highlight=False
            )
        return
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
        cells = (
            str(r.seq),
            f"{r.at:%Y-%m-%d %H:%M:%S}",
            r.kind,
            r.actor,
            r.subject,
            data if len(data) <= 60 else data[:57] + "...",
            r.hash[:12],
        )
        table.add_row(*(Text(cell) for cell in cells))  # no Rich markup from recorded text
    console.print(table)
