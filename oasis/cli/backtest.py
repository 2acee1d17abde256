"""`oasis replay --source KIND=URL --start --end`: detection over a store's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import TypeAdapter, ValidationError
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from oasis.cli.app import err_console, fail
from oasis.config import Settings
from oasis.monitor.backtest import backtest
from oasis.monitor.replay import ReplayResult
from oasis.signals.model import Signal
from oasis.signals.times import parse_aware
from oasis.sources import SourceSettings, SourceUnavailable, open_sources

KINDS = ("prometheus", "loki", "opensearch")


def run_backtest(settings: Settings, specs: Sequence[str], start: str | None,
                 end: str | None, records: Sequence[Signal]) -> ReplayResult:
    entries = [source_settings(settings, spec) for spec in specs]
    if not start or not end:
        raise fail("--source needs --start and --end (ISO 8601 with a zone, e.g. "
                   "2026-11-30T06:00:00Z)")
    begin, finish = _time("--start", start), _time("--end", end)
    if finish <= begin:
        raise fail("--end must be after --start")
    try:
        sources = open_sources(entries)
    except ValueError as exc:
        raise fail(str(exc)) from None
    minutes = (finish - begin).total_seconds() / 60
    try:
        with Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.description}"),
                      TimeRemainingColumn(), console=err_console, transient=True) as bar:
            task = bar.add_task("", total=minutes)

            def advance(clock: datetime) -> None:
                bar.update(task, completed=(clock - begin).total_seconds() / 60,
                           description=f"{clock:%Y-%m-%d %H:%M}Z")

            return backtest(sources, begin, finish, settings.detect, records, advance)
    except SourceUnavailable as exc:
        raise fail(str(exc)) from None
    finally:
        for s in sources:
            s.close()


def source_settings(settings: Settings, spec: str) -> SourceSettings:
    """`KIND=URL`, with the options of the config's first source of that kind."""
    kind, sep, url = spec.partition("=")
    kind = kind.strip().lower()
    if not sep or not url.strip() or kind not in KINDS:
        raise fail(f"--source {spec!r}: expected KIND=URL with KIND one of {', '.join(KINDS)}")
    base = next((s for s in settings.sources if s.kind == kind), None)
    values = base.model_dump() if base is not None else {"kind": kind}
    values["url"] = url.strip()
    try:
        return TypeAdapter(SourceSettings).validate_python(values)
    except ValidationError as exc:
        raise fail(f"--source {spec!r}: {exc.errors()[0]['msg']}") from None


def _time(option: str, text: str) -> datetime:
    try:
        return parse_aware(text)
    except ValueError as exc:
        raise fail(f"{option}: {exc}") from None
