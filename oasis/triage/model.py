"""The one shape every operational event takes inside triage: `OpsEvent`.

AWS Health, Security Hub, CloudWatch, Alertmanager, Cost Anomaly Detection and people
each describe trouble in their own words. Acknowledge and Triage should not care which:
`oasis.triage.parse` translates each into an `OpsEvent`, and everything after reads only
that. The original payload rides along in `raw` so nothing a source said is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer, field_validator

from oasis.signals.errors import InvalidInput
from oasis.signals.model import utc_iso

Source = Literal["aws.health", "aws.securityhub", "aws.cloudwatch", "alertmanager",
                 "aws.cost-anomaly", "user", "pagerduty"]
Category = Literal["issue", "scheduledChange", "accountNotification", "investigation",
                   "finding", "alarm", "cost", "report"]


class EventFormatError(InvalidInput, ValueError):
    """A payload that is not an event OASIS can read; the message names the field and why."""


class Resource(BaseModel):
    """Something an event touches: an ARN, an instance id, a bucket."""

    id: str = Field(description="ARN when the source gives one, else the source's own id.")
    type: str | None = Field(None, description=(
        "CloudFormation-style type when known (AWS::EC2::VPC), so team ownership by type "
        "prefix works the same for every source."))
    account: str | None = Field(None, description="Owning account id, when known.")
    region: str | None = Field(None, description="Region code, when known.")
    tags: dict[str, str] = Field(default_factory=dict, description="Resource tags, if sent.")


class OpsEvent(BaseModel):
    """One operational event, normalised; `key` identifies it across its updates."""

    key: str = Field(description=(
        "EventPk: Health eventArn, finding Id, alarm ARN, 'alertmanager:<fingerprint>', "
        "'pagerduty:<integration>:<dedup_key>', anomaly id or 'report:<uuid>'. An update of "
        "the same event keeps its key."))
    source: Source
    category: Category
    title: str = Field(description="One line, for lists and ticket titles.")
    description: str = Field(description="Full text as the source wrote it (untrusted).")
    service: str | None = Field(description="Service code, e.g. EKS, EC2, RDS.")
    event_type: str | None = Field(description=(
        "eventTypeCode, first finding type, alarm name, alertname or 'cost_anomaly'."))
    region: str | None
    status: str | None = Field(description=(
        "Health: open|closed|upcoming; finding: NEW|NOTIFIED|RESOLVED|SUPPRESSED|ARCHIVED; "
        "alarm: ALARM|OK|INSUFFICIENT_DATA; alert: firing|resolved; report: open."))
    scope: str | None = Field(description="Health eventScopeCode: ACCOUNT_SPECIFIC|PUBLIC|NONE.")
    severity_label: str | None = Field(description=(
        "Finding Severity.Label (CRITICAL..INFORMATIONAL) or the alert's severity label."))
    accounts: list[str] = Field(description="Affected account ids.")
    resources: list[Resource]
    start_time: datetime | None
    end_time: datetime | None
    last_updated: datetime = Field(description=(
        "When the source last changed the event; a newer value means an update."))
    cost_amount: float | None = Field(None, description="Cost impact in USD, if any.")
    labels: dict[str, str] = Field(default_factory=dict, description=(
        "Extra facts worth matching on: alert labels, generator id, monitor name..."))
    raw: dict[str, Any] = Field(description="The original payload, envelope included.")

    @field_validator("start_time", "end_time", "last_updated")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # a guessed zone would shift the event by hours
            raise ValueError("time has no timezone")
        return value.astimezone(UTC)

    @field_serializer("start_time", "end_time", "last_updated", when_used="json")
    def _iso(self, value: datetime | None) -> str | None:
        return None if value is None else utc_iso(value)
