"""Operational events reported by people: `{"type": "report", "text", "reporter", ...}`.

A report has no id of its own upstream, so each gets "report:<uuid>"; a client that may
retry can send its own `id` (a UUID) to make the retry land on the same event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from oasis.triage.model import EventFormatError, OpsEvent
from oasis.triage.sources.fields import Fields, is_account_id
from oasis.triage.sources.resources import resource_from_id

MAX_TITLE = 120


def looks_like_report(data: dict[str, Any]) -> bool:
    return data.get("type") == "report"


def parse_report(report: Fields, raw: dict[str, Any], *, received_at: datetime) -> OpsEvent:
    text = report.req("text")
    reporter = report.req("reporter")
    accounts = report.strings("accounts")
    for i, account in enumerate(accounts):
        if not is_account_id(account):
            raise EventFormatError(
                f"{report.where('accounts')}[{i}]: {account!r} is not a 12-digit account id")
    region = report.text("region")
    resources = [resource_from_id(r, account=accounts[0] if len(accounts) == 1 else None,
                                  region=region) for r in report.strings("resources")]
    title = report.text("title") or _first_line(text)
    return OpsEvent(
        key=f"report:{_report_id(report)}", source="user", category="report",
        title=" ".join(title.split())[:MAX_TITLE], description=text,
        service=report.text("service"), event_type=report.text("event_type"), region=region,
        status="open", scope=None, severity_label=report.text("severity"),
        accounts=accounts, resources=resources,
        start_time=report.time("observed_at"), end_time=None,
        last_updated=report.time("reported_at") or received_at,
        labels={"reporter": reporter}, raw=raw,
    )


def _report_id(report: Fields) -> str:
    given = report.text("id")
    if given is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(given))
    except ValueError:
        raise EventFormatError(f"{report.where('id')}: {given!r} is not a UUID") from None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= MAX_TITLE else line[:MAX_TITLE - 1].rstrip() + "…"
