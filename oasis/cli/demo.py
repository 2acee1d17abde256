"""`oasis demo`: the whole loop on one machine, nothing to install.

A simulated fleet streams into the service; a scenario breaks it; OASIS opens an incident,
mails a summary and an approval request to a local mail catcher; the demo (or you, with
`--approve-after -1`) opens the link and confirms; the specialist acts on the fleet's control
API; verification watches the symptoms stop; the final report is mailed.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn

from oasis.api import create_app
from oasis.auth import Role
from oasis.cli.app import app, console, fail, settings_from
from oasis.cli.simulate import start_control_server
from oasis.config import Settings
from oasis.simulate import SCENARIOS
from oasis.simulate.live import LiveStats, run_live, start_live

LINK = re.compile(r"https?://\S+/approve/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
DEMO_APPROVER = "demo-approver@example.com"


def demo_settings(settings: Settings, demo_dir: Path, *, port: int, control_port: int,
                  smtp_port: int, speed: float) -> Settings:
    """The user's settings, pointed at the demo's data dir, fleet, catcher and clock."""
    # Check as often, in simulated time, as the live monitor would in real time.
    detect = settings.detect.model_copy(
        update={"check_interval_seconds": settings.detect.check_interval_seconds / speed})
    return settings.model_copy(update={
        "data_dir": demo_dir, "detect": detect, "state_url": None,
        "notify": settings.notify.model_copy(update={
            "recipients": ["oncall@example.com"], "dispatch_interval_seconds": 1.0,
            "smtp": settings.notify.smtp.model_copy(update={
                "host": "127.0.0.1", "port": smtp_port, "security": "none",
                "username": None, "password": None})}),
        "remediate": settings.remediate.model_validate({
            "executors": [{"type": "fleet", "name": "simulated-fleet",
                           "url": f"http://127.0.0.1:{control_port}",
                           "kinds": ["rollback", "restart", "scale"]}]}),
        "approve": settings.approve.model_copy(update={
            "public_url": f"http://127.0.0.1:{port}", "auto_approve": []}),
        "respond": settings.respond.model_copy(update={"interval_seconds": 1.0}),
        # The fleet's clock runs `speed` times faster than the wall clock, so its records
        # are stamped ahead of it: the demo server takes them.
        "ingest": settings.ingest.model_copy(update={"max_future_seconds": 0.0}),
    })


@app.command()
def demo(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option(help="Scenario to play")] = "bad_deploy",
    port: Annotated[int, typer.Option(help="Port of the OASIS service")] = 8080,
    control_port: Annotated[int, typer.Option(help="Port of the fleet control API")] = 8081,
    smtp_port: Annotated[int, typer.Option(help="Port of the local mail catcher")] = 8025,
    speed: Annotated[float, typer.Option(help="Simulated minutes per real minute")] = 20.0,
    approve_after: Annotated[float, typer.Option(
        help="Seconds after the approval email arrives before the demo opens its link and "
             "confirms; -1 leaves it to you")] = 5.0,
    duration: Annotated[float | None, typer.Option(
        help="Stop after this many seconds [default: when the incident is closed]")] = None,
    keep_running: Annotated[bool, typer.Option(
        help="Keep streaming after the incident is closed, until Ctrl-C")] = False,
) -> None:
    """Run the whole loop on the embedded store: break a simulated fleet, then watch OASIS
    detect, ask, fix, verify and report.

    Data and mail go to DATA_DIR/demo, emptied at each start.
    """
    from oasis.notify.catcher import MailCatcher

    if scenario not in SCENARIOS:
        raise fail(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    base = settings_from(ctx)
    demo_dir = base.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    settings = demo_settings(base, demo_dir, port=port, control_port=control_port,
                             smtp_port=smtp_port, speed=speed)
    url = f"http://127.0.0.1:{port}"
    catcher = MailCatcher(demo_dir / "mail", port=smtp_port)
    try:
        catcher.start()
    except OSError as exc:
        raise fail(f"the mail catcher cannot listen on port {smtp_port} ({exc}); "
                   "try --smtp-port") from None
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    serving = threading.Thread(target=server.run, name="oasis-api", daemon=True)
    serving.start()
    if not _wait_ready(url, server):
        catcher.stop()
        raise fail(f"the service did not start on port {port} (in use? try --port)")

    # With login on, the demo's own simulator and watcher need a key like any sender.
    api_key = (app.state.auth.users.create_api_key("oasis-demo", Role.ADMIN)[1]
               if settings.auth.enabled else None)
    sim, clock = start_live(scenario, url, speed=speed, onset_after_minutes=10)
    control = start_control_server(sim.fleet, control_port)
    onset_in = (sim.truth.onset - clock.origin).total_seconds() / speed
    console.print(f"""[bold]OASIS demo[/]  data in {demo_dir}
  console         {url}/   (chat: {url}/static/chat.html)
  API docs        {url}/docs
  incidents       {url}/api/v1/incidents
  fleet control   http://127.0.0.1:{control_port}/fleet
  mail            {demo_dir / 'mail'}  (oasis mail list --dir {demo_dir / 'mail'})
