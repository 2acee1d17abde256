"""The response loop on its own clock: propose, ask, act through the fleet's real control API,
verify, report by real SMTP, and the ways it ends badly (rejected, expired, not fixed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from oasis.config import Settings
from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent
from oasis.notify.catcher import MailCatcher, free_port, text_of
from oasis.respond import ActionStatus, DecisionError
from oasis.runtime.response import ResponseKit, build_response
from oasis.simulate.control import create_control_app
from oasis.simulate.fleet import Fleet
from tests.servers import serving

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SERVICE = "checkout-service"


@dataclass
class World:
    fleet: Fleet
    store: IncidentStore
    kit: ResponseKit
    catcher: MailCatcher

    def deliver(self) -> None:
        """The dispatcher's pass (the service runs it on its own interval): the responder
        only queues notifications."""
        self.kit.dispatcher.dispatch()

    def mails(self) -> list[str]:
        return [m["subject"] for m in self.catcher.messages()]

    def incident(self) -> Incident:
        return self.store.get("inc-1")

    def actions(self):
        return self.kit.actions.for_incident("inc-1")


def make_settings(tmp_path, control_url: str, smtp_port: int, **sections) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        notify={"recipients": ["oncall@example.com"],
                "smtp": {"host": "127.0.0.1", "port": smtp_port}},
        remediate={"executors": [{"type": "fleet", "name": "sim", "url": control_url,
                                  "kinds": ["rollback", "restart", "scale"]}]},
        **sections)


@pytest.fixture
def world(tmp_path, request) -> Iterator[World]:
    options = getattr(request, "param", {})
    fleet = Fleet(clock=lambda: T0)
    old = fleet.state(SERVICE).version
    fleet.deploy(SERVICE, "9.9.9", at=T0 - timedelta(minutes=8))
    port = free_port()
    with serving(create_control_app(fleet)) as control, MailCatcher(
            tmp_path / "mail", port=port) as catcher:
        settings = make_settings(tmp_path, control, port, **dict(options))
        settings.data_dir.mkdir(parents=True)
        store = IncidentStore(settings.incident_db_url)
        store.create(Incident(
            "inc-1", Status.ANALYSIS_COMPLETE, Severity.HIGH,
            f"{SERVICE}: error spike after deploy 9.9.9", [SERVICE, "api-gateway"], SERVICE,
            T0 - timedelta(minutes=6), T0 - timedelta(minutes=3), T0,
            summary="NullPointerExceptions since the release",
            suspected_change={"service": SERVICE, "version": "9.9.9", "previous_version": old,
                              "deployed_at": "2026-11-23T08:52:00Z",
                              "minutes_before_onset": 2.0}),
            TimelineEvent(T0, "detected", "seen"))
        kit = build_response(settings, store)
        yield World(fleet, store, kit, catcher)
        kit.close()
        store.close()


def test_bad_deploy_is_asked_approved_rolled_back_verified_and_reported(world: World) -> None:
    w = world
    previous = w.fleet.state(SERVICE).history[-1]
    w.kit.responder.tick(T0)
    assert w.incident().status is Status.PENDING_APPROVAL
    [action] = w.actions()
    assert (action.kind.value, action.params["to_version"]) == ("rollback", previous)
    assert w.fleet.state(SERVICE).version == "9.9.9"  # nothing runs before approval
    assert w.mails() == []  # queued, not sent: sending is the dispatcher's
    w.deliver()
    subjects = w.mails()
    assert len(subjects) == 2 and any("approv" in s.lower() for s in subjects)

    w.kit.responder.approve("inc-1", action.id, "alice@example.com")
    w.kit.responder.tick(T0 + timedelta(minutes=1))
    assert w.fleet.state(SERVICE).version == previous
    assert w.incident().status is Status.MITIGATING
    assert w.actions()[0].status is ActionStatus.SUCCEEDED

    w.kit.responder.tick(T0 + timedelta(minutes=4))  # too soon to call it
    assert w.incident().status is Status.MITIGATING
    w.kit.responder.tick(T0 + timedelta(minutes=7))
    assert w.incident().status is Status.MITIGATED

    incident = w.incident()
    incident.recovered_at = T0 + timedelta(minutes=16)
    w.store.update(incident)
    w.kit.responder.tick(T0 + timedelta(minutes=16))
    assert w.incident().status is Status.RESOLVED
    w.deliver()
    report = [m for m in w.catcher.messages() if "resolved" in m["subject"].lower()]
    assert report and "roll back checkout-service" in text_of(report[0])
    assert "alice@example.com" in text_of(report[0])
    assert [a.action for a in w.fleet.actions()] == ["rollback"]  # once
    audit = w.kit.audit
    assert audit.verify().ok
    kinds = [r.kind for r in audit.records(subject=action.id)]
    assert "approval.granted" in kinds and "action.executed" in kinds
    assert any(r.actor == "alice@example.com" for r in audit.records(subject=action.id))
    sent = [r.data["kind"] for r in audit.records(subject="inc-1", kind="notification.sent")]
    assert sorted(sent) == ["approval_request", "final_report", "incident_summary"]


def test_fix_that_does_not_work_ends_failed_and_escalated(world: World) -> None:
    w = world
    w.kit.responder.tick(T0)
    w.kit.responder.approve("inc-1", w.actions()[0].id, "alice")
    w.kit.responder.tick(T0 + timedelta(minutes=1))
    for minute in range(2, 23):  # symptoms keep showing after the rollback
        incident = w.incident()
        incident.last_seen_at = T0 + timedelta(minutes=minute)
        w.store.update(incident)
        w.kit.responder.tick(T0 + timedelta(minutes=minute))
    incident = w.incident()
    assert incident.status is Status.ESCALATED
    assert [e.data.get("to") for e in incident.timeline if e.kind.startswith("status:")][-2:] \
        == ["failed", "escalated"]
    w.deliver()
    assert any("escalat" in s.lower() or "failed" in s.lower() for s in w.mails())


def test_rejecting_the_only_action_runs_nothing(world: World) -> None:
    w = world
    w.kit.responder.tick(T0)
    w.kit.responder.reject("inc-1", w.actions()[0].id, "bob", "not during the sale")
    w.kit.responder.tick(T0 + timedelta(minutes=1))
    assert w.incident().status is Status.REJECTED
    assert w.fleet.actions() == []
    with pytest.raises(DecisionError, match="already rejected"):
        w.kit.responder.reject("inc-1", w.actions()[0].id, "carol")


def test_unanswered_approval_expires_and_people_are_told(world: World) -> None:
    w = world
    w.kit.responder.tick(T0, wall_now=datetime.now(UTC))
    w.kit.responder.tick(T0, wall_now=datetime.now(UTC) + timedelta(hours=2))
    assert w.incident().status is Status.EXPIRED
    assert w.actions()[0].status is ActionStatus.EXPIRED
    w.deliver()
    assert len(w.mails()) == 3 and w.fleet.actions() == []


@pytest.mark.parametrize("world", [{"approve": {"auto_approve": [
    {"name": "rollbacks-of-checkout", "actions": ["rollback"], "services": [SERVICE],
     "max_risk": "medium"}]}}], indirect=True)
def test_policy_can_approve_a_named_action_without_asking(world: World) -> None:
    w = world
    w.kit.responder.tick(T0)
    w.kit.responder.tick(T0 + timedelta(minutes=1))
    assert [a.action for a in w.fleet.actions()] == ["rollback"]
    assert w.actions()[0].decided_by == "policy:rollbacks-of-checkout"


def test_symptoms_that_clear_alone_resolve_and_withdraw_proposals(world: World) -> None:
    w = world
    w.kit.responder.tick(T0)
    incident = w.incident()
    incident.recovered_at = T0 + timedelta(minutes=15)
    w.store.update(incident)
    w.kit.responder.tick(T0 + timedelta(minutes=15))
    assert w.incident().status is Status.RESOLVED
    assert w.actions()[0].status is ActionStatus.WITHDRAWN and w.fleet.actions() == []


def test_approving_after_resolution_is_refused(world: World) -> None:
    w = world
    w.kit.responder.tick(T0)
    w.kit.responder.resolve("inc-1", "alice", "false alarm: load test")
    with pytest.raises(DecisionError):
        w.kit.responder.approve("inc-1", w.actions()[0].id, "bob")
    assert w.fleet.actions() == []


def test_cli_approves_the_only_waiting_action_and_refuses_twice(world: World, tmp_path) -> None:
    from typer.testing import CliRunner

    from oasis.cli import app

    w = world
    w.kit.responder.tick(T0)
    env = {"OASIS_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    done = runner.invoke(app, ["incidents", "approve", "inc-1", "--as", "dave"], env=env)
    assert done.exit_code == 0, done.output
    assert "approved" in done.output and "dave" in done.output
    assert w.actions()[0].decided_by == "dave" and w.incident().status is Status.APPROVED
    again = runner.invoke(app, ["incidents", "approve", "inc-1", "--as", "erin"], env=env)
    assert again.exit_code != 0 and "waiting for a decision: none" in again.output
    w.kit.responder.tick(T0 + timedelta(minutes=1))  # the running service then acts
    assert [a.action for a in w.fleet.actions()] == ["rollback"]


def test_a_pass_that_lands_mid_approval_still_takes_the_incident_to_mitigated(
        world: World) -> None:
    # The loop runs beside the API: here a pass lands between the action being marked
    # approved and the incident moving to `approved` (inside the audit write).
    w = world
    w.kit.responder.tick(T0)
    [action] = w.actions()
    audit, responder = w.kit.responder.audit, w.kit.responder

    class PassDuringAudit:
        def __getattr__(self, name):
            return getattr(audit, name)

        def append(self, kind, *args, **kwargs):
            if kind == "approval.granted":
                responder.tick(T0 + timedelta(seconds=30))
            return audit.append(kind, *args, **kwargs)

    responder.audit = PassDuringAudit()
    responder.approve("inc-1", action.id, "alice")
    responder.audit = audit
    assert w.incident().status is Status.APPROVED
    assert w.fleet.actions() == []  # not run under a half-recorded approval
    responder.tick(T0 + timedelta(minutes=1))
    assert w.incident().status is Status.MITIGATING
    responder.tick(T0 + timedelta(minutes=7))
    assert w.incident().status is Status.MITIGATED
    assert [a.action for a in w.fleet.actions()] == ["rollback"]


def test_an_approval_whose_process_died_half_way_is_carried_out(world: World) -> None:
    w = world
    w.kit.responder.tick(T0)
    [action] = w.actions()
    # Marked approved a minute ago, but the incident never moved: that process is gone.
    w.kit.actions.decide(action.id, ActionStatus.APPROVED, by="bob",
                         at=datetime.now(UTC) - timedelta(minutes=1))
    w.kit.responder.tick(T0 + timedelta(minutes=1))
    incident = w.incident()
    assert incident.status is Status.MITIGATING
    assert [a.action for a in w.fleet.actions()] == ["rollback"]
    moves = [e.data.get("to") for e in incident.timeline if e.kind.startswith("status:")]
    assert moves[-2:] == ["approved", "mitigating"]
