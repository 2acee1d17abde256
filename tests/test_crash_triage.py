"""kill -9 of a real `oasis serve` while it triages a batch of events it acknowledged with
202: after the restart every event is processed once. None lost, none decided twice, one
ticket per (event, team) exactly as a run without the crash makes them.

The batch waits in the state database (oasis/triage/queue.py). The kill lands by a crash
point (oasis/signals/crashpoints.py) at each stage of one event in the middle of the batch:
stored but undecided, decided without tickets, with some of its tickets, handled but not
yet taken off the queue."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.notify.catcher import MailCatcher, free_port, text_of
from tests.crash_server import OasisProcess
from tests.test_triage_events import (
    EXAMPLE_ORG,
    README_SAMPLE_1,
    README_SAMPLE_2,
    alarm_event,
    anomaly,
    finding,
    health_issue,
)


def batch() -> list[dict]:
    return [
        json.loads(README_SAMPLE_1),
        json.loads(README_SAMPLE_2),
        finding(1),
        finding(2),
        finding(3),
        health_issue(),
        alarm_event(),
        anomaly(),
    ]


def ticket_facts(tickets: list[dict]) -> list[tuple]:
    return sorted(
        (t["event_key"], t["team"], t["role"], t["severity"], t["title"]) for t in tickets
    )


@pytest.fixture(scope="module")
def uncrashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[tuple]]:
    """What the same batch gives without any crash: verdict per event, and the tickets
    (once for every crash point: the reference does not depend on where the kill lands)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("reference"),
        triage={"organisation_file": EXAMPLE_ORG},
        notify={"email_enabled": False},
    )
    with TestClient(create_app(settings)) as client:
        done = client.post("/api/v1/events", params={"wait": True}, json=batch())
        assert done.status_code == 200, done.text
        verdicts = {r["key"]: r["verdict"] for r in done.json()["results"]}
        tickets = client.get("/api/v1/tickets", params={"limit": 1000}).json()
    return verdicts, ticket_facts(tickets)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "point",
    [
        "triage.after_receive:4",
        "triage.after_decide:4",
        "triage.after_ticket:5",
        "triage.after_event:4",
    ],
)
def test_kill_9_during_triage_of_a_batch_processes_each_event_once(
    tmp_path: Path, point: str, uncrashed: tuple[dict[str, str], list[tuple]]
) -> None:
    verdicts, tickets = uncrashed
    assert len(verdicts) == len(batch()) and "accept" in verdicts.values()
    assert len(tickets) > len(batch())  # some events have several teams to tell

    mailbox = MailCatcher(tmp_path / "mail", port=free_port()).start()
    server = OasisProcess(
        tmp_path,
        {
            "triage": {"organisation_file": str(EXAMPLE_ORG), "queue_claim_seconds": 2},
            "notify": {
                "smtp": {"port": mailbox.port},
                "send_claim_seconds": 2,
                "dispatch_interval_seconds": 0.5,
            },
        },
    )
    server.start(crash_at=point)
    try:
        try:
            sent = server.post("/api/v1/events", json=batch())
            assert sent.status_code == 202, sent.text
        except httpx.TransportError:
            pass  # died before answering: the batch was stored before the answer anyway
        server.killed_at_crash_point()
    finally:
        server.stop()
    with sa.create_engine(f"sqlite:///{server.data / 'state.db'}").connect() as conn:
        assert conn.execute(sa.text("select count(*) from triage_queue")).scalar() > 0

    server.start()
    try:

        def all_triaged() -> list[dict] | None:
            events = server.get("/api/v1/events?limit=1000") or []
            done = len(events) == len(verdicts) and all(e["verdict"] for e in events)
            return events if done and queue_empty(server) else None

        events = server.wait_for(all_triaged, 120, what="every event triaged after restart")
        found = server.get("/api/v1/tickets?limit=1000")
        mails = server.wait_for(
            lambda: (lambda m: m if all(m.values()) else None)(mail_ids(mailbox, found)),
            120,
            what="a mail for every ticket",
        )
    finally:
        server.stop()
        mailbox.stop()
    # Each ticket's team told: at least once, and any repeat is the same message (same ID).
    assert {ticket: len(ids) for ticket, ids in mails.items()} == {t["id"]: 1 for t in found}
    assert {e["key"]: e["verdict"] for e in events} == verdicts  # none lost
    assert ticket_facts(found) == tickets  # one per (event, team), none twice, none missing
    for event in events:
        assert event["seen"] == 1, event["key"]  # a resumed event is not a second copy
        decisions = [h for h in event["history"] if "by" in h]
        assert len(decisions) == 1, event["history"]  # decided once


def mail_ids(mailbox: MailCatcher, tickets: list[dict]) -> dict[str, set[str]]:
    """The Message-IDs of the mails about each ticket."""
    messages = [(text_of(m), m["Message-ID"]) for m in mailbox.messages()]
    return {
        t["id"]: {mid for text, mid in messages if f"/tickets/{t['id']}" in text}
        for t in tickets
    }


def queue_empty(server: OasisProcess) -> bool:
    engine = sa.create_engine(f"sqlite:///{server.data / 'state.db'}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select count(*) from triage_queue")).scalar() == 0
    finally:
        engine.dispose()
