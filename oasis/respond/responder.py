"""The response loop: propose, ask, act, verify, report, for every incident detection opens.

Each `tick` moves every incident one step where it can:
  analysis_complete → proposals stored, summary and approval request sent → pending_approval
  (or approved at once, when a policy allows the action);
  pending_approval past the link lifetime → expired, people told;
  approved → the specialist runs the action → mitigating (or failed → escalated);
  mitigating → quiet for `verify_quiet_minutes` after the action → mitigated; still sick after
  `verify_window_minutes` → failed → escalated, with the evidence;
  mitigated and recovered → resolved, final report sent.
People's decisions (approve, reject, resolve, acknowledge) come in through the same class.
Verification runs on the signals' clock, approvals and link expiry on the wall clock.
Notifications are only queued here (`Outbox.enqueue`); the dispatcher
(`oasis.notify.dispatch`, run by `oasis.runtime.loops`) sends them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from oasis.analyze.analyst import DeterministicAnalyst
from oasis.analyze.investigation import Analyst, Outcome
from oasis.approve import LinkSigner, auto_approval, expiry
from oasis.approve.settings import ApproveSettings
from oasis.audit import AuditLog
from oasis.incidents import IllegalTransition, Incident, IncidentStore, Status, TimelineEvent
from oasis.notify import Outbox, build_notification
from oasis.notify.settings import NotifySettings
from oasis.remediate import Executors
from oasis.remediate.catalog import ActionKind, ActionSpec, Risk
from oasis.respond.actions import ActionRecord, ActionStatus, ActionStore, new_action_id
from oasis.respond.messages import approval_context, base_context, report_context
from oasis.respond.settings import RespondSettings
from oasis.respond.specialist import DeploymentSpecialist
from oasis.signals.crashpoints import crash_point
from oasis.signals.errors import Conflict

log = logging.getLogger(__name__)
S = Status
AWAITING_PEOPLE = (S.ANALYSIS_COMPLETE, S.PENDING_APPROVAL, S.REJECTED, S.EXPIRED, S.FAILED,
                   S.ESCALATED)
# Where an incident may be when one of its actions is approved.
WAITING = (S.ANALYSIS_COMPLETE, S.PENDING_APPROVAL, S.REJECTED, S.EXPIRED, S.ESCALATED)
DECISION_GRACE = timedelta(seconds=30)


class DecisionError(Conflict, ValueError):
    """A decision that cannot be taken; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message, status=status)


