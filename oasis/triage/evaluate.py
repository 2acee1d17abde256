"""Score Acknowledge and Triage against the labelled stream of `oasis.simulate.opsevents`.

Every payload goes the way a real one goes: `parse_event` → `AcknowledgePolicy.decide` →
`Triage.triage` (accepted events only) with tickets in a throw-away SQLite database, at
the payload's own arrival time. Then, against the labels:

- verdict: accept / discharge / reject / ask, over every payload;
- owner, stakeholders, severity: over new events both the label and the code accept
  (a wrong verdict is counted once, under verdict);
- copies: updates must update the event's tickets, re-sent copies change nothing, and
  neither may create a ticket; duplicate tickets (two for one event and team) must be 0.

Each disagreement is listed with the code's own reason, so a reader can tell a bug in
the code from a mistake in the label.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from oasis.signals.model import utc_iso
from oasis.simulate.opsevents import LabelledEvent, generate_ops_events
from oasis.triage.acknowledge import AcknowledgePolicy, Verdict
from oasis.triage.model import EventFormatError
from oasis.triage.org import Organisation
from oasis.triage.parse import parse_event
from oasis.triage.tickets import TicketStore, triage_tickets
from oasis.triage.triage import Triage, TriageOutcome

#: The share each score must reach for the run to pass (over at least MIN_EVENTS).
TARGET = 0.98
MIN_EVENTS = 200
SCORES = ("verdict", "owner", "stakeholders", "severity", "copies")


@dataclass
class Tally:
    """Right answers out of those scored, per measure."""

    right: Counter[str] = field(default_factory=Counter)
    scored: Counter[str] = field(default_factory=Counter)

    def add(self, measure: str, ok: bool) -> None:
        self.scored[measure] += 1
        self.right[measure] += int(ok)

    def share(self, measure: str) -> float | None:
        n = self.scored[measure]
        return None if n == 0 else round(self.right[measure] / n, 4)

    def to_dict(self) -> dict[str, Any]:
        return {m: {"right": self.right[m], "scored": self.scored[m], "share": self.share(m)}
                for m in SCORES if self.scored[m]}


class TriageEvaluation:
    """Runs one labelled stream through the real pipeline and keeps the score."""

    def __init__(self, org: Organisation, store: TicketStore, *,
                 allow_interaction: bool = False) -> None:
        self.org, self.store = org, store
        self.policy = AcknowledgePolicy(org, allow_interaction=allow_interaction)
        self.triage = Triage(org, store)
        self.total = Tally()
        self.per_kind: dict[str, Tally] = defaultdict(Tally)
        self.disagreements: list[dict[str, Any]] = []
        self.tickets_from_copies = 0
        self.unreadable = 0

    def run(self, stream: list[LabelledEvent]) -> None:
        for item in stream:
            self.score(item)

    def score(self, item: LabelledEvent) -> None:
        expected = item.expected
        try:
            events = parse_event(item.payload, received_at=item.received_at)
        except EventFormatError as exc:
            self.unreadable += 1
            self._note(item, "verdict", expected.verdict, "unreadable", str(exc))
            self._add(item, "verdict", False)
            return
        for event in events:
            ack = self.policy.decide(event)
            verdict_ok = ack.verdict.value == expected.verdict
            self._add(item, "verdict", verdict_ok)
            if not verdict_ok:
                self._note(item, "verdict", expected.verdict, ack.verdict.value, ack.reason)
            outcome = None
            if ack.verdict is Verdict.ACCEPT:
                outcome = self.triage.triage(event, ack, item.received_at)
            if item.copy == "first":
                if verdict_ok and outcome is not None:
                    self._score_tickets(item, outcome, event, ack.reason)
            else:
                self._score_copy(item, outcome)

    def _score_tickets(self, item: LabelledEvent, outcome: TriageOutcome, event: Any,
                       reason: str) -> None:
        expected = item.expected
        owner_ok = outcome.owner == expected.owner
        self._add(item, "owner", owner_ok)
        if not owner_ok:
            self._note(item, "owner", expected.owner, outcome.owner, reason)
        got_teams = sorted(t.team for t in outcome.created)
        teams_ok = got_teams == sorted(expected.stakeholders)
        self._add(item, "stakeholders", teams_ok)
        if not teams_ok:
            self._note(item, "stakeholders", list(expected.stakeholders), got_teams, reason)
        level = self.triage.severity_of(event, item.received_at)
        severities = {t.severity for t in outcome.created} or {level.level}
        severity_ok = severities == {expected.severity}
        self._add(item, "severity", severity_ok)
        if not severity_ok:
            self._note(item, "severity", expected.severity, sorted(severities), level.reason)

    def _score_copy(self, item: LabelledEvent, outcome: TriageOutcome | None) -> None:
        created = len(outcome.created) if outcome else 0
        updated = len(outcome.updated) if outcome else 0
        self.tickets_from_copies += created
        if item.expected.tickets == "update":
            ok, got = created == 0 and updated > 0, f"{created} created, {updated} updated"
        else:
            ok, got = created == 0 and updated == 0, f"{created} created, {updated} updated"
        self._add(item, "copies", ok)
        if not ok:
            want = "tickets updated, none created" if item.expected.tickets == "update" \
                else "no ticket created or updated"
            self._note(item, "copies", want, got, f"{item.copy} of {item.key}")

    def duplicate_tickets(self) -> int:
        """Tickets beyond the first for one (event key, team)."""
        count = sa.func.count()
        query = (sa.select(triage_tickets.c.event_key, triage_tickets.c.team, count)
                 .group_by(triage_tickets.c.event_key, triage_tickets.c.team)
                 .having(count > 1))
        with self.store.engine.connect() as conn:
            return sum(n - 1 for _, _, n in conn.execute(query))

    def ticket_count(self) -> int:
        with self.store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(triage_tickets)).scalar_one()

    def _add(self, item: LabelledEvent, measure: str, ok: bool) -> None:
        self.total.add(measure, ok)
        self.per_kind[item.kind].add(measure, ok)

    def _note(self, item: LabelledEvent, measure: str, expected: Any, got: Any,
              why: str) -> None:
        self.disagreements.append({
            "measure": measure, "kind": item.kind, "copy": item.copy, "key": item.key,
            "received_at": utc_iso(item.received_at), "expected": expected, "got": got,
            "code_says": why, "label_says": item.expected.why})


def evaluate_triage(org: Organisation, *, events: int = 300, seed: int = 1,
                    now: datetime | None = None, db_url: str | None = None,
                    allow_interaction: bool = False) -> dict[str, Any]:
    """Generate `events` labelled payloads, run them through triage and score it.

    `db_url`: where tickets go (default: SQLite in a temporary folder, removed after).
    The result is JSON-ready; `passed` says whether every target was met.
    """
    started = time.monotonic()
    now = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    stream = generate_ops_events(org, count=events, seed=seed, now=now,
                                 allow_interaction=allow_interaction)
    with tempfile.TemporaryDirectory(prefix="oasis-eval-triage-") as folder:
        store = TicketStore(db_url or f"sqlite:///{Path(folder) / 'tickets.db'}")
        try:
            run = TriageEvaluation(org, store, allow_interaction=allow_interaction)
            run.run(stream)
            duplicates, tickets = run.duplicate_tickets(), run.ticket_count()
        finally:
            store.close()
    return _result(run, stream, seed=seed, now=now, duplicates=duplicates, tickets=tickets,
                   seconds=time.monotonic() - started)


def _result(run: TriageEvaluation, stream: list[LabelledEvent], *, seed: int, now: datetime,
            duplicates: int, tickets: int, seconds: float) -> dict[str, Any]:
    shares = {m: run.total.share(m) for m in SCORES}
    firsts = sum(1 for item in stream if item.copy == "first")
    passed = (len(stream) >= MIN_EVENTS and duplicates == 0 and run.tickets_from_copies == 0
              and all(shares[m] is not None and shares[m] >= TARGET
                      for m in ("verdict", "owner", "severity")))
    return {
        "seed": seed, "now": utc_iso(now), "payloads": len(stream), "events": firsts,
        "copies": len(stream) - firsts,
        "verdicts_expected": dict(Counter(i.expected.verdict for i in stream)),
        "scores": shares, "target": TARGET, "passed": passed,
        "tickets": tickets, "duplicate_tickets": duplicates,
        "tickets_from_copies": run.tickets_from_copies, "unreadable": run.unreadable,
        "per_kind": {kind: run.per_kind[kind].to_dict() for kind in sorted(run.per_kind)},
        "disagreement_summary": summarise(run.disagreements),
        "disagreements": run.disagreements, "seconds": round(seconds, 2),
    }


def summarise(disagreements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Disagreements grouped by measure, kind, expected and got, most frequent first."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in disagreements:
        groups[(item["measure"], item["kind"], str(item["expected"]), str(item["got"]))].append(
            item)
    return [{"measure": m, "kind": k, "expected": e, "got": g, "count": len(items),
             "example": items[0]["key"], "code_says": items[0]["code_says"]}
            for (m, k, e, g), items in sorted(groups.items(), key=lambda kv: -len(kv[1]))]
