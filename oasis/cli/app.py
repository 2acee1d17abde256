"""The root Typer application every command module registers on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from oasis.config import ConfigError, Settings, load_settings

app = typer.Typer(
    name="oasis",
    help="OASIS: watch signals, find what is wrong and why, ask before acting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()
err_console = Console(stderr=True)


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
    """The settings for this invocation, or exit 2 with the reason they are invalid."""
    try:
        return load_settings(ctx.find_root().obj)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error for a person and return the exit to raise."""
    err_console.print(f"[red]error:[/] {message}")
    return typer.Exit(code)
