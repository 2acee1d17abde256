"""`oasis demo`: the service, a live simulated fleet streaming into it, and where to look."""

from __future__ import annotations

import shutil
import threading
import time
from typing import Annotated

import httpx
import typer
import uvicorn

from oasis.api import create_app
from oasis.cli.app import app, console, fail, settings_from
from oasis.cli.simulate import start_control_server
from oasis.simulate import SCENARIOS
from oasis.simulate.live import LiveStats, run_live, start_live


@app.command()
def demo(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option(help="Scenario to play")] = "bad_deploy",
    port: Annotated[int, typer.Option(help="Port of the OASIS service")] = 8080,
    control_port: Annotated[int, typer.Option(help="Port of the fleet control API")] = 8081,
    speed: Annotated[float, typer.Option(help="Simulated minutes per real minute")] = 10.0,
    duration: Annotated[float | None, typer.Option(
        help="Stop after this many seconds [default: run until Ctrl-C]")] = None,
) -> None:
    """Run OASIS on the embedded store with a simulated fleet that breaks after a while.

    Data goes to DATA_DIR/demo, emptied at each start, so a demo never mixes with real data.
    """
    if scenario not in SCENARIOS:
        raise fail(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    settings = settings_from(ctx)
    demo_dir = settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    # Check as often, in simulated time, as the live monitor would in real time.
    detect = settings.detect.model_copy(
        update={"check_interval_seconds": settings.detect.check_interval_seconds / speed})
    settings = settings.model_copy(update={"data_dir": demo_dir, "detect": detect})
    url = f"http://127.0.0.1:{port}"

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, name="oasis-api", daemon=True).start()
    if not _wait_ready(url, server):
        raise fail(f"the service did not start on port {port} (in use? try --port)")

    sim, clock = start_live(scenario, url, speed=speed, onset_after_minutes=10)
    control = start_control_server(sim.fleet, control_port)
    onset_in = (sim.truth.onset - clock.origin).total_seconds() / speed
    console.print(f"""[bold]OASIS demo[/]  data in {demo_dir}
  API docs        {url}/docs
  services seen   {url}/api/v1/services
  incidents       {url}/api/v1/incidents
  fleet control   http://127.0.0.1:{control_port}/fleet
Streaming 2 h of history, then live at {speed:g}x: [yellow]{scenario}[/] starts in about \
{onset_in:.0f} s ({sim.truth.description}). Ctrl-C stops.""")

    seen: set[str] = set()

    def progress(stats: LiveStats) -> None:
        if stats.minutes % 10 == 0 and stats.sim_time is not None:
            console.print(f"  {stats.sim_time:%H:%M}Z simulated, {stats.records:,} records sent")
        try:
            incidents = httpx.get(f"{url}/api/v1/incidents", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return
        for inc in incidents:
            if inc["id"] not in seen:
                seen.add(inc["id"])
                console.print(f"[bold red]incident[/] {inc['id']} ({inc['severity']}): "
                              f"{inc['title']}\n  {url}/api/v1/incidents/{inc['id']}")

    try:
        stats = run_live(sim, clock, url, duration=duration, on_minute=progress)
    except KeyboardInterrupt:
        stats = None
    finally:
        control.should_exit = True
        server.should_exit = True
        time.sleep(0.5)
    if stats is not None:
        console.print(f"demo over: {stats.records:,} records in {stats.minutes} minutes")


def _wait_ready(url: str, server: uvicorn.Server, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if server.should_exit:  # uvicorn gave up, e.g. the port is taken
            return False
        time.sleep(0.1)
    return False
