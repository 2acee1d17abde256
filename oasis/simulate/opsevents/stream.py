"""Makes one kind of event at a time: its payload, its label and any later copies.

Each method draws what the event is about (account, service, deadline, label...), builds
the payload from that, and labels it from the same draws (`labels.Facts`). Arrival
times are given by the caller; later copies arrive after the first, never after `now`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from oasis.simulate.opsevents import catalog as c
from oasis.simulate.opsevents.labels import (
    FINDING_SEVERITY,
    SECURITY_HIGH,
    SEVERITY,
    Expected,
    Facts,
    LabelledEvent,
    OrgView,
    TicketEffect,
    deprecation_severity,
    finding_severity,
    label,
)
from oasis.simulate.opsevents.payloads import (
    asff_finding,
    envelope,
    health_detail,
    seconds,
    uuid,
)

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
#: Deadlines are drawn this far from a severity boundary (30 and 90 days), so the hours
#: between arrival and scoring can never move a label.
BOUNDARY_MARGIN_DAYS = 2
#: How often a later copy of an event is sent again unchanged (a retry, a re-delivery).
RESEND_SHARE = 0.2


def _midnight(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


class Stream:
    """The event kinds, for one organisation, random source and end time."""

    def __init__(self, view: OrgView, rng: random.Random, now: datetime,
                 allow_interaction: bool) -> None:
        self.view, self.rng, self.now = view, rng, now
        self.allow_interaction = allow_interaction
        self.alarm_names: set[str] = set()  # one alarm, one name: a repeat would be an update

    # -- helpers ------------------------------------------------------------------------------
    def account(self, production_share: float = 0.6) -> str:
        production = self.rng.random() < production_share
        return self.rng.choice(self.view.production if production else self.view.non_production)

    def fill(self, pattern: str, account: str, region: str) -> str:
        return pattern.format(account=account, region=region, name=self.rng.choice(c.NAMES),
                              hex=f"{self.rng.getrandbits(48):012x}",
                              minor=self.rng.randint(5, 9))

    def later(self, t: datetime, max_minutes: int = 720) -> datetime:
        """A later arrival, never after `now`."""
        return min(self.now, t + timedelta(minutes=self.rng.randint(10, max_minutes)))

    def deadline(self, t: datetime) -> tuple[datetime, float]:
        """A deadline 10-200 days after `t`, at midnight, clear of the 30/90-day lines."""
        while True:
            day = _midnight(t + timedelta(days=self.rng.randint(10, 200)))
            left = (day - t).total_seconds() / 86400
            if all(abs(left - edge) > BOUNDARY_MARGIN_DAYS for edge in (30, 90)):
                return day, left

    def expect(self, facts: Facts | None, *, public: bool = False) -> Expected:
        return label(self.view, facts, allow_interaction=self.allow_interaction, public=public)

    def with_copies(self, first: LabelledEvent, update: dict[str, Any] | None = None,
                    at: datetime | None = None) -> list[LabelledEvent]:
        """The first event, its update (if any) and sometimes the last one sent again."""
        out = [first]
        effect: TicketEffect = "update" if first.expected.tickets == "create" else "none"
        if update is not None and at is not None:
            out.append(LabelledEvent(update, at, first.key, first.kind,
                                     first.expected.later_copy(effect), "update"))
        if self.rng.random() < RESEND_SHARE:
            last = out[-1]
            out.append(LabelledEvent(last.payload, self.later(last.received_at, 120), last.key,
                                     last.kind, first.expected.later_copy("none"), "duplicate"))
        return out

    def health(self, kind: str, t: datetime, expected: Expected, *, service: str, code: str,
               category: str, status: str, start: datetime, text: str, account: str | None,
               region: str, entities: list[str], scope: str = "ACCOUNT_SPECIFIC",
               envelope_account: str | None = None, wrap: bool = True,
               update: dict[str, str] | None = None) -> list[LabelledEvent]:
        """An AWS Health event and, with `update`, its later version (status, text)."""
        arn = f"arn:aws:health:{region}::event/{service}/{code}/{code}_{uuid(self.rng)[:13]}"

        def build(status: str, text: str, end: datetime | None, when: datetime) -> dict:
            detail = health_detail(arn=arn, service=service, type_code=code, category=category,
                                   scope=scope, status=status, region=region, start=start,
                                   end=end, updated=when, text=text, account=account,
                                   entities=entities)
            if not wrap:
                return detail
            return envelope(self.rng, "aws.health", "AWS Health Event",
                            envelope_account or account, region, when, entities, detail)

        stamp = t - timedelta(minutes=self.rng.randint(1, 30))
        first = LabelledEvent(build(status, text, None, stamp), t, arn, kind, expected)
        if update is None:
            return self.with_copies(first)
        at = self.later(t)
        when = at - timedelta(minutes=1)
        closed = update.get("status") == "closed"
        payload = build(update.get("status", status), update.get("text", text),
                        when if closed else None, when)
        return self.with_copies(first, payload, at)

    # -- AWS Health ---------------------------------------------------------------------------
    def deprecation(self, t: datetime) -> list[LabelledEvent]:
        service, code, pattern, plain, costly = self.rng.choice(c.DEPRECATIONS)
        account, region = self.account(), self.rng.choice(REGIONS)
        day, left = self.deadline(t)
        cost = costly is not None and self.rng.random() < 0.5
        text = (costly if cost else plain).format(minor=self.rng.randint(5, 9),
                                                  date=f"{day:%d %B %Y}")
        entities = [self.fill(pattern, account, region) for _ in range(self.rng.randint(1, 3))]
        facts = Facts([account], deprecation_severity(left), cost_impact=cost, service=service,
                      resource_types=(c.RESOURCE_TYPES[pattern],))
        update = {"text": text + " This is a reminder; the date is unchanged."} \
            if self.rng.random() < 0.25 else None
        return self.health("deprecation", t, self.expect(facts), service=service, code=code,
                           category="scheduledChange", status="upcoming", start=day, text=text,
                           account=account, region=region, entities=entities, update=update)

    def issue(self, t: datetime) -> list[LabelledEvent]:
        service, code, pattern = self.rng.choice(c.ISSUES)
        account, region = self.account(), self.rng.choice(REGIONS)
        facts = Facts([account], SEVERITY["issue_production"], service=service,
                      resource_types=(c.RESOURCE_TYPES[pattern],))
        text = (f"We are investigating increased error rates and latencies for {service} "
                f"in {region}, affecting the resources listed.")
        update = {"status": "closed", "text": text + " The issue has been resolved and the "
                  "service is operating normally."} if self.rng.random() < 0.6 else None
        return self.health("issue", t, self.expect(facts), service=service, code=code,
                           category="issue", status="open", start=t - timedelta(minutes=40),
                           text=text, account=account, region=region,
                           entities=[self.fill(pattern, account, region)], update=update)

    def maintenance(self, t: datetime) -> list[LabelledEvent]:
        service, code, pattern = self.rng.choice(c.MAINTENANCE)
        account, region = self.account(), self.rng.choice(REGIONS)
        start = (t + timedelta(days=self.rng.randint(3, 14))).replace(minute=0, second=0,
                                                                      microsecond=0)
        facts = Facts([account], SEVERITY["maintenance"], service=service,
                      resource_types=(c.RESOURCE_TYPES[pattern],))
        text = (f"Scheduled maintenance for {service} resources in {region} starts "
                f"{start:%d %B %Y %H:%M} UTC and lasts up to 2 hours; the resources listed "
                "may be unavailable briefly.")
        return self.health("maintenance", t, self.expect(facts), service=service, code=code,
                           category="scheduledChange", status="upcoming", start=start,
                           text=text, account=account, region=region,
                           entities=[self.fill(pattern, account, region)])

    def notification(self, t: datetime) -> list[LabelledEvent]:
        service, code, text = self.rng.choice(c.NOTIFICATIONS)
        account = self.account()
        facts = Facts([account], SEVERITY["notification"], service=service)
        return self.health("notification", t, self.expect(facts), service=service, code=code,
                           category="accountNotification", status="open", start=t, text=text,
                           account=account, region=self.rng.choice(REGIONS), entities=[])

    def billing(self, t: datetime) -> list[LabelledEvent]:
        service, code, pattern = self.rng.choice(c.BILLING)
        account, region = self.account(0.4), self.rng.choice(REGIONS)
        # 35-80 days: medium whether read as a cost notice or as a 30-90 day deadline
        day = _midnight(t + timedelta(days=self.rng.randint(35, 80)))
        facts = Facts([account], SEVERITY["billing"], cost_impact=True, service=service)
        return self.health("billing", t, self.expect(facts), service=service, code=code,
                           category="accountNotification", status="upcoming", start=day,
                           text=pattern.format(date=f"{day:%d %B %Y}", region=region),
                           account=account, region=region, entities=[])

    def public(self, t: datetime) -> list[LabelledEvent]:
        """A public event, as EventBridge delivers it: the envelope names the receiving
        account, the event itself names none."""
        service, code, _ = self.rng.choice(c.ISSUES)
        region = self.rng.choice(REGIONS)
        text = f"We are investigating elevated API error rates for {service} in {region}."
        update = {"status": "closed", "text": text + " The issue has been resolved."} \
            if self.rng.random() < 0.5 else None
        return self.health("public", t, self.expect(None, public=True), service=service,
                           code=code, category="issue", status="open",
                           start=t - timedelta(minutes=20), text=text, account=None,
                           region=region, entities=[], scope="PUBLIC",
                           envelope_account=self.account(), update=update)

    def unknown_account(self, t: datetime) -> list[LabelledEvent]:
        service, code, pattern = self.rng.choice(c.ISSUES)
        account, region = self.view.unknown_account(self.rng), self.rng.choice(REGIONS)
        text = f"We are investigating increased error rates for {service} in {region}."
        facts = Facts([account], SEVERITY["issue_production"], service=service)
        return self.health("unknown_account", t, self.expect(facts), service=service,
                           code=code, category="issue", status="open",
                           start=t - timedelta(minutes=15), text=text, account=account,
                           region=region, entities=[self.fill(pattern, account, region)])

    def no_account(self, t: datetime) -> list[LabelledEvent]:
        """Bare AWS Health, as the prototype's mock-ups send it, naming no account."""
        service, code, _, plain, _ = self.rng.choice(c.DEPRECATIONS)
        day, _ = self.deadline(t)
        text = plain.format(minor=self.rng.randint(5, 9), date=f"{day:%d %B %Y}")
        return self.health("no_account", t, self.expect(None), service=service, code=code,
                           category="scheduledChange", status="upcoming", start=day,
                           text=text, account=None, region=self.rng.choice(REGIONS),
                           entities=[], wrap=False)

    # -- Security Hub -------------------------------------------------------------------------
    def finding(self, t: datetime) -> list[LabelledEvent]:
        """A failed security control check (a compliance violation)."""
        control, title, kind, pattern, finding_type = self.rng.choice(c.FINDINGS)
        account, region = self.account(), self.rng.choice(REGIONS)
        severity_label = self._label(c.CONTROL_LABELS)
        resource = self.fill(pattern, account, region)
        finding_id = (f"arn:aws:securityhub:{region}:{account}:subscription/aws-foundational-"
                      f"security-best-practices/v/1.0.0/{control}/finding/{uuid(self.rng)}")
        facts = Facts([account], finding_severity(severity_label, compliance_failed=True,
                                                  exploited=False),
                      security_high=severity_label in SECURITY_HIGH,
                      resource_types=(c.RESOURCE_TYPES[pattern],))
        return self._findings("finding", t, facts, finding_id, dict(
            account=account, region=region, title=title,
            text=f"{title}. Control {control} failed for {resource}.", types=[finding_type],
            label=severity_label, resource_type=kind, resource_id=resource,
            generator=f"security-control/{control}"))

    def vulnerability(self, t: datetime) -> list[LabelledEvent]:
        """An Amazon Inspector package vulnerability on an instance, through Security Hub."""
        cve, package, text = self.rng.choice(c.VULNERABILITIES)
        account, region = self.account(), self.rng.choice(REGIONS)
        severity_label = self._label(c.VULNERABILITY_LABELS)
        exploited = severity_label in ("HIGH", "MEDIUM") and self.rng.random() < 0.25
        pattern = "arn:aws:ec2:{region}:{account}:instance/i-{hex}"
        resource = self.fill(pattern, account, region)
        finding_id = f"arn:aws:inspector2:{region}:{account}:finding/{uuid(self.rng)[:32]}"
        facts = Facts([account], finding_severity(severity_label, compliance_failed=False,
                                                  exploited=exploited),
                      security_high=severity_label in SECURITY_HIGH,
                      resource_types=(c.RESOURCE_TYPES[pattern],))
        return self._findings("vulnerability", t, facts, finding_id, dict(
            account=account, region=region, title=f"{cve} - {package}",
            text=text + (c.EXPLOITED_NOTE if exploited else ""),
            types=["Software and Configuration Checks/Vulnerabilities/CVE"],
            label=severity_label, resource_type="AwsEc2Instance", resource_id=resource,
            generator="AWSInspector", product="inspector", compliance=None))

    def _label(self, weighted: tuple[tuple[str, int], ...]) -> str:
        found = self.rng.choices([name for name, _ in weighted], [w for _, w in weighted])[0]
        assert found in FINDING_SEVERITY
        return found

    def _findings(self, kind: str, t: datetime, facts: Facts, finding_id: str,
                  fields: dict[str, Any]) -> list[LabelledEvent]:
        created = t - timedelta(minutes=self.rng.randint(1, 20))

        def build(updated: datetime) -> dict[str, Any]:
            found = asff_finding(finding_id=finding_id, created=created, updated=updated,
                                 **fields)
            return envelope(self.rng, "aws.securityhub", "Security Hub Findings - Imported",
                            fields["account"], fields["region"], updated, [finding_id],
                            {"findings": [found]})

        first = LabelledEvent(build(created), t, finding_id, kind, self.expect(facts))
        if self.rng.random() < 0.4:  # Security Hub re-imports a finding on every check
            at = self.later(t)
            return self.with_copies(first, build(at - timedelta(minutes=1)), at)
        return self.with_copies(first)

    # -- CloudWatch and Cost Anomaly Detection ------------------------------------------------
    def alarm(self, t: datetime) -> list[LabelledEvent]:
        name_pattern, namespace, metric, dimension, value_pattern = self.rng.choice(c.ALARMS)
        account, region = self.account(), self.rng.choice(REGIONS)
        name = self.fill(name_pattern, account, region)
        while f"{account}/{region}/{name}" in self.alarm_names:
            name += f"-{self.rng.randint(2, 99)}"
        self.alarm_names.add(f"{account}/{region}/{name}")
        arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
        target = self.fill(value_pattern, account, region)

        def build(state: str, previous: str, when: datetime) -> dict[str, Any]:
            crossed = "greater" if state == "ALARM" else "not greater"
            detail = {
                "alarmName": name,
                "state": {"value": state, "timestamp": seconds(when), "reason":
                          f"Threshold Crossed: 3 datapoints were {crossed} than the "
                          "threshold (80.0)."},
                "previousState": {"value": previous, "reason": "Threshold Crossed",
                                  "timestamp": seconds(when - timedelta(minutes=30))},
                "configuration": {"description": f"{metric} of {target} too high",
                                  "metrics": [{"id": "m1", "returnData": True, "metricStat": {
                                      "metric": {"namespace": namespace, "name": metric,
                                                 "dimensions": {dimension: target}},
                                      "period": 300, "stat": "Average"}}]}}
            return envelope(self.rng, "aws.cloudwatch", "CloudWatch Alarm State Change",
                            account, region, when, [arn], detail)

        service = namespace.removeprefix("AWS/").upper()
        facts = Facts([account], SEVERITY["alarm_production"], service=service)
        stamp = t - timedelta(seconds=self.rng.randint(5, 120))
        first = LabelledEvent(build("ALARM", "OK", stamp), t, arn, "alarm", self.expect(facts))
        if self.rng.random() < 0.5:
            at = self.later(t, 180)
            return self.with_copies(first, build("OK", "ALARM", at - timedelta(seconds=30)), at)
        return self.with_copies(first)

    def cost_anomaly(self, t: datetime) -> list[LabelledEvent]:
        account, region = self.account(0.4), self.rng.choice(REGIONS)
        service = self.rng.choice(c.COST_SERVICES)
        anomaly_id = uuid(self.rng)
        impact = round(self.rng.uniform(150, 6000), 2)
        usual = round(self.rng.uniform(100, 2000), 2)
        day = t.strftime("%Y-%m-%d")
        detail = {
            "accountId": account, "anomalyId": anomaly_id,
            "anomalyStartDate": day, "anomalyEndDate": day, "dimensionalValue": service,
            "monitorArn": f"arn:aws:ce::{account}:anomalymonitor/{uuid(self.rng)}",
            "monitorName": "Services", "monitorType": "DIMENSIONAL",
            "impact": {"maxImpact": impact, "totalActualSpend": round(usual + impact, 2),
                       "totalExpectedSpend": usual, "totalImpact": impact,
                       "totalImpactPercentage": round(100 * impact / usual, 1)},
            "anomalyScore": {"maxScore": 0.87, "currentScore": 0.81},
            "rootCauses": [{"service": service, "region": region, "linkedAccount": account,
                            "usageType": "BoxUsage:m5.2xlarge"}],
            "anomalyDetailsLink": "https://console.aws.amazon.com/cost-management/home#/"
                                  f"anomaly-detection/monitors/anomalies/{anomaly_id}"}
        payload = envelope(self.rng, "aws.ce", "Anomaly Detected", account, region, t, [],
                           detail)
        facts = Facts([account], SEVERITY["cost_anomaly"], cost_impact=True)
        return self.with_copies(LabelledEvent(payload, t, anomaly_id, "cost_anomaly",
                                              self.expect(facts)))
