"""Acknowledge: should OASIS act on this event at all? Deterministic code, not a prompt.

The OHERO prototype asked a model to follow a written flow; the flow itself is simple
and a model adds only the chance of not following it. So it is code:

1. The event must be ours: about an account the organisation knows, or, naming no
   account, routed to a team by its labels (routing.py: alerts from outside AWS).
   Naming none and routed nowhere: a public AWS Health event is discharged; anything else
   is discharged, or left to a person (ASK) when interaction is allowed. Naming only
   unknown accounts: REJECT.
2. Policy rules (policy.py), first match wins: ignore → DISCHARGE, accept → ACCEPT,
   escalate → ACCEPT with escalate.
3. Significant: a production account is affected (for a label-routed alert: its
   environment label says production, or it names none), or the event costs money
   (FinOps is then a stakeholder), or it is a HIGH/CRITICAL security finding (security
   matters in every account). Significant → ACCEPT, else DISCHARGE.

Every decision carries a reason a person can read and check.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, Field

from oasis.triage.model import OpsEvent
from oasis.triage.org import Account, Organisation
from oasis.triage.policy import PolicyRules
from oasis.triage.routing import LabelRouting, label_environment, label_owner, label_production

_COST_WORDS = re.compile(r"\b(extended support|pricing changes?|price (increase|change)s?|"
                         r"additional charges?|billing|billed)\b", re.I)
SECURITY_HIGH = ("CRITICAL", "HIGH")


class Verdict(StrEnum):
    ACCEPT = "accept"
    DISCHARGE = "discharge"
    REJECT = "reject"
    ASK = "ask"  # a person decides (Accept / Discharge)


class Acknowledgement(BaseModel):
    """The decision on one event and why."""

    verdict: Verdict
    reason: str = Field(description="Why, in words a person understands.")
    significant: bool = Field(description="Production affected, cost or serious security.")
    cost_impact: bool = Field(description="The event may change the bill: FinOps is told.")
    rule: str | None = Field(None, description="Name of the policy rule that decided, if any.")
    escalate: bool = Field(False, description="A rule asked for leadership to be told too.")


def cost_impact(event: OpsEvent) -> bool:
    """Whether the event may change what the organisation pays."""
    if event.category == "cost" or event.source == "aws.cost-anomaly":
        return True
    if event.source == "aws.health" and (
            (event.service or "").upper() == "BILLING"
            or "BILLING" in (event.event_type or "").upper()):
        return True
    if event.labels.get(COST_RAISED_LABEL):
        return True  # a model judged it so; rules may only be raised, never lowered
    return bool(_COST_WORDS.search(f"{event.title}\n{event.description}"))


COST_RAISED_LABEL = "oasis.cost_impact_raised_by"


def security_high(event: OpsEvent) -> bool:
    """A HIGH or CRITICAL security finding."""
    return event.category == "finding" and (event.severity_label or "").upper() in SECURITY_HIGH


def named_accounts(event: OpsEvent) -> list[str]:
    """Accounts the event names, itself or through its resources, in order, once each."""
    ids = list(event.accounts) + [r.account for r in event.resources if r.account]
    return list(dict.fromkeys(ids))


class AcknowledgePolicy:
    """The prototype's Acknowledge flow plus the organisation's own rules."""

    def __init__(self, org: Organisation, rules: PolicyRules | None = None, *,
                 allow_interaction: bool = False,
                 routing: LabelRouting | None = None) -> None:
        self.org = org
        self.rules = rules
        self.allow_interaction = allow_interaction
        self.routing = routing or LabelRouting()

    def known_accounts(self, event: OpsEvent) -> list[Account]:
        return [a for a in (self.org.account(i) for i in named_accounts(event)) if a]

    def decide(self, event: OpsEvent) -> Acknowledgement:
        named = named_accounts(event)
        known = self.known_accounts(event)
        costly = cost_impact(event)
        if not named:
            routed = label_owner(self.org, event, self.routing)
            if routed is None or (event.scope or "").upper() == "PUBLIC":
                return self._nobody(event, costly)
            return self._by_labels(event, routed[1], costly)
        if not known:
            return Acknowledgement(
                verdict=Verdict.REJECT, significant=False, cost_impact=costly,
                reason=f"unknown account(s) {', '.join(named)}: not in the organisation")
        production = [a for a in known if a.production]
        secure = security_high(event)
        significant = bool(production) or costly or secure
        rule = self.rules.first_match(event) if self.rules else None
        if rule is not None:
            verdict = Verdict.DISCHARGE if rule.action == "ignore" else Verdict.ACCEPT
            return Acknowledgement(
                verdict=verdict, significant=significant, cost_impact=costly, rule=rule.name,
                escalate=rule.action == "escalate",
                reason=f"policy rule {rule.name!r}: {rule.action}")
        if significant:
            return Acknowledgement(verdict=Verdict.ACCEPT, significant=True, cost_impact=costly,
                                   reason=_why_significant(event, production, costly, secure))
        return Acknowledgement(
            verdict=Verdict.DISCHARGE, significant=False, cost_impact=False,
            reason=f"only non-production accounts affected: {_names(known)}")

    def _by_labels(self, event: OpsEvent, why: str, costly: bool) -> Acknowledgement:
        """An alert from outside AWS that its labels make ours."""
        production = label_production(event, self.routing)
        secure = security_high(event)
        significant = production or costly or secure
        rule = self.rules.first_match(event) if self.rules else None
        if rule is not None:
            return Acknowledgement(
                verdict=Verdict.DISCHARGE if rule.action == "ignore" else Verdict.ACCEPT,
                significant=significant, cost_impact=costly, rule=rule.name,
                escalate=rule.action == "escalate",
                reason=f"policy rule {rule.name!r}: {rule.action}")
        said = label_environment(event, self.routing)
        where = (f"{said} by its environment label" if said
                 else f"no environment label: taken as {self.routing.default_environment}")
        if significant:
            reasons = [f"routed by {why}; {where}"] if production else []
            reasons += ["cost impact: FinOps is a stakeholder"] if costly else []
            reasons += ["HIGH or CRITICAL security finding"] if secure else []
            return Acknowledgement(verdict=Verdict.ACCEPT, significant=True,
                                   cost_impact=costly, reason="; ".join(reasons))
        return Acknowledgement(verdict=Verdict.DISCHARGE, significant=False,
                               cost_impact=False, reason=f"routed by {why}; {where}")

    def _nobody(self, event: OpsEvent, costly: bool) -> Acknowledgement:
        if (event.scope or "").upper() == "PUBLIC":
            return Acknowledgement(
                verdict=Verdict.DISCHARGE, significant=False, cost_impact=costly,
                reason="public event: it names no account of ours")
        if self.allow_interaction:
            return Acknowledgement(
                verdict=Verdict.ASK, significant=False, cost_impact=costly,
                reason="no affected account named: a person must accept or discharge it")
        return Acknowledgement(verdict=Verdict.DISCHARGE, significant=False,
                               cost_impact=costly, reason="no affected account named")


def _why_significant(event: OpsEvent, production: list[Account], costly: bool,
                     secure: bool) -> str:
    reasons = []
    if production:
        reasons.append(f"production account(s) affected: {_names(production)}")
    if costly:
        reasons.append("cost impact: FinOps is a stakeholder")
    if secure:
        reasons.append(f"{event.severity_label.upper() if event.severity_label else ''} "
                       "security finding: security matters in every account")
    return "; ".join(reasons)


def _names(accounts: list[Account]) -> str:
    return ", ".join(f"{a.id} ({a.name})" for a in accounts)
