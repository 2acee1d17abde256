"""The answer key: what the documented triage policy says about each generated event.

Worked out from what the generator chose to make (`Facts`: which accounts, what
severity the guidelines give, whether it costs money, whether it is a serious finding),
never by running the triage code: a label computed by the code under test could not
catch its mistakes. Sources: the OHERO prototype's Acknowledge flow and severity
guidelines, as restated in docs/triage.md.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from oasis.signals.model import utc_iso

Verdict = Literal["accept", "discharge", "reject", "ask"]
TicketEffect = Literal["create", "update", "none"]

#: Severity the guidelines give each kind of event (5 highest). Deprecations go by the
#: days left, findings by their label (a failed compliance check is at least high).
SEVERITY = {
    "issue_production": 5,   # an open AWS Health issue on production: a production outage
    "alarm_production": 4,   # an alarm firing on production: a degradation
    "maintenance": 3,        # scheduled maintenance windows: plan and schedule
    "billing": 3,            # pricing changes: cost
    "cost_anomaly": 3,       # cost
    "notification": 1,       # informational notices
}
FINDING_SEVERITY = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "LOW": 2, "INFORMATIONAL": 1}
COMPLIANCE_VIOLATION = 4
ACTIVE_EXPLOIT = 5
SECURITY_HIGH = ("CRITICAL", "HIGH")


def deprecation_severity(days_left: float) -> int:
    """< 30 days high (4), 30-90 medium (3), > 90 low (2)."""
    if days_left < 30:
        return 4
    if days_left <= 90:
        return 3
    return 2


def finding_severity(label: str, *, compliance_failed: bool, exploited: bool) -> int:
    """CRITICAL and active exploits 5; a failed compliance check 4; else by label."""
    if label == "CRITICAL" or exploited:
        return ACTIVE_EXPLOIT
    if compliance_failed:
        return max(COMPLIANCE_VIOLATION, FINDING_SEVERITY[label])
    return FINDING_SEVERITY[label]


@dataclass(frozen=True)
class Expected:
    """What the policy says must happen when this payload arrives."""

    verdict: Verdict
    tickets: TicketEffect
    owner: str | None = None
    stakeholders: tuple[str, ...] = ()
    severity: int | None = None
    cost_impact: bool = False
    why: str = ""

    def later_copy(self, effect: TicketEffect) -> Expected:
        """A later copy of the event: the same verdict; tickets updated or left alone."""
        return Expected(self.verdict, effect, self.owner, self.stakeholders, self.severity,
                        self.cost_impact, self.why)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "tickets": self.tickets, "owner": self.owner,
                "stakeholders": list(self.stakeholders), "severity": self.severity,
                "cost_impact": self.cost_impact, "why": self.why}


@dataclass
class LabelledEvent:
    """One payload as a source would send it, when it arrives, and its label."""

    payload: dict[str, Any]
    received_at: datetime
    key: str
    kind: str
    expected: Expected
    copy: Literal["first", "update", "duplicate"] = "first"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "copy": self.copy,
                "received_at": utc_iso(self.received_at), "expected": self.expected.to_dict(),
                "payload": self.payload}


@dataclass
class Facts:
    """What an event is about, as the generator made it: the policy's inputs."""

    accounts: list[str]
    severity: int
    cost_impact: bool = False
    security_high: bool = False    # a HIGH or CRITICAL security finding
    service: str | None = None     # AWS service code, for ownership by service
    resource_types: tuple[str, ...] = ()  # CloudFormation types, for ownership by prefix


class OrgView:
    """The parts of an Organisation the labels depend on, read once."""

    def __init__(self, org: Any) -> None:
        active = [a for a in org.accounts if a.status == "ACTIVE"]
        self.production = sorted(a.id for a in active if a.production)
        self.non_production = sorted(a.id for a in active if not a.production)
        if not self.production or not self.non_production:
            raise ValueError("the organisation needs at least one active production and one "
                             "active non-production account to generate events for")
        self.known = {a.id for a in org.accounts}
        defaults = [t.id for t in org.teams if t.default_owner]
        if len(defaults) != 1:
            raise ValueError("the organisation needs exactly one default_owner team")
        self.default_owner = defaults[0]
        self.stakeholder_for: dict[str, list[str]] = {}
        for team in org.teams:
            for role in team.stakeholder_for:
                self.stakeholder_for.setdefault(role, []).append(team.id)
        self.owned = [(item, t.id) for t in org.teams for item in t.owns]
        # The organisation file's account owner: `owner`, else `tags.team`.
        self.account_team = {a.id: getattr(a, "owner", None) or a.tags.get("team")
                             for a in org.accounts}

    def owner_of(self, service: str | None, resource_types: Sequence[str],
                 accounts: Sequence[str] = ()) -> str:
        """The team owning the service or a resource-type prefix; else the team owning the
        first affected account that names one; else the default owner."""
        for item, team in self.owned:
            if item.startswith("AWS::"):
                if any(rt == item or rt.startswith(item + "::") for rt in resource_types):
                    return team
            elif service and service.upper() == item.upper():
                return team
        for account in accounts:
            if self.account_team.get(account):
                return self.account_team[account]
        return self.default_owner

    def unknown_account(self, rng: random.Random) -> str:
        while True:
            candidate = f"{rng.randrange(10**11, 10**12):012d}"
            if candidate not in self.known:
                return candidate


def label(view: OrgView, facts: Facts | None, *, allow_interaction: bool = False,
          public: bool = False) -> Expected:
    """Acknowledge (the prototype's flow), then the stakeholders Triage must ticket."""
    if facts is None or not facts.accounts or public:
        if public:
            return Expected("discharge", "none", why="public event: names no account of ours")
        verdict: Verdict = "ask" if allow_interaction else "discharge"
        return Expected(verdict, "none", why="names no affected account")
    if not any(a in view.known for a in facts.accounts):
        return Expected("reject", "none", why="account unknown to the organisation")
    production = any(a in view.production for a in facts.accounts)
    if not (production or facts.cost_impact or facts.security_high):
        return Expected("discharge", "none", why="non-production, no cost, not serious security")
    owner = view.owner_of(facts.service, facts.resource_types, facts.accounts)
    roles = ["no_action_needed"]
    if facts.severity == 5:
        roles.append("severity_5")
    if facts.cost_impact:
        roles.append("cost_impact")
    if facts.security_high:
        roles.append("security_high")
    teams = {owner}
    for role in roles:
        teams.update(view.stakeholder_for.get(role, []))
    why = ("production account" if production else
           "cost impact" if facts.cost_impact else "serious security finding")
    return Expected("accept", "create", owner, tuple(sorted(teams)), facts.severity,
                    facts.cost_impact, why)
