"""`oasis ingest FILE...`: load NDJSON signals into the local store or a running server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, BinaryIO

import httpx
import orjson
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from oasis.cli.app import app, console, err_console, fail, settings_from
from oasis.ingest import IngestReport, Rejection, open_source
from oasis.runtime.memory import bound_allocators
from oasis.runtime.services import open_ingestor
from oasis.signals.retry import Backoff, retry_after_seconds, with_retries
from oasis.store import StoreLockedError, open_signal_store

#: Size of one HTTP request body when sending to a server with `--url`.
HTTP_CHUNK_BYTES = 4 * 1024 * 1024
BUSY_RETRIES = 120  # tries of one chunk while the server answers 429 (about 2 minutes)
_SHOWN_ERRORS = 20


@app.command()
def ingest(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="NDJSON files (gzip allowed); - for stdin.")],
    url: Annotated[
        str | None,
        typer.Option(help="Send to a running OASIS server (e.g. http://127.0.0.1:8080) "
                          "instead of writing the local store."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest signals. Bad records are reported with their line and skipped; good ones are kept.

    Exits 0 when every record was stored, 1 when some were rejected, 2 on an error.
    """
    settings = settings_from(ctx)
    max_errors = settings.ingest.max_errors
    total = IngestReport()
    if url is None:
        bound_allocators()  # a long file must not grow this process's memory
        try:
            store = open_signal_store(settings)
        except StoreLockedError as exc:
            raise fail(str(exc)) from None
        ingestor = open_ingestor(settings, store, workers=settings.ingest.workers)
    try:
        with _progress(quiet=as_json) as progress:
            for name in files:
                try:
                    with open_source(name) as source:
                        task = progress.add_task(source.name, total=source.size)

                        def advance(_: IngestReport, src=source, task=task) -> None:
                            progress.update(task, completed=src.position())

                        if url is None:
                            report = ingestor.ingest_file(
                                source.lines, source=source.name, on_batch=advance
                            )
                        else:
                            report = _send(url, source.lines, source.name, advance, max_errors)
                        progress.update(task, completed=source.size or source.position())
                except OSError as exc:
                    raise fail(f"cannot read {name}: {exc.strerror or exc}") from None
                total.merge(report, max_errors=max_errors)
    finally:
        if url is None:
            store.close()
    _print_report(total, as_json)
    if total.rejected:
        raise typer.Exit(1)


def _send(url: str, lines: BinaryIO, name: str, advance, max_errors: int) -> IngestReport:
    """POST the file in NDJSON chunks, keeping line numbers relative to the whole file."""
    report = IngestReport()
    endpoint = url.rstrip("/") + "/api/v1/signals"
    with httpx.Client(timeout=120) as client:
        for first_line, body in _chunks(lines):
            try:
                # A busy server answers 429: wait its Retry-After and send the chunk again.
                response = with_retries(
                    lambda body=body: client.post(
                        endpoint, content=body, headers={"content-type": "application/x-ndjson"}
                    ),
                    attempts=BUSY_RETRIES, backoff=Backoff(1.0, 10.0),
                    retry_if=lambda r: r.status_code == 429,
                    wait_of=lambda r: retry_after_seconds(r.headers),
                ).result
            except httpx.HTTPError as exc:
                raise fail(f"cannot reach {endpoint}: {exc}") from None
            assert response is not None
            if response.status_code not in (200, 422):
                raise fail(f"{endpoint} answered {response.status_code}: {response.text[:500]}")
            chunk = _report_from_json(response.json(), first_line - 1, name)
            report.merge(chunk, max_errors=max_errors)
            advance(chunk)
    return report


def _chunks(lines: BinaryIO) -> Iterator[tuple[int, bytes]]:
    buffer: list[bytes] = []
    size = 0
    first = next_line = 1
    for line in lines:
        buffer.append(line if line.endswith(b"\n") else line + b"\n")
        size += len(line)
        next_line += 1
        if size >= HTTP_CHUNK_BYTES:
            yield first, b"".join(buffer)
            buffer, size, first = [], 0, next_line
    if buffer:
        yield first, b"".join(buffer)


def _report_from_json(data: dict, line_offset: int, name: str) -> IngestReport:
    return IngestReport(
        accepted=data["accepted"],
        duplicates=data["duplicates"],
        rejected=data["rejected"],
        errors=[Rejection(e["line"] + line_offset, e["reason"], name) for e in data["errors"]],
        errors_omitted=data["errors_omitted"],
    )


def _progress(*, quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )


def _print_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        console.print_json(orjson.dumps(report.as_dict()).decode())
        return
    table = Table(show_header=True, header_style="bold")
    for column in ("accepted", "duplicates", "rejected"):
        table.add_column(column, justify="right")
    table.add_row(str(report.accepted), str(report.duplicates), str(report.rejected))
    console.print(table)
    for error in report.errors[:_SHOWN_ERRORS]:
        # Text, not markup: a reason may quote brackets from the rejected line.
        console.print(Text.assemble((f"{error.source}:{error.line}", "yellow"),
                                    f": {error.reason}"), soft_wrap=True)
    hidden = report.rejected - min(len(report.errors), _SHOWN_ERRORS)
    if hidden > 0:
        console.print(f"... and {hidden} more rejected (use --json for the first "
                      f"{len(report.errors)})")
