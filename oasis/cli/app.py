"""The root Typer application every command module registers on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

import oasis
from oasis.config import Settings, load_settings
from oasis.signals.errors import OasisError

# soft_wrap: lines are left whole for the terminal to wrap, never broken at 80 columns when
# piped, so a path or a `file:line` in a message stays one word for grep and copy-paste.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


class _Commands(TyperGroup):
    """The root command: an `OasisError` no command handled is printed for a person and
    exits with its `exit_code` (2 for bad input or settings, 1 otherwise), in this one place."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OasisError as exc:
            raise fail(exc.message, exc.exit_code) from None


app = typer.Typer(
    cls=_Commands,
    name="oasis",
    help="OASIS: watch signals, find what is wrong and why, ask before acting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"oasis {oasis.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="OASIS_CONFIG",
            dir_okay=False,
            help="YAML settings file (OASIS_* variables override it).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Every command reads the data dir from OASIS_DATA_DIR (or the config file)."""
    ctx.obj = config


def settings_from(ctx: typer.Context) -> Settings:
    """The settings for this invocation; a ConfigError exits 2 with the reason they are
    invalid (`_Commands`)."""
    return load_settings(ctx.find_root().obj)


def no_data_yet(settings: Settings) -> Path | None:
    """The SQLite state database's path when it does not exist yet (a fresh data dir),
    else None. Commands that only read say so instead of creating the file (or the dir)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(settings.incident_db_url)
    except sa.exc.ArgumentError:
        return None  # opening it reports the bad URL
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def nothing_stored(settings: Settings) -> str | None:
    """`no data yet at PATH (...)` when the state database does not exist yet."""
    missing = no_data_yet(settings)
    if missing is None:
        return None
    return (
        f"no data yet at {missing} (nothing has been stored there: start `oasis serve` "
        "or `oasis ingest`, or point OASIS_DATA_DIR at your data)"
    )


def print_json(data: object) -> None:
    """Machine-readable output on stdout: indented JSON, nothing else."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error for a person and return the exit to raise."""
    err_console.print(f"[red]error:[/] {message}")
    return typer.Exit(code)
