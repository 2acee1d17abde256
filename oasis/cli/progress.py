"""One progress bar for every long command (eval, replay, kb add, audit export).

It draws on stderr, so stdout stays the command's result (JSON with `--json`, an export's
lines), and only on a terminal: piped or captured output gets no bar at all. It is gone
once the work is done (transient), leaving only the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from oasis.cli.app import err_console

Advance = Callable[..., None]


@contextmanager
def progress_bar(label: str, total: float | None, *, shown: bool = True) -> Iterator[Advance]:
    """`advance(done, note, total)` sets how much is done, what is being done and (when it
    is only known once the work starts) how much there is."""
    columns = [
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeRemainingColumn(),
    ]
    with Progress(
        *columns,
        console=err_console,
        transient=True,
        disable=not (shown and err_console.is_terminal),
    ) as bar:
        task = bar.add_task("", total=total)

        def advance(done: float, note: str = "", of: float | None = None) -> None:
            bar.update(
                task, completed=done, description=note, **({"total": of} if of is not None else {})
            )

        yield advance
