"""A real Prometheus rule fires through a real Alertmanager into OASIS, resolves, and fires
again: the ticket goes New → Resolved → New (reopened), keeping its peak severity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from oasis.api import create_app
from oasis.config import Settings
from tests.alerting_stack import alerting_stack
from tests.helpers import wait_until
from tests.servers import serving

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"
TIMEOUT = 180  # Prometheus and Alertmanager at one-second intervals; a slow machine waits


@pytest.mark.slow
def test_a_prometheus_alert_opens_resolves_and_reopens_its_ticket(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        notify={"email_enabled": False},
        triage={"organisation_file": ORG},
    )
    with serving(create_app(settings)) as oasis:
        labels = {"severity": "critical", "service": "checkout", "account_id": "111122223333"}
        with alerting_stack(
            tmp_path / "alerting", f"{oasis}/api/v1/events?wait=true", labels
        ) as gauge:

            def owner_ticket() -> dict[str, Any] | None:
                found = httpx.get(f"{oasis}/api/v1/tickets", timeout=10).json()
                return next((t for t in found if t["role"] == "owner"), None)

            def ticket_in(status: str) -> dict[str, Any] | None:
                ticket = owner_ticket()
                return ticket if ticket and ticket["status"] == status else None

            gauge.value = 1
            opened = wait_until(lambda: ticket_in("New"), TIMEOUT, what="the ticket to open")
            assert opened["severity"] == 5  # critical, production account
            event = httpx.get(f"{oasis}/api/v1/events/{opened['event_key']}", timeout=10).json()
            assert event["source"] == "alertmanager" and event["event"]["status"] == "firing"

            gauge.value = 0
            closed = wait_until(
                lambda: ticket_in("Resolved"), TIMEOUT, what="the ticket to resolve"
            )
            assert closed["id"] == opened["id"] and closed["severity"] == 5
            assert closed["history"][-1]["actor"] == "source:alertmanager"

            gauge.value = 1
            reopened = wait_until(lambda: ticket_in("New"), TIMEOUT, what="the ticket to reopen")
            assert reopened["id"] == opened["id"] and reopened["severity"] == 5
            assert any(h["change"].startswith("reopened") for h in reopened["history"])
            tickets = httpx.get(f"{oasis}/api/v1/tickets", timeout=10).json()
            assert len({t["event_key"] for t in tickets}) == 1  # one alert, one event
