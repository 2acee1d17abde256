"""Proposed and approved actions, persisted before anything runs.

An action's row is the intent: it is `approved` before the specialist starts, `running`
(with a claim that expires) while it runs, and `succeeded` or `failed` after. A process that
dies mid-action leaves a `running` row whose claim runs out; the next claim re-issues the
same action id, and executors are idempotent by that id, so the change happens once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.remediate.catalog import ActionKind, ActionSpec, Risk
from oasis.signals.model import utc_iso
from oasis.state import from_db as _aware
from oasis.state import to_db as _naive


class ActionStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


OPEN_DECISION = frozenset({ActionStatus.PROPOSED})

metadata = sa.MetaData()
actions = sa.Table(
    "actions", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("incident_id", sa.String(40), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("risk", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("proposed_at", sa.DateTime, nullable=False),
    sa.Column("proposed_by", sa.String(200), nullable=False),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decided_by", sa.String(200)),
    sa.Column("note", sa.Text),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("data_finished_at", sa.DateTime),
    sa.Column("claimed_until", sa.DateTime),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("executor", sa.String(100)),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    sa.Column("result", sa.JSON),
)


def new_action_id() -> str:
    return f"act-{secrets.token_hex(6)}"


@dataclass(slots=True)
class ActionRecord:
    """One action on one incident, from proposal to outcome.

    `finished_at` is wall time; `data_finished_at` is the signals' clock when it finished,
    which is what verification compares symptoms against.
    """

    id: str
    incident_id: str
    kind: ActionKind
    params: dict[str, Any]
    risk: Risk
    reason: str
    status: ActionStatus
    proposed_at: datetime
    proposed_by: str
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    data_finished_at: datetime | None = None
    attempts: int = 0
    executor: str | None = None
    dry_run: bool = False
    result: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> ActionSpec:
        return ActionSpec(id=self.id, incident_id=self.incident_id, kind=self.kind,
                          params=self.params, risk=self.risk, reason=self.reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "incident_id": self.incident_id, "kind": self.kind.value,
            "params": self.params, "risk": self.risk.value, "reason": self.reason,
            "status": self.status.value, "proposed_at": utc_iso(self.proposed_at),
            "proposed_by": self.proposed_by,
            "decided_at": utc_iso(self.decided_at) if self.decided_at else None,
            "decided_by": self.decided_by, "note": self.note,
            "started_at": utc_iso(self.started_at) if self.started_at else None,
            "finished_at": utc_iso(self.finished_at) if self.finished_at else None,
            "attempts": self.attempts, "executor": self.executor, "dry_run": self.dry_run,
            "steps": self.result.get("steps", []), "output": self.result.get("output", {}),
            "approved_by": self.decided_by if self.status not in (
                ActionStatus.PROPOSED, ActionStatus.REJECTED, ActionStatus.EXPIRED,
                ActionStatus.WITHDRAWN) else None,
        }


class ActionStore:
    """Actions in the state database, with compare-and-set status changes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def add(self, spec: ActionSpec, *, proposed_by: str, at: datetime | None = None,
            status: ActionStatus = ActionStatus.PROPOSED) -> ActionRecord:
        record = ActionRecord(spec.id, spec.incident_id, spec.kind, dict(spec.params),
                              spec.risk, spec.reason, status, at or datetime.now(UTC),
                              proposed_by)
        with self.engine.begin() as conn:
            conn.execute(actions.insert().values(
                id=record.id, incident_id=record.incident_id, kind=record.kind.value,
                params=record.params, risk=record.risk.value, reason=record.reason,
                status=record.status.value, proposed_at=_naive(record.proposed_at),
                proposed_by=proposed_by, attempts=0, dry_run=False))
        return record

    def get(self, action_id: str) -> ActionRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(actions).where(actions.c.id == action_id)).first()
        return _record(row._mapping) if row else None

    def for_incident(self, incident_id: str) -> list[ActionRecord]:
        query = (sa.select(actions).where(actions.c.incident_id == incident_id)
                 .order_by(actions.c.proposed_at, actions.c.id))
        with self.engine.connect() as conn:
            return [_record(r._mapping) for r in conn.execute(query)]

    def with_status(self, statuses: Sequence[ActionStatus]) -> list[ActionRecord]:
        query = (sa.select(actions).where(actions.c.status.in_([s.value for s in statuses]))
                 .order_by(actions.c.proposed_at))
        with self.engine.connect() as conn:
            return [_record(r._mapping) for r in conn.execute(query)]

    def decide(self, action_id: str, to: ActionStatus, *, by: str, note: str | None = None,
               at: datetime | None = None,
               expect: Sequence[ActionStatus] = (ActionStatus.PROPOSED,)) -> bool:
        """Move a waiting action to approved / rejected / expired / withdrawn, once.

        False when it was no longer in `expect` (someone decided first).
        """
        with self.engine.begin() as conn:
            done = conn.execute(
                actions.update()
                .where(actions.c.id == action_id,
                       actions.c.status.in_([s.value for s in expect]))
                .values(status=to.value, decided_by=by[:200], note=note,
                        decided_at=_naive(at or datetime.now(UTC)))).rowcount
        return done == 1

    def claim(self, action_id: str, *, lease_seconds: float, dry_run: bool,
              now: datetime | None = None) -> ActionRecord | None:
        """Take an approved action (or one whose runner died) to run; None if not ours."""
        now = now or datetime.now(UTC)
        runnable = sa.or_(
            actions.c.status == ActionStatus.APPROVED.value,
            sa.and_(actions.c.status == ActionStatus.RUNNING.value,
                    actions.c.claimed_until < _naive(now)))
        with self.engine.begin() as conn:
            taken = conn.execute(
                actions.update().where(actions.c.id == action_id, runnable)
                .values(status=ActionStatus.RUNNING.value,
                        claimed_until=_naive(now + timedelta(seconds=lease_seconds)),
                        started_at=sa.func.coalesce(actions.c.started_at, _naive(now)),
                        attempts=actions.c.attempts + 1, dry_run=dry_run)).rowcount
        return self.get(action_id) if taken else None

    def extend_claim(self, action_id: str, lease_seconds: float) -> None:
        until = datetime.now(UTC) + timedelta(seconds=lease_seconds)
        with self.engine.begin() as conn:
            conn.execute(actions.update()
                         .where(actions.c.id == action_id,
                                actions.c.status == ActionStatus.RUNNING.value)
                         .values(claimed_until=_naive(until)))

    def finish(self, action_id: str, *, ok: bool, executor: str, result: dict[str, Any],
               data_time: datetime, at: datetime | None = None) -> ActionRecord:
        status = ActionStatus.SUCCEEDED if ok else ActionStatus.FAILED
        with self.engine.begin() as conn:
            conn.execute(actions.update()
                         .where(actions.c.id == action_id,
                                actions.c.status == ActionStatus.RUNNING.value)
                         .values(status=status.value, executor=executor, result=result,
                                 finished_at=_naive(at or datetime.now(UTC)),
                                 data_finished_at=_naive(data_time), claimed_until=None))
        record = self.get(action_id)
        assert record is not None
        return record


def _record(m: Any) -> ActionRecord:
    return ActionRecord(
        id=m["id"], incident_id=m["incident_id"], kind=ActionKind(m["kind"]),
        params=m["params"] or {}, risk=Risk(m["risk"]), reason=m["reason"],
        status=ActionStatus(m["status"]), proposed_at=_aware(m["proposed_at"]),
        proposed_by=m["proposed_by"], decided_at=_aware(m["decided_at"]),
        decided_by=m["decided_by"], note=m["note"], started_at=_aware(m["started_at"]),
        finished_at=_aware(m["finished_at"]), data_finished_at=_aware(m["data_finished_at"]),
        attempts=m["attempts"] or 0, executor=m["executor"], dry_run=bool(m["dry_run"]),
        result=m["result"] or {})
