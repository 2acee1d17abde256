"""The severity rules reviewed (issue 19 item 6): deadlines such as an instance retirement
8-20 days away, resolved updates, and non-production accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oasis.triage.acknowledge import AcknowledgePolicy, Verdict
from oasis.triage.org import load_organisation
from oasis.triage.severity import assess
from tests.test_triage_policy import NONPROD, NOW, PROD, ROOT, event, finding


def retirement(days: int, *, end_days: int | None = None, text: str | None = None):
    day = NOW + timedelta(days=days)
    return event(
        key=f"arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/r{days}",
        category="scheduledChange",
        status="upcoming",
        event_type="AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        title="EC2 instance retirement scheduled",
        description=text
        if text is not None
        else (
            "EC2 has detected degradation of the underlying hardware hosting your "
            "instance; it will be stopped or terminated after the retirement date."
        ),
        start_time=day,
        end_time=None if end_days is None else NOW + timedelta(days=end_days),
    )


@pytest.mark.parametrize("days", [8, 14, 20])
def test_an_instance_retirement_8_to_20_days_away_is_high(days: int) -> None:
    found = assess(retirement(days), NOW, production=True)
    assert found.level == 4 and found.deadline == NOW + timedelta(days=days)
    assert f"in {days} days (< 30)" in found.reason


def test_the_retirement_date_counts_not_the_end_of_its_window() -> None:
    # Health gives the retirement day as the start; an end further off must not hide it.
    found = assess(retirement(25, end_days=45), NOW, production=True)
    assert found.level == 4 and found.deadline == NOW + timedelta(days=25)


def test_the_event_type_alone_makes_a_retirement_a_deadline() -> None:
    found = assess(retirement(12, text="Your instance i-0abc is scheduled."), NOW)
    assert found.level == 4 and found.deadline is not None


def test_maintenance_without_a_lifecycle_is_not_a_deadline() -> None:
    maintenance = event(
        category="scheduledChange",
        status="upcoming",
        event_type="AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED",
        description="A reboot is scheduled.",
        start_time=NOW + timedelta(days=5),
    )
    assert assess(maintenance, NOW).level == 3


def test_a_resolved_update_rates_informational_but_tickets_keep_the_peak() -> None:
    over = event(
        category="alarm", source="alertmanager", status="resolved", severity_label="critical"
    )
    assert assess(over, NOW, production=True).level == 1  # tickets: see test_triage_lifecycle


def test_non_production_alarms_are_lower_but_security_matters_everywhere() -> None:
    org = load_organisation(ROOT / "examples" / "organisation.yaml")
    alarm = event(
        category="alarm",
        source="alertmanager",
        status="firing",
        severity_label="critical",
        accounts=[NONPROD],
    )
    assert assess(alarm, NOW, production=False).level == 3
    assert assess(alarm, NOW, production=True).level == 5
    policy = AcknowledgePolicy(org)
    assert policy.decide(alarm).verdict is Verdict.DISCHARGE
    high = finding("HIGH", account=NONPROD)
    decided = policy.decide(high)
    assert decided.verdict is Verdict.ACCEPT and "every account" in decided.reason
    assert assess(high, NOW).level == 4
    assert policy.decide(finding("HIGH", account=PROD)).verdict is Verdict.ACCEPT
