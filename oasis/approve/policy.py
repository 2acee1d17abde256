"""Auto-approval: the only way an action runs without a person saying yes."""

from __future__ import annotations

from collections.abc import Sequence

from oasis.approve.settings import AutoApproveRule
from oasis.remediate.catalog import ActionSpec, Risk, service_of

RISK_ORDER = {Risk.LOW: 0, Risk.MEDIUM: 1, Risk.HIGH: 2}


def auto_approval(action: ActionSpec, rules: Sequence[AutoApproveRule]) -> AutoApproveRule | None:
    """The first rule that allows `action` outright, or None (ask a person)."""
    service = service_of(action)
    for rule in rules:
        if (action.kind in rule.actions and service is not None and service in rule.services
                and RISK_ORDER[action.risk] <= RISK_ORDER[rule.max_risk]):
            return rule
    return None
