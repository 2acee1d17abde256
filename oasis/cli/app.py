"""The root Typer application every command module registers on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from oasis.config import Settings, load_settings
from oasis.signals.errors import OasisError

console = Console()
err_console = Console(stderr=True)


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


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", envvar="OASIS_CONFIG", dir_okay=False,
                     help="YAML settings file (OASIS_* variables override it)."),
    ] = None,
) -> None:
    """Every command reads the data dir from OASIS_DATA_DIR (or the config file)."""
    ctx.obj = config


def settings_from(ctx: typer.Context) -> Settings:
    """The settings for this invocation; a ConfigError exits 2 with the reason they are
    invalid (`_Commands`)."""
    return load_settings(ctx.find_root().obj)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error for a person and return the exit to raise."""
    err_console.print(f"[red]error:[/] {message}")
    return typer.Exit(code)
