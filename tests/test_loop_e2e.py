"""The whole loop through real HTTP and real SMTP on localhost, as a person lives it:
`oasis demo` breaks a fleet; the approval email arrives in the mail catcher; the test opens
the link, confirms, and sees the rollback, verification, `resolved` and the final report.
And: the service killed in the middle of an action completes it exactly once on restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent
from oasis.notify.catcher import MailCatcher, text_of
from oasis.simulate.fleet import Fleet
from tests.held_rollback import HeldRollback
from tests.helpers import wait_until
from tests.servers import free_port, serving

LINK = re.compile(r"https?://\S+/approve/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
OASIS = [sys.executable, "-m", "oasis"]


@pytest.mark.slow
def test_demo_loop_with_a_person_approving_from_the_email(tmp_path: Path) -> None:
    port, control, smtp = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*OASIS, "demo", "--speed", "120", "--approve-after", "-1", "--duration", "240",
         "--keep-running",  # it would stop by itself once resolved, racing our last reads
         "--port", str(port), "--control-port", str(control), "--smtp-port", str(smtp)],
        env={**os.environ, "OASIS_DATA_DIR": str(tmp_path), "COLUMNS": "200"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mailbox = MailCatcher(tmp_path / "demo" / "mail")
    try:
        def approval_link() -> str | None:
            for message in mailbox.messages():
                found = LINK.search(text_of(message))
                if found and "approv" in message["subject"].lower():
                    return found.group(0)
            return None

        link = wait_until(approval_link, 150, what="the approval email", process=proc)
        page = httpx.get(link, timeout=10)
        assert page.status_code == 200 and "rollback" in page.text
        assert "checkout-service" in page.text
        fleet = httpx.get(f"http://127.0.0.1:{control}/fleet/actions", timeout=5).json()
        assert fleet == []  # opening the link (as a mail scanner would) decided nothing
        done = httpx.post(link, data={"name": "alice@example.com"}, timeout=10)
        assert done.status_code == 200 and "Approved" in done.text
        assert httpx.post(link, data={"name": "mallory"}, timeout=10).status_code == 409

        incident_id = httpx.get(f"{url}/api/v1/incidents", timeout=5).json()[0]["id"]

        def resolved() -> dict | None:
            inc = httpx.get(f"{url}/api/v1/incidents/{incident_id}", timeout=5).json()
            return inc if inc["status"] in ("resolved", "escalated") else None

        incident = wait_until(resolved, 150, what="resolution", process=proc)
        assert incident["status"] == "resolved"
        moves = [e["data"]["to"] for e in incident["timeline"] if e["kind"].startswith("status:")]
        assert moves == ["pending_approval", "approved", "mitigating", "mitigated", "resolved"]
        assert any(e["actor"] == "alice@example.com (email link)" for e in incident["timeline"])
        actions = httpx.get(f"http://127.0.0.1:{control}/fleet/actions", timeout=5).json()
        assert [(a["action"], a["service"]) for a in actions] == [
            ("rollback", "checkout-service")]
        report = wait_until(lambda: [
            m for m in mailbox.messages() if "resolved" in m["subject"].lower()], 60,
            what="the final report", process=proc)
        assert "roll back checkout-service" in text_of(report[0])
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(180)  # generous: closing the stores may wait on a disk busy elsewhere
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def slow_fleet() -> HeldRollback:
    """checkout-service on a bad 9.9.9, behind a control API that holds the first rollback."""
    fleet = Fleet()
    fleet.deploy("checkout-service", "9.9.9")
    return HeldRollback(fleet)


@pytest.mark.slow
def test_service_killed_mid_action_completes_it_exactly_once(tmp_path: Path) -> None:
    slow = slow_fleet()
    now = datetime.now(UTC)
    data = tmp_path / "data"
    data.mkdir()
    store = IncidentStore(f"sqlite:///{data / 'state.db'}")
    store.create(Incident(
        "inc-crash", Status.ANALYSIS_COMPLETE, Severity.HIGH, "checkout errors after 9.9.9",
        ["checkout-service"], "checkout-service", now, now, now,
        suspected_change={"service": "checkout-service", "version": "9.9.9",
                          "previous_version": slow.fleet.state("checkout-service").history[-1],
                          "deployed_at": now.isoformat(), "minutes_before_onset": 1}),
        TimelineEvent(now, "detected", "seen"))
    store.close()
    with serving(slow.app) as control:
        config = tmp_path / "oasis.yaml"
        port = free_port()
        config.write_text(yaml.safe_dump({
            "data_dir": str(data),
            "notify": {"email_enabled": False},
            "remediate": {"executors": [{"type": "fleet", "name": "sim", "url": control,
                                         "kinds": ["rollback"]}]},
            "respond": {"interval_seconds": 0.5, "action_lease_seconds": 2},
            "server": {"port": port}}))
        env = {**os.environ, "OASIS_CONFIG": str(config)}
        url = f"http://127.0.0.1:{port}"

        def serve() -> subprocess.Popen:
            return subprocess.Popen([*OASIS, "serve"], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)

        first = serve()
        try:
            def proposed() -> list | None:
                try:
                    inc = httpx.get(f"{url}/api/v1/incidents/inc-crash", timeout=2).json()
                except httpx.HTTPError:
                    return None
                return inc["actions"] if inc.get("status") == "pending_approval" else None

            [action] = wait_until(proposed, 60, what="the proposal", process=first)
            approved = httpx.post(f"{url}/api/v1/incidents/inc-crash/actions/{action['id']}"
                                  "/approve", json={"actor": "alice"}, timeout=5)
            assert approved.status_code == 200, approved.text
            assert slow.started.wait(60), "the rollback never reached the fleet"
            first.send_signal(signal.SIGKILL)  # mid-rollback: the fleet is still working
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        second = serve()
        try:
            def finished() -> dict | None:
                try:
                    inc = httpx.get(f"{url}/api/v1/incidents/inc-crash", timeout=2).json()
                except httpx.HTTPError:
                    return None
                done = [a for a in inc.get("actions", []) if a["status"] == "succeeded"]
                return done[0] if done else None

            action = wait_until(finished, 60, what="the action to finish after the restart",
                                process=second)
        finally:
            slow.release()
            second.send_signal(signal.SIGTERM)
            second.wait(20)
        history = [(a.action, a.service) for a in slow.fleet.actions()]
        assert history == [("rollback", "checkout-service")]  # done once
        assert slow.calls == 2 and action["attempts"] == 2  # re-issued, not re-run
        assert slow.fleet.state("checkout-service").version != "9.9.9"