Streaming 2 h of history, then live at {speed:g}x: [yellow]{scenario}[/] starts in about \
{onset_in:.0f} s ({sim.truth.description}). Ctrl-C stops.""")
    watcher = _Watcher(url, catcher, approve_after, api_key)
    stop = threading.Event()

    def progress(stats: LiveStats) -> None:
        if stats.minutes % 10 == 0 and stats.sim_time is not None:
            console.print(f"  [dim]{stats.sim_time:%H:%M}Z simulated, "
                          f"{stats.records:,} records sent[/]")
        if watcher.poll() and not keep_running:
            stop.set()

    try:
        stats = run_live(sim, clock, url, duration=duration, stop=stop, on_minute=progress,
                         api_key=api_key)
    except KeyboardInterrupt:
        stats = None
    finally:
        control.should_exit = True
        server.should_exit = True
        # Let the service shut down (its loops stop, its stores close) before the
        # interpreter does: DuckDB aborts the process if a store is torn down under it.
        serving.join(timeout=5)
        if serving.is_alive():  # a pass still running, or a slow disk under the last write
            console.print("  [dim]waiting for the service to close its stores "
                          "(Ctrl-C to stop without waiting)[/]")
            try:
                serving.join()
            except KeyboardInterrupt:
                catcher.stop()
                # Leave at once rather than let the interpreter tear DuckDB down under the
                # service: the store's write-ahead log is replayed on the next start.
                os._exit(130)
        catcher.stop()
    if stats is not None:
        actions = [f"{a.action} {a.service}" for a in sim.fleet.actions()]
        console.print(f"demo over: {stats.records:,} records in {stats.minutes} simulated "
                      f"minutes; actions on the fleet: {', '.join(actions) or 'none'}")


class _Watcher:
    """Follows the incidents and the mailbox, prints what a person would notice, and plays
    the approver when asked to."""

    def __init__(self, url: str, catcher, approve_after: float,
                 api_key: str | None = None) -> None:
        self.url, self.catcher, self.approve_after = url, catcher, approve_after
        self.headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.status: dict[str, str] = {}
        self.mails_seen = 0
        self.link_seen_at: float | None = None
        self.link: str | None = None
        self.approved = False

    def poll(self) -> bool:
        """Print news; True once every incident is closed and its report mailed."""
        try:
            incidents = httpx.get(f"{self.url}/api/v1/incidents", timeout=5,
                                  headers=self.headers).json()
        except (httpx.HTTPError, ValueError):
            return False
        for inc in incidents:
            if self.status.get(inc["id"]) != inc["status"]:
                if inc["id"] not in self.status:
                    console.print(f"[bold red]incident[/] {inc['id']} ({inc['severity']}): "
                                  f"{inc['title']}")
                self.status[inc["id"]] = inc["status"]
                console.print(f"  {inc['id']} is now [bold]{inc['status']}[/]")
        self._read_mail()
        if self.link and not self.approved and self.approve_after >= 0 and (
                time.monotonic() - (self.link_seen_at or 0) >= self.approve_after):
            self._approve()
        messages = self.catcher.messages()
        reported = any("resolved" in (m["subject"] or "").lower() or "report" in (
            m["subject"] or "").lower() for m in messages)
        return bool(self.status) and reported and all(
            s in ("resolved", "escalated", "rejected") for s in self.status.values())

    def _read_mail(self) -> None:
        from oasis.notify.catcher import text_of

        messages = self.catcher.messages()
        for message in messages[self.mails_seen:]:
            console.print(f"[cyan]mail[/] to {message['to']}: {message['subject']}")
            found = LINK.search(text_of(message))
            if found and self.link is None:
                self.link, self.link_seen_at = found.group(0), time.monotonic()
                # The link is a credential: shown only when a person must open it.
                if self.approve_after < 0:
                    console.print(f"  approve link: {self.link}")
                    console.print("  open it in a browser to confirm the action")
                else:
                    console.print("  approval link received")
        self.mails_seen = len(messages)

    def _approve(self) -> None:
        self.approved = True
        page = httpx.get(self.link, timeout=10)
        console.print(f"[green]demo approver[/] opened the link (HTTP {page.status_code}) and "
                      f"confirms as {DEMO_APPROVER}")
        done = httpx.post(self.link, data={"name": DEMO_APPROVER, "note": "demo"}, timeout=10)
        if done.status_code != 200:
            console.print(f"  [red]the approval was refused (HTTP {done.status_code})[/]")


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
