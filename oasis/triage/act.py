"""The OheroACT flow for words from people (chat, the API): is this someone reporting or
asking us to handle an operational event, or a question?

A report goes through Acknowledge and, when the policy accepts it, Triage; a question goes
to Consult (the knowledge base and memory). Either way a short reply is written for the
person, and each step and its reason is an audit record. The classification is rules, not
a model, so it is the same every time and works offline.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oasis.audit import AuditLog
from oasis.triage.flow import TriageFlow
from oasis.triage.parse import parse_event

_REPORT = re.compile(
    r"\b(report(ing)?|raise|open (a )?ticket|we('re| are) (seeing|getting|having)|"
    r"(is|are|went|has gone|keeps?) (down|failing|broken|unreachable|timing out|erroring)|"
    r"outage|incident|alert(ing)?|degraded|can('|no)t (reach|connect|log ?in)|"
    r"please (handle|look into|investigate|escalate))\b", re.I)
_QUESTION = re.compile(r"^\s*(how|what|who|when|where|why|which|should|can|could|do|does|"
                       r"is there|are there|tell me|explain|summari[sz]e)\b", re.I)
_ACCOUNT = re.compile(r"\b\d{12}\b")


@dataclass
class ActResult:
    route: str  # "report" or "consult"
    reason: str
    reply: str
    event_key: str | None = None
    verdict: str | None = None
    tickets: list[str] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def classify(text: str) -> tuple[str, str]:
    """("report" | "consult", why)."""
    report = _REPORT.search(text)
    if report and not (_QUESTION.search(text) and text.rstrip().endswith("?")):
        return "report", f"reads as a report ({report.group(0)!r})"
    if report:
        return "consult", f"a question about {report.group(0)!r}, not a report"
    return "consult", "a question, not a report of an operational event"


class OheroAct:
    def __init__(self, flow: TriageFlow | None, consult: Callable[[str], Any] | None,
                 audit: AuditLog) -> None:
        self.flow, self.consult, self.audit = flow, consult, audit

    def handle(self, text: str, reporter: str, *, service: str | None = None) -> ActResult:
        route, why = classify(text)
        subject = f"ask:{uuid.uuid4().hex[:12]}"
        self.audit.append("act.classified", "oasis:act", subject,
                          {"route": route, "reason": why, "reporter": reporter,
                           "text": text[:500]})
        if route == "report" and self.flow is not None:
            result = self._report(text, reporter, service, why)
        elif route == "report":
            result = ActResult(route, why, "Triage is not configured here, so I cannot open "
                               "tickets; please tell the on-call team directly.")
        else:
            result = self._consult(text, why)
        self.audit.append("act.replied", "oasis:act", subject,
                          {"route": result.route, "event_key": result.event_key,
                           "verdict": result.verdict, "reply": result.reply[:1000]})
        return result

    def _report(self, text: str, reporter: str, service: str | None, why: str) -> ActResult:
        payload = {"type": "report", "id": str(uuid.uuid4()), "text": text,
                   "reporter": reporter, "accounts": sorted(set(_ACCOUNT.findall(text))),
                   "service": service}
        [event] = parse_event(payload, received_at=datetime.now(UTC))
        done = self.flow.handle(event)
        tickets = done.tickets_created + done.tickets_updated
        if done.verdict == "accept":
            reply = (f"Thanks, {reporter}: I opened {len(tickets)} ticket(s) "
                     f"({', '.join(done.teams) or 'no team'}); {done.reason}.")
        elif done.verdict == "ask":
            reply = (f"Thanks, {reporter}: I could not tell whose this is ({done.reason}); "
                     "a person will accept or discharge it.")
        else:
            reply = (f"Thanks, {reporter}: no ticket was opened: {done.reason}. Name the "
                     "affected account (12-digit id) if it concerns production.")
        return ActResult("report", why, reply, event.key, done.verdict, tickets)

    def _consult(self, text: str, why: str) -> ActResult:
        if self.consult is None:
            return ActResult("consult", why, "The knowledge base is not set up here yet.")
        answer = self.consult(text)
        citations = [c if isinstance(c, dict) else c.to_dict()
                     for c in getattr(answer, "citations", [])]
        return ActResult("consult", why, getattr(answer, "text", str(answer)),
                         citations=citations)
