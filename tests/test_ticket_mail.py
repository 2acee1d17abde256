"""A ticket's mail, as its team receives it over real SMTP: its links open the console's
ticket and event pages (not the JSON API), and each ticket's mails thread together."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.notify.catcher import MailCatcher, free_port, html_of, text_of
from tests.helpers import wait_until
from tests.test_triage_events import README_SAMPLE_1

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"
PUBLIC = "http://oasis.example.test:8080"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, MailCatcher]]:
    port = free_port()
    with MailCatcher(tmp_path / "mail", port=port) as catcher:
        settings = Settings(
            data_dir=tmp_path / "data",
            triage={"organisation_file": ORG},
            notify={"smtp": {"port": port}},
            approve={"public_url": PUBLIC},
            knowledge={"embedder": "none"},
        )
        with TestClient(create_app(settings)) as client:
            yield client, catcher


def _send(client: TestClient, payload: dict) -> dict:
    r = client.post(
        "/api/v1/events",
        params={"wait": True},
        content=json.dumps(payload),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def _link(text: str, label: str) -> str:
    found = re.search(rf"^{label}:\s+(\S+)$", text, re.MULTILINE)
    assert found, text
    return found.group(1)


def test_ticket_mail_links_to_the_console_and_threads_per_ticket(world) -> None:
    client, catcher = world
    result = _send(client, json.loads(README_SAMPLE_1))
    tickets = client.get("/api/v1/tickets").json()
    wait_until(lambda: len(catcher.messages()) >= len(tickets), what="the ticket emails")
    first = next(m for m in catcher.messages() if m["X-OASIS-Kind"] == "ticket")
    ticket_link, event_link = _link(text_of(first), "Ticket"), _link(text_of(first), "Event page")
    ticket_id = ticket_link.rsplit("/", 1)[1]
    assert ticket_link == f"{PUBLIC}/tickets/{ticket_id}"
    assert parse_qs(urlparse(event_link).query) == {"key": [result["key"]]}
    assert f'href="{ticket_link}"' in html_of(first)
    # the links open console pages: same paths on this server
    assert "What needs doing" in client.get(urlparse(ticket_link).path).text
    event_page = client.get(urlparse(event_link).path, params={"key": result["key"]})
    assert event_page.status_code == 200 and ticket_id in event_page.text
    # one thread per ticket: a later update of the event answers the same root id
    assert first["References"] == first["In-Reply-To"]
    assert first["References"].startswith(f"<ticket-{ticket_id}@")
    newer = json.loads(README_SAMPLE_1)
    newer["lastUpdatedTime"] = "Thu, 30 Nov 2023 10:00:00 GMT"
    assert _send(client, newer)["received"] == "updated"
    wait_until(lambda: len(catcher.messages()) >= 2 * len(tickets), what="the update mails")
    about = [m for m in catcher.messages() if ticket_id in text_of(m)]
    assert len(about) == 2 and {m["References"] for m in about} == {first["References"]}
    assert len({m["Message-ID"] for m in about}) == 2
