"""`oasis simulate`: write hours of simulated fleet signals, or stream them into a server."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from oasis.cli.app import app, console, err_console, fail, print_json
from oasis.signals.parse import RecordError, parse_timestamp
from oasis.simulate import SCENARIOS, GeneratorConfig
from oasis.simulate import simulate as build_simulation

_SCENARIO_HELP = "; ".join(f"{name}: {s.summary}" for name, s in SCENARIOS.items())


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except RecordError as exc:
        raise fail(f"{option}: {exc}") from None


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help=f"Scenario. {_SCENARIO_HELP}")] = "bad_deploy",
    fleet: Annotated[str, typer.Option(help="Fleet: shop (7 services) or media (9)")] = "shop",
    service: Annotated[
        str | None, typer.Option(help="Service the scenario hits [default: the scenario's own]")
    ] = None,
    hours: Annotated[float, typer.Option(help="Hours of data to write (--out)")] = 3.0,
    seed: Annotated[int, typer.Option(help="Same seed and start, same data")] = 1,
    start: Annotated[
        str | None,
        typer.Option(help="First minute, ISO 8601 with zone [default: this hour minus --hours]"),
    ] = None,
    onset: Annotated[
        str | None,
        typer.Option(
            help="When the scenario starts: ISO 8601, or minutes after --start "
            "[default: two thirds in]"
        ),
    ] = None,
    rpm: Annotated[float, typer.Option(help="Requests per minute at the edge")] = 600.0,
    log_sample: Annotated[
        float,
        typer.Option(help="Share of traces whose successful spans are logged (errors always are)"),
    ] = 0.1,
    out: Annotated[Path | None, typer.Option(help="Write NDJSON here (- for stdout)")] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help="Also write what really happened (root cause, onset, change) as JSON"),
    ] = None,
    live: Annotated[bool, typer.Option(help="Stream into a running server instead")] = False,
    url: Annotated[str, typer.Option(help="Server for --live")] = "http://127.0.0.1:8080",
    speed: Annotated[float, typer.Option(help="--live: simulated minutes per real minute")] = 1.0,
    backfill_hours: Annotated[
        float, typer.Option(help="--live: hours of history sent first")
    ] = 2.0,
    onset_after: Annotated[
        float,
        typer.Option(help="--live: simulated minutes after the history before the scenario starts"),
    ] = 10.0,
    control_port: Annotated[
        int, typer.Option(help="--live: serve the fleet control API on this port (0: don't)")
    ] = 8081,
    duration: Annotated[
        float | None,
        typer.Option(help="--live: stop after this many real seconds [default: run until Ctrl-C]"),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="With --out FILE: print what was written (records, what really happened) as JSON",
        ),
    ] = False,
) -> None:
    """Simulate a 7-service fleet with a named incident scenario (or a healthy control)."""
    if not 0 <= log_sample <= 1:
        raise fail("--log-sample must be between 0 and 1")
    if rpm <= 0:
        raise fail("--rpm must be positive")
    if live == (out is not None):
        raise fail("give exactly one of --out FILE or --live")
    if as_json and (live or str(out) == "-"):
        raise fail("--json goes with --out FILE (with --out - the records are the output)")
    config = GeneratorConfig(rpm=rpm, log_sample=log_sample, ids=live) if fleet == "shop" else None
    if live:
        _live(
            scenario,
            service,
            seed,
            config,
            url,
            speed,
            backfill_hours,
            onset_after,
            control_port,
            duration,
            truth,
        )
        return
    onset_value: datetime | float | None
    try:
        onset_value = float(onset) if onset is not None else None
    except ValueError:
        onset_value = _time(onset, "--onset")
    try:
        sim = build_simulation(
            scenario,
            hours=hours,
            seed=seed,
            start=_time(start, "--start"),
            onset=onset_value,
            service=service,
            config=config,
            fleet=fleet,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    assert out is not None
    if str(out) == "-":
        n = sim.write(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        with out.open("wb") as f:
            n = sim.write(f)
    if truth is not None:
        truth.write_bytes(orjson.dumps(sim.truth.to_dict(), option=orjson.OPT_INDENT_2))
    t = sim.truth
    if as_json:
        print_json({"records": n, "out": str(out), "truth": t.to_dict()})
        return
    err_console.print(
        f"wrote {n:,} records: {t.scenario}, {t.start:%Y-%m-%d %H:%M}Z to {t.end:%H:%M}Z, "
        f"onset {t.onset:%H:%M}Z"
        + (f", root cause {t.root_cause_service}" if t.root_cause_service else "")
        + (f" -> {out}" if str(out) != "-" else "")
    )


def _live(
    scenario: str,
    service: str | None,
    seed: int,
    config: GeneratorConfig,
    url: str,
    speed: float,
    backfill_hours: float,
    onset_after: float,
    control_port: int,
    duration: float | None,
    truth: Path | None,
) -> None:
    from oasis.simulate.live import run_live, start_live

    try:
        sim, clock = start_live(
            scenario,
            url,
            speed=speed,
            backfill_hours=backfill_hours,
            onset_after_minutes=onset_after,
            seed=seed,
            service=service,
            config=config,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    if truth is not None:
        truth.write_bytes(orjson.dumps(sim.truth.to_dict(), option=orjson.OPT_INDENT_2))
    server = start_control_server(sim.fleet, control_port) if control_port else None
    console.print(
        f"streaming {scenario} to {url} at {speed}x; onset at "
        f"{sim.truth.onset:%H:%M}Z simulated time"
    )
    if server:
        console.print(f"fleet control API: http://127.0.0.1:{control_port}/fleet")
    if speed > 1:
        console.print("faster than real time, records run ahead of the wall clock: the "
                      "server must accept them (ingest.max_future_seconds: 0)")
    try:
        # With auth on, the service wants a key like any sender (OASIS_API_KEY).
        stats = run_live(
            sim,
            clock,
            url,
            duration=duration,
            stop=threading.Event(),
            api_key=os.environ.get("OASIS_API_KEY") or None,
        )
    except KeyboardInterrupt:
        return
    finally:
        if server:
            server.should_exit = True
    console.print(
        f"sent {stats.records:,} records over {stats.minutes} simulated minutes"
        + (
            f"; {stats.failed_posts} batches failed: {stats.last_error}"
            if stats.failed_posts
            else ""
        )
    )
    if stats.failed_posts:
        raise typer.Exit(1)


def start_control_server(fleet, port: int, host: str = "127.0.0.1"):
    """Serve the fleet control API on a background thread; returns the uvicorn server."""
    import uvicorn

    from oasis.simulate.control import create_control_app

    server = uvicorn.Server(
        uvicorn.Config(create_control_app(fleet), host=host, port=port, log_level="warning")
    )
    threading.Thread(target=server.run, name="fleet-control", daemon=True).start()
    return server
