"""How urgent an operational event is, 1..5 (5 highest), by documented rules, not a model.

The first rule that applies wins, from the most urgent down:

5  a CRITICAL finding; active exploitation named in the text; an open AWS Health issue
   (an outage) on a production account; a critical alert firing on production.
4  a HIGH finding; a compliance violation (ASFF Compliance.Status FAILED, or "compliance
   violation" / "non-compliant" in the text); a firing alarm or alert on production; a
   deprecation or other deadline less than 30 days away (or already passed).
3  a deadline 30..90 days away; scheduled maintenance without a deadline; a MEDIUM
   finding; a non-critical patch; cost (anomalies, optimisation); an open issue or firing
   alarm outside production.
2  a deadline more than 90 days away; a LOW finding.
1  informational: INFORMATIONAL findings, account notifications with nothing to do, and
   anything already over (closed, resolved, OK).

A deadline is the earliest of: the event's end_time, a future date named in its description
(2025-03-01, March 1, 2025, 1 March 2025), and, for lifecycle scheduled changes
(deprecation, end of support, retirement), a future start_time (AWS lifecycle events
start on the day the old version goes; an instance retirement on the day it is retired).
Deadlines only count for scheduled changes, account notifications and text that talks
about deprecation or end of support: an issue's end_time is when it ended, not a deadline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from oasis.triage.model import OpsEvent

_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(\d{{4}})\b", re.I)

_EXPLOIT = re.compile(r"\b(actively exploited|active(ly)? exploit\w*|exploited in the wild|"
                      r"known exploited)\b", re.I)
_COMPLIANCE = re.compile(r"\b(compliance violation|non-?compliant)\b", re.I)
_DEPRECATION = re.compile(r"\b(deprecat\w*|end of (standard |extended )?support|end[- ]of[- ]life|"
                          r"ends? support|support for .{0,80}?\bends|"
                          r"retire\w*|no longer (be )?supported|must (upgrade|migrate))\b", re.I)
_LIFECYCLE = re.compile(r"LIFECYCLE|DEPRECAT|END_OF_SUPPORT|RETIREMENT", re.I)
_PATCH = re.compile(r"\b(patch\w*|security update|update available)\b", re.I)
_OVER = {"closed", "resolved", "ok", "archived", "suppressed"}


@dataclass(frozen=True)
class SeverityAssessment:
    """A level and the rule that produced it, in words a ticket reader understands."""

    level: int
    reason: str
    deadline: datetime | None = None


def severity(event: OpsEvent, now: datetime, *, production: bool = False) -> int:
    """1..5, 5 highest; `production`: the event affects a production account."""
    return assess(event, now, production=production).level


def assess(event: OpsEvent, now: datetime, *, production: bool = False) -> SeverityAssessment:
    """The severity with its reason and the deadline it found, if any."""
    text = f"{event.title}\n{event.description}"
    label = (event.severity_label or "").upper()
    status = (event.status or "").lower()
    finding = event.category == "finding"
    if status in _OVER or _compliance_status(event) == "PASSED":
        return SeverityAssessment(1, f"informational: already over (status {event.status})")
    if finding and label == "CRITICAL":
        return SeverityAssessment(5, "CRITICAL security finding")
    if _EXPLOIT.search(text):
        return SeverityAssessment(5, "active exploitation reported")
    if event.category == "issue" and production and status in ("open", ""):
        return SeverityAssessment(5, "open service issue (possible outage) on production")
    firing = event.category == "alarm" and status in ("alarm", "firing")
    if firing and production and label == "CRITICAL":
        return SeverityAssessment(5, "critical alert firing on production")
    if finding and label == "HIGH":
        return SeverityAssessment(4, "HIGH security finding")
    if _compliance_status(event) == "FAILED" or _COMPLIANCE.search(text):
        return SeverityAssessment(4, "compliance violation")
    if firing and production:
        return SeverityAssessment(4, "alarm firing on production")
    deadline = find_deadline(event, now)
    if deadline is not None:
        days = (deadline - now).total_seconds() / 86400
        when = f"deadline {deadline:%Y-%m-%d}"
        if days < 0:
            return SeverityAssessment(4, f"{when} has passed", deadline)
        if days < 30:
            return SeverityAssessment(4, f"{when} in {int(days)} days (< 30)", deadline)
        if days <= 90:
            return SeverityAssessment(3, f"{when} in {int(days)} days (30-90)", deadline)
        return SeverityAssessment(2, f"{when} in {int(days)} days (> 90)", deadline)
    if event.category == "scheduledChange":
        return SeverityAssessment(3, "scheduled maintenance or change")
    if finding and label == "MEDIUM":
        return SeverityAssessment(3, "MEDIUM security finding")
    if event.category == "cost" or event.source == "aws.cost-anomaly":
        return SeverityAssessment(3, "cost anomaly or optimisation")
    if event.category in ("issue", "alarm", "investigation", "report") and not finding:
        return SeverityAssessment(3, f"{event.category} needing a look")
    if _PATCH.search(text):
        return SeverityAssessment(3, "non-critical patch")
    if finding and label == "LOW":
        return SeverityAssessment(2, "LOW security finding")
    return SeverityAssessment(1, "informational")


def find_deadline(event: OpsEvent, now: datetime) -> datetime | None:
    """When something must be done by, if the event is the kind that has a deadline."""
    text = f"{event.title}\n{event.description}"
    if event.category not in ("scheduledChange", "accountNotification") and \
            not _DEPRECATION.search(text):
        return None
    lifecycle = bool(_DEPRECATION.search(text) or _LIFECYCLE.search(event.event_type or ""))
    if event.category == "scheduledChange" and not lifecycle:
        return None  # maintenance: a date to plan around, not a deadline to meet
    # The earliest date still ahead: a retirement's start (the day the instance goes)
    # comes before the end of its window, and a passed end date is still a deadline missed.
    candidates = [d for d in dates_in(text) if d >= now]
    if event.end_time is not None:
        candidates.append(event.end_time)
    # A lifecycle change starts on the day the old version goes; maintenance is just a date.
    if (event.category == "scheduledChange" and event.start_time and event.start_time >= now
            and lifecycle):
        candidates.append(event.start_time)
    return min(candidates) if candidates else None


def dates_in(text: str) -> list[datetime]:
    """Calendar dates named in free text, as midnight UTC; impossible dates are skipped."""
    found: list[tuple[int, int, int]] = []
    found += [(int(y), int(m), int(d)) for y, m, d in _ISO_DATE.findall(text)]
    found += [(int(y), _MONTHS[mon[:3].lower()], int(d))
              for mon, d, y in _MONTH_DAY_YEAR.findall(text)]
    found += [(int(y), _MONTHS[mon[:3].lower()], int(d))
              for d, mon, y in _DAY_MONTH_YEAR.findall(text)]
    dates = []
    for year, month, day in found:
        try:
            dates.append(datetime(year, month, day, tzinfo=UTC))
        except ValueError:  # "February 30" in untrusted text is not a reason to fail
            continue
    return dates


def _compliance_status(event: OpsEvent) -> str | None:
    if event.labels.get("Compliance.Status"):
        return event.labels["Compliance.Status"].upper()
    finding = finding_payload(event)
    compliance = finding.get("Compliance") if finding else None
    status = compliance.get("Status") if isinstance(compliance, dict) else None
    return status.upper() if isinstance(status, str) else None


def finding_payload(event: OpsEvent) -> dict | None:
    """The ASFF finding inside `event.raw` (raw, or one of an EventBridge envelope's)."""
    if event.source != "aws.securityhub":
        return None
    raw = event.raw
    detail = raw.get("detail") if isinstance(raw.get("detail"), dict) else {}
    findings = detail.get("findings", raw.get("Findings"))
    if isinstance(findings, list):
        for item in findings:
            if isinstance(item, dict) and item.get("Id") == event.key:
                return item
        return next((f for f in findings if isinstance(f, dict)), None)
    return raw