class Responder:
    def __init__(self, incidents: IncidentStore, actions: ActionStore, executors: Executors,
                 outbox: Outbox, channels: dict[str, Any], audit: AuditLog, signer: LinkSigner,
                 *, approve: ApproveSettings, notify: NotifySettings,
                 respond: RespondSettings, dry_run: bool = False,
                 analyst: Analyst | None = None, specialist_model: Any = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.incidents, self.actions, self.executors = incidents, actions, executors
        self.outbox, self.channels, self.audit, self.signer = outbox, channels, audit, signer
        self.approve_settings, self.notify_settings, self.settings = approve, notify, respond
        self.analyst = analyst or DeterministicAnalyst(executors.catalog_for)
        # Timeline entries use the signals' clock, like detection's, so an incident's story
        # reads in order even when signals run ahead of the wall (a replay, the demo).
        self.clock = clock
        self.specialist = DeploymentSpecialist(actions, executors, dry_run=dry_run,
                                               lease_seconds=respond.action_lease_seconds,
                                               model=specialist_model)

    # -- the loop ---------------------------------------------------------------------------
    def tick(self, data_now: datetime, wall_now: datetime | None = None) -> None:
        wall_now = wall_now or datetime.now(UTC)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("propose", lambda: self._propose_new(wall_now)),
            ("expire", lambda: self._expire(wall_now)),
            ("run approved actions", lambda: self._run_approved(lambda: data_now)),
            ("verify", lambda: self._verify(data_now)),
            ("close recovered", self._close_recovered),
        ]
        for name, step in steps:
            try:
                step()
            except Exception:  # one failing step must not starve the others
                log.exception("response step %r failed", name)

    def _propose_new(self, now: datetime) -> None:
        waiting = [S.ANALYSIS_COMPLETE.value, S.PENDING_APPROVAL.value]
        for incident in self.incidents.list(status=waiting, limit=1000):
            records = self.actions.for_incident(incident.id)
            if not records and incident.status is S.ANALYSIS_COMPLETE:
                self._propose(incident, now)
            elif records:
                self._finish_proposal(incident, records, now)

    def _propose(self, incident: Incident, now: datetime) -> None:
        self.audit.append("incident.detected", "oasis:detector", incident.id, {
            "detected_at": incident.detected_at.isoformat(), "title": incident.title,
            "services": incident.services, "severity": incident.severity.value})
        self.audit.append("analysis.concluded", "analyst:deterministic", incident.id, {
            "root_cause_service": incident.root_cause_service,
            "suspected_change": incident.suspected_change, "summary": incident.summary})
        outcome = self.analyst.investigate(incident)
        found = outcome.investigation
        self.audit.append("analysis.investigated", outcome.source, incident.id,
                          outcome.to_dict())
        self.incidents.add_event(incident.id, TimelineEvent(
            self.clock(), "investigation",
            f"root cause {found.root_cause.service} "
            f"({found.root_cause.confidence:.0%}): {found.root_cause.explanation}"
            + (f" [fell back: {outcome.fallback_reason}]" if outcome.fallback_reason else ""),
            outcome.source, {"summary": found.summary, "impact": found.impact,
                             "evidence": found.root_cause.evidence,
                             "usage": outcome.usage}))
        records = [self.actions.add(s, proposed_by=outcome.source, at=now)
                   for s in self._specs(incident, outcome)]
        for r in records:
            self.audit.append("action.proposed", outcome.source, r.id, {
                "incident_id": incident.id, "kind": r.kind.value, "params": r.params,
                "risk": r.risk.value, "reason": r.reason})
        self._ask(incident, records, now, f"{found.summary}\n\nImpact: {found.impact}")

    def _ask(self, incident: Incident, records: list[ActionRecord], now: datetime,
             summary: str | None, queued: frozenset[str] = frozenset()) -> None:
        """Tell people about the proposals and ask for approval, skipping the mails
        already `queued` (by a process that died half-way through this)."""
        runnable = [r for r in records if r.kind.value != "notify_only"]
        if "incident_summary" not in queued:
            context = base_context(incident, records, self.approve_settings.public_url)
            if summary is not None:
                context["incident"]["summary"] = summary
            self._notify("incident_summary", incident, context)
            crash_point("respond.after_summary")
        if not runnable:
            return  # nothing to approve: people decide, or it clears on its own
        rule = auto_approval(runnable[0].spec(), self.approve_settings.auto_approve)
        if rule is not None:
            self._decide(incident.id, runnable[0].id, ActionStatus.APPROVED,
                         f"policy:{rule.name}", f"auto-approved by policy {rule.name!r}", now)
            return
        if incident.status is not S.PENDING_APPROVAL:
            self._move(incident.id, S.PENDING_APPROVAL, "oasis", now,
                       f"waiting for approval of {', '.join(r.kind.value for r in runnable)}")
        expires = expiry(self.approve_settings.link_ttl_minutes,
                         min(r.proposed_at for r in runnable))
        incident = self.incidents.get(incident.id)
        crash_point("respond.before_approval_request")
        self._notify("approval_request", incident, approval_context(
            incident, records, self.approve_settings.public_url, self.signer, expires))

    def _finish_proposal(self, incident: Incident, records: list[ActionRecord],
                         now: datetime) -> None:
        """A process killed between storing the proposals and queueing the approval
        request left the incident waiting for a request nobody was sent: send it now.
        Nothing to do once any proposal is decided or the request is queued."""
        if not self._channels() or any(r.status is not ActionStatus.PROPOSED
                                       for r in records):
            return
        queued = frozenset(d.kind for d in self.outbox.for_incident(incident.id))
        runnable = any(r.kind.value != "notify_only" for r in records)
        if "approval_request" in queued or ("incident_summary" in queued and not runnable):
            return
        log.warning("incident %s: finishing a proposal interrupted before its approval "
                    "request was queued", incident.id)
        self._ask(incident, records, now, None, queued)

    def _specs(self, incident: Incident, outcome: Outcome) -> list[ActionSpec]:
        """The investigation's proposals as actions, keeping only what can run here."""
        specs = []
        for p in outcome.investigation.proposed_actions:
            service = p.params.get("service")
            if p.kind is ActionKind.NOTIFY_ONLY or p.kind in self.executors.catalog_for(
                    service):
                specs.append(ActionSpec(id=new_action_id(), incident_id=incident.id,
                                        kind=p.kind, params=p.params, risk=p.risk,
                                        reason=p.reason))
        if not specs:
            note = "no action in the catalog fits, or none can run here; a person has to act"
            specs.append(ActionSpec(id=new_action_id(), incident_id=incident.id,
                                    kind=ActionKind.NOTIFY_ONLY, params={"note": note},
                                    risk=Risk.LOW, reason=note))
        return specs

    def _expire(self, now: datetime) -> None:
        ttl = timedelta(minutes=self.approve_settings.link_ttl_minutes)
        for incident in self.incidents.list(status=[S.PENDING_APPROVAL.value], limit=1000):
            waiting = [a for a in self.actions.for_incident(incident.id)
                       if a.status is ActionStatus.PROPOSED]
            if waiting and all(now - a.proposed_at >= ttl for a in waiting):
                for a in waiting:
                    self.actions.decide(a.id, ActionStatus.EXPIRED, by="oasis", at=now)
                incident = self._move(incident.id, S.EXPIRED, "oasis", now,
                                      "nobody approved or rejected in time")
                self._notify("escalation", incident, {
                    **base_context(incident, waiting, self.approve_settings.public_url),
                    "reason": "The approval request expired without an answer."})

    def _run_approved(self, data_clock: Callable[[], datetime]) -> None:
        now = datetime.now(UTC)
        # Running ones are listed too: if their runner died, the claim has lapsed and this
        # pass takes them over; if not, the claim refuses and they are left alone.
        for action in self.actions.with_status([ActionStatus.APPROVED, ActionStatus.RUNNING]):
            incident = self.incidents.get(action.incident_id)
            if action.status is ActionStatus.APPROVED and incident.status in WAITING:
                # The approval is still being recorded (the action is marked before the
                # incident moves): run it on a later pass, or the incident would be moved
                # to `approved` after its action already ran, and stay there. An approval
                # whose process died half-way is finished here once it is clearly stale.
                if now - (action.decided_at or now) < DECISION_GRACE:
                    continue
                incident = self._move(incident.id, S.APPROVED, action.decided_by or "oasis",
                                      now, f"approval of {action.kind.value} recorded late")
            if incident.status is S.APPROVED:
                incident = self._move(incident.id, S.MITIGATING, "deployment-specialist",
                                      now, f"running {action.kind.value} ({action.id})")
            done = self.specialist.run(action.id, data_clock)
            if done is None:
                continue
            self.audit.append("action.executed", "deployment-specialist", done.id, {
                "incident_id": done.incident_id, "kind": done.kind.value,
                "params": done.params, "status": done.status.value,
                "executor": done.executor, "dry_run": done.dry_run,
                "steps": done.result.get("steps", [])})
            self.incidents.add_event(done.incident_id, TimelineEvent(
                self.clock(), "action_finished",
                f"{done.kind.value} {done.status.value}"
                + (" (dry run: nothing changed)" if done.dry_run else "")
                + f" via {done.executor}", "deployment-specialist",
                {"action_id": done.id, "steps": done.result.get("steps", [])}))
            if done.status is ActionStatus.FAILED or done.dry_run:
                self._fail(done.incident_id, "the action failed: " + _failed_step(done)
                           if not done.dry_run else "dry run: nothing was changed")

    def _verify(self, data_now: datetime) -> None:
        quiet = timedelta(minutes=self.settings.verify_quiet_minutes)
        window = timedelta(minutes=self.settings.verify_window_minutes)
        for incident in self.incidents.list(status=[S.MITIGATING.value], limit=1000):
            done = [a for a in self.actions.for_incident(incident.id)
                    if a.status is ActionStatus.SUCCEEDED and a.data_finished_at]
            if not done:
                continue
            finished = max(a.data_finished_at for a in done)
            if data_now - finished >= quiet and data_now - incident.last_seen_at >= quiet:
                self._move(incident.id, S.MITIGATED, "oasis:verifier", datetime.now(UTC),
                           f"no symptoms for {quiet.total_seconds() / 60:g} min after the "
                           f"action (last seen {incident.last_seen_at:%H:%M}Z)")
            elif data_now - finished >= window:
                self._fail(incident.id, f"symptoms still present "
                           f"{window.total_seconds() / 60:g} min after the action (last seen "
                           f"{incident.last_seen_at:%H:%M}Z)")

    def _close_recovered(self) -> None:
        for incident in self.incidents.list(active=False, limit=1000):
            if incident.status is S.MITIGATED:
                self._resolve(incident, "oasis:verifier", "symptoms cleared after the fix")
            elif incident.status in AWAITING_PEOPLE and self.settings.auto_resolve_recovered:
                for a in self.actions.for_incident(incident.id):
                    self.actions.decide(a.id, ActionStatus.WITHDRAWN, by="oasis",
                                        note="symptoms cleared")
                self._resolve(incident, "oasis", "symptoms cleared without any action")

    # -- people's decisions ---------------------------------------------------------------
    def approve(self, incident_id: str, action_id: str, actor: str, note: str = "") -> None:
        self._decide(incident_id, action_id, ActionStatus.APPROVED, actor, note,
                     datetime.now(UTC))

    def reject(self, incident_id: str, action_id: str, actor: str, note: str = "") -> None:
        self._decide(incident_id, action_id, ActionStatus.REJECTED, actor, note,
                     datetime.now(UTC))

    def resolve(self, incident_id: str, actor: str, note: str = "") -> Incident:
        incident = self.incidents.get(incident_id)
        if incident.status in (S.APPROVED, S.MITIGATING):
            raise DecisionError(f"incident {incident_id} is {incident.status.value}: wait for "
                                "the running action to finish, then resolve")
        for a in self.actions.for_incident(incident_id):
            self.actions.decide(a.id, ActionStatus.WITHDRAWN, by=actor,
                                note="incident resolved by a person")
        return self._resolve(incident, actor, note or "resolved by a person")

    def acknowledge(self, incident_id: str, actor: str, note: str = "") -> None:
        self.incidents.add_event(incident_id, TimelineEvent(
            self.clock(), "acknowledged", note or f"acknowledged by {actor}", actor))
        self.audit.append("incident.acknowledged", actor, incident_id, {"note": note})

    def _decide(self, incident_id: str, action_id: str, to: ActionStatus, actor: str,
                note: str, now: datetime) -> None:
        action = self.actions.get(action_id)
        if action is None or action.incident_id != incident_id:
            raise DecisionError(f"incident {incident_id} has no action {action_id!r}", 404)
        incident = self.incidents.get(incident_id)
        target = S.APPROVED if to is ActionStatus.APPROVED else S.REJECTED
        if to is ActionStatus.APPROVED and incident.status not in WAITING:
            raise DecisionError(f"incident {incident_id} is {incident.status.value}; "
                                "approvals are taken only while it waits for one")
        if action.kind.value == "notify_only" and to is ActionStatus.APPROVED:
            raise DecisionError("notify_only has nothing to run; acknowledge or resolve", 409)
        expect = (ActionStatus.PROPOSED,) if to is ActionStatus.REJECTED else (
            ActionStatus.PROPOSED, ActionStatus.EXPIRED, ActionStatus.REJECTED)
        if not self.actions.decide(action_id, to, by=actor, note=note or None, at=now,
                                   expect=expect):
            raise DecisionError(f"action {action_id} is already {action.status.value}")
        self.audit.append("approval.granted" if to is ActionStatus.APPROVED
                          else "approval.rejected", actor, action_id,
                          {"incident_id": incident_id, "kind": action.kind.value,
                           "params": action.params, "note": note})
        others = [a for a in self.actions.for_incident(incident_id)
                  if a.status is ActionStatus.PROPOSED]
        if to is ActionStatus.APPROVED:
            for other in others:  # one fix at a time: verification must know what worked
                self.actions.decide(other.id, ActionStatus.WITHDRAWN, by="oasis",
                                    note=f"{action.kind.value} was approved instead")
        elif others:
            self.incidents.add_event(incident_id, TimelineEvent(
                self.clock(), "action_rejected", f"{actor} rejected {action.kind.value}"
                + (f": {note}" if note else ""), actor, {"action_id": action_id}))
            return
        self._move(incident_id, target, actor, now,
                   f"{actor} {'approved' if target is S.APPROVED else 'rejected'} "
                   f"{action.kind.value} {_params_text(action.params)}"
                   + (f": {note}" if note else ""), {"action_id": action_id})

    # -- helpers --------------------------------------------------------------------------
    def _move(self, incident_id: str, to: Status, actor: str, at: datetime, message: str,
              data: dict[str, Any] | None = None) -> Incident:
        try:
            incident = self.incidents.transition(incident_id, to, actor=actor, at=self.clock(),
                                                 message=message, data=data)
        except IllegalTransition as exc:
            raise DecisionError(str(exc)) from None
        self.audit.append(f"incident.{to.value}", actor, incident_id, {"message": message})
        return incident

    def _fail(self, incident_id: str, reason: str) -> None:
        now = datetime.now(UTC)
        self._move(incident_id, S.FAILED, "oasis:verifier", now, reason)
        incident = self._move(incident_id, S.ESCALATED, "oasis", now,
                              "escalated to people: " + reason)
        self._notify("escalation", incident, {
            **base_context(incident, self.actions.for_incident(incident_id),
                           self.approve_settings.public_url), "reason": reason})

    def _resolve(self, incident: Incident, actor: str, message: str) -> Incident:
        incident = self._move(incident.id, S.RESOLVED, actor, datetime.now(UTC), message)
        state = {s: ("recovered" if incident.recovered_at else "symptoms may persist")
                 for s in incident.services}
        self._notify("final_report", incident, report_context(
            incident, self.actions.for_incident(incident.id),
            self.approve_settings.public_url, state))
        return incident

    def _channels(self) -> list[str]:
        return [c for c in self.channels if c != "email" or (
            self.notify_settings.email_enabled and self.notify_settings.recipients)]

    def _notify(self, kind: str, incident: Incident, context: dict[str, Any]) -> None:
        channels = self._channels()
        if not channels:
            return
        note = build_notification(kind, context, list(self.notify_settings.recipients),
                                  incident.id)
        self.outbox.enqueue(note, channels)
        self.incidents.add_event(incident.id, TimelineEvent(
            self.clock(), "notification_queued", f"{kind}: {note.subject}", "oasis",
            {"notification_id": note.id, "channels": channels}))
        self.audit.append("notification.queued", "oasis", incident.id, {
            "kind": kind, "notification_id": note.id, "channels": channels,
            "recipients": note.recipients, "subject": note.subject})


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items() if v is not None)


def _failed_step(action: ActionRecord) -> str:
    failed = [s for s in action.result.get("steps", []) if not s.get("ok")]
    return failed[-1]["detail"] if failed else "no detail"
