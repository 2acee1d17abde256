"""kill -9 of a real `oasis serve` while it carries out an approved rollback: after the
restart the rollback has happened exactly once, never zero times, never twice.

The kill lands where it hurts, chosen by a crash point (oasis/signals/crashpoints.py), not
by a timer: with the action claimed but not yet run, and with it run but its outcome not
yet recorded (the restarted process re-issues the same action id; the fleet's control API
knows it and the executor answers with the first outcome instead of acting again).
The kill in the middle of the executor's HTTP call is tests/test_loop_e2e.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from oasis.simulate.control import create_control_app
from oasis.simulate.fleet import Fleet
from tests.crash_server import OasisProcess, seed_incident
from tests.servers import serving


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("point", "done_before_restart"), [("action.before_execute", 0), ("action.after_execute", 1)]
)
def test_kill_9_during_an_approved_action_runs_it_exactly_once(
    tmp_path: Path, point: str, done_before_restart: int
) -> None:
    fleet = Fleet()
    fleet.deploy("checkout-service", "9.9.9")
    with serving(create_control_app(fleet)) as control:
        server = OasisProcess(
            tmp_path,
            {
                "notify": {"email_enabled": False},
                "remediate": {
                    "executors": [
                        {"type": "fleet", "name": "sim", "url": control, "kinds": ["rollback"]}
                    ]
                },
                # The dead process's claim lapses after 2 s, so the restart takes it over.
                "respond": {"interval_seconds": 0.5, "action_lease_seconds": 2},
            },
        )
        seed_incident(
            server.data,
            "inc-crash",
            "checkout-service",
            fleet.state("checkout-service").history[-1],
        )
        server.start(crash_at=point)
        try:

            def proposed() -> list | None:
                incident = server.get("/api/v1/incidents/inc-crash") or {}
                return incident["actions"] if incident.get("status") == "pending_approval" else None

            [action] = server.wait_for(proposed, 90, what="the proposal")
            approved = server.post(
                f"/api/v1/incidents/inc-crash/actions/{action['id']}/approve",
                json={"actor": "alice"},
            )
            assert approved.status_code == 200, approved.text
            server.killed_at_crash_point()
        finally:
            server.stop()
        assert len(fleet.actions()) == done_before_restart  # the kill landed where chosen

        server.start()
        try:

            def finished() -> dict | None:
                incident = server.get("/api/v1/incidents/inc-crash") or {}
                done = [a for a in incident.get("actions", []) if a["status"] == "succeeded"]
                return done[0] if done else None

            action = server.wait_for(finished, 120, what="the action after the restart")
            incident = server.get("/api/v1/incidents/inc-crash")
        finally:
            server.stop()
    assert [(a.action, a.service) for a in fleet.actions()] == [
        ("rollback", "checkout-service")
    ]  # once: not lost with the process, not redone
    assert fleet.state("checkout-service").version != "9.9.9"
    assert action["attempts"] == 2 and action["approved_by"] == "alice"
    assert incident["status"] == "mitigating"
    finishes = [e for e in incident["timeline"] if e["kind"] == "action_finished"]
    assert len(finishes) == 1  # one outcome on the incident, not one per attempt
