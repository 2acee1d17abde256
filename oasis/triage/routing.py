"""Alerts from outside AWS: whose they are and whether they are production, by labels.

A Prometheus alert names no AWS account; its labels say where it comes from (`team`,
`namespace`, `cluster`, `service`). `LabelRouting.labels` lists the labels read, in order;
for each the alert carries, the first team whose `labels` patterns (organisation file)
fit the value owns it, and a value naming a team (its id or name) picks that team. An
alert routed so is ours, as an account of the organisation would make it: the policy
rules apply and it is significant when production. Production comes from an environment
label (`environment`, `env`, `stage`: prod, production, prd, live), else
`default_environment`: an alert someone sends OASIS is taken to matter unless it says
otherwise.
"""

from __future__ import annotations

from oasis.triage.model import OpsEvent
from oasis.triage.org import Organisation, Team
from oasis.triage.policy import matches
from oasis.triage.settings import LabelRouting

__all__ = ["LabelRouting", "label_environment", "label_owner", "label_production"]

PRODUCTION_VALUES = ("prod", "prod-*", "*-prod", "production", "prd", "live")


def label_owner(org: Organisation, event: OpsEvent, routing: LabelRouting
                ) -> tuple[Team, str] | None:
    """The team the event's labels route it to, and why; None when no label routes it."""
    for name in routing.labels:
        value = event.labels.get(name)
        if not value:
            continue
        for team in org.teams:
            patterns = team.labels.get(name)
            if patterns is not None and matches(value, patterns):
                return team, f"label {name}={value} (team labels)"
        named = org.team_named(value)
        if named is not None:
            return named, f"label {name}={value} names the team"
    return None


def label_environment(event: OpsEvent, routing: LabelRouting) -> str | None:
    """"production" / "non-production" from the event's environment label, if it has one."""
    for name in routing.environment_labels:
        value = event.labels.get(name)
        if value:
            return "production" if matches(value, list(PRODUCTION_VALUES)) else "non-production"
    return None


def label_production(event: OpsEvent, routing: LabelRouting) -> bool:
    return (label_environment(event, routing) or routing.default_environment) == "production"
