"""The composition root: `open_services` opens what the faces use and closes only that; the
notification dispatcher sends triage mail with the monitor off, on its own loop or one
pass at a time, and the responder only queues."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.leases import LeaseStore
from oasis.notify.catcher import MailCatcher, free_port
from oasis.runtime.leader import Leadership
from oasis.runtime.loops import dispatch_pass, respond_pass, start_loops
from oasis.runtime.services import open_services
from oasis.store import DuckDBSignalStore
from oasis.triage.parse import parse_event
from tests.helpers import wait_until
from tests.test_triage_events import README_SAMPLE_1

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail", port=free_port()) as c:
        yield c


def triage_settings(tmp_path: Path, catcher: MailCatcher, **extra) -> Settings:
    return Settings(data_dir=tmp_path / "data", triage={"organisation_file": ORG},
                    knowledge={"embedder": "none"},
                    notify={"smtp": {"port": catcher.port}}, **extra)


def test_with_the_monitor_off_a_triage_event_still_mails_its_teams(
        tmp_path: Path, catcher: MailCatcher) -> None:
    settings = triage_settings(tmp_path, catcher, respond={"interval_seconds": 0.2})
    with TestClient(create_app(settings, monitor=False)) as client:
        services = client.app.state.services
        assert services.monitor is None and not hasattr(client.app.state, "monitor")
        sent = client.post("/api/v1/events", params={"wait": True}, content=README_SAMPLE_1,
                           headers={"content-type": "application/json"})
        [result] = sent.json()["results"]
        assert result["verdict"] == "accept" and result["tickets_created"]
        # Nobody calls the dispatcher here: its own loop sends the ticket mail.
        mails = wait_until(lambda: catcher.messages(), what="the ticket mail")
        assert any("ticket" in m["subject"] for m in mails)
        outcomes = wait_until(lambda: services.audit.records(kind="notification.sent"),
                              what="the delivery's audit record")
        assert outcomes[0].data["channel"] == "email"


def test_one_dispatcher_pass_sends_what_triage_and_the_responder_queued(
        tmp_path: Path, catcher: MailCatcher) -> None:
    settings = triage_settings(tmp_path, catcher)
    services = open_services(settings, monitor=False)
    try:
        [event] = parse_event(json.loads(README_SAMPLE_1), received_at=datetime.now(UTC))
        done = services.triage.flow.handle(event)
        assert done.verdict == "accept"
        services.responder.tick(datetime.now(UTC))  # it queues; it never sends
        queued = services.outbox.pending_count()
        assert queued >= 1 and catcher.messages() == []
        assert dispatch_pass(services) == queued
        assert services.outbox.pending_count() == 0
        assert len(catcher.messages()) == queued
        assert dispatch_pass(services) == 0  # sent once
    finally:
        services.close()


def test_the_loops_run_the_dispatcher_always_and_the_responder_with_the_monitor(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", knowledge={"embedder": "none"})

    async def loop_names(monitor: bool) -> set[str]:
        services = open_services(settings, monitor=monitor)
        try:
            loops = start_loops(services)
            names = {t.get_name() for t in loops.tasks}
            await loops.stop()
            assert all(t.done() for t in loops.tasks)
            return names
        finally:
            services.close()

    base = {"retention pass", "notification dispatch", "OTLP span counts"}
    assert asyncio.run(loop_names(False)) == base
    assert asyncio.run(loop_names(True)) == base | {"detection check", "response pass"}


def test_the_responder_pass_needs_its_lease(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", knowledge={"embedder": "none"})
    services = open_services(settings, monitor=False)
    try:
        ticks: list[datetime] = []
        services.responder.tick = ticks.append  # type: ignore[method-assign]
        here = services.leader
        there = Leadership(LeaseStore(services.incidents.engine), "another-process", 20)
        assert there.run("responder", lambda _fresh: None)
        assert not here.run("responder", lambda _fresh: respond_pass(services))
        assert ticks == []  # the other process responds on this database
        assert there.run("responder", lambda _fresh: respond_pass(services))
        assert len(ticks) == 1
    finally:
        services.close()


def test_services_close_what_they_opened_and_leave_a_given_store_open(
        tmp_path: Path, settings: Settings, store: DuckDBSignalStore) -> None:
    given = open_services(settings, store=store, monitor=False)
    assert given.store is store
    given.close()
    assert store.services() == []  # still open: the caller closes it
    own = open_services(Settings(data_dir=tmp_path / "own", knowledge={"embedder": "none"}),
                        monitor=False)
    own.close()
    with pytest.raises(Exception, match=r"(?i)closed"):
        own.store.services()


def test_the_service_writes_keyed_audit_records_and_anchors_them(tmp_path: Path) -> None:
    """The server's audit links are keyed (the key file lives beside, not in, the
    database), and the anchor pass appends one signed head per run, which verify checks."""
    from typer.testing import CliRunner

    from oasis.cli import app
    from oasis.runtime.loops import anchor_pass

    settings = Settings(data_dir=tmp_path / "data", knowledge={"embedder": "none"})
    services = open_services(settings, monitor=False)
    try:
        record = services.audit.append("incident.detected", "oasis", "inc-1", {"n": 1})
        assert record.key_id, "the server's records are keyed"
        anchor_pass(services)
        services.audit.append("incident.recovered", "oasis", "inc-1", {})
        anchor_pass(services)
    finally:
        services.close()
    anchors = (settings.data_dir / "audit-anchors.jsonl").read_text().splitlines()
    assert [json.loads(a)["seq"] for a in anchors] == [1, 2]
    assert (settings.data_dir / "audit.keys").exists()
    result = CliRunner().invoke(app, ["audit", "verify"],
                                env={"OASIS_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 0, result.output
