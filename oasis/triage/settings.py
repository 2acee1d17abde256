"""Triage settings: whose accounts and teams, which extra policy, how much to buffer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class LabelRouting(BaseModel):
    """Which labels route alerts to teams (`triage.routing`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: list[str] = Field(default_factory=lambda: ["team", "namespace", "cluster",
                                                       "service"], description=(
        "Labels read to find the owning team, in order; the first that routes wins."))
    environment_labels: list[str] = Field(default_factory=lambda: ["environment", "env",
                                                                   "stage"], description=(
        "Labels naming the environment; prod, production, prd or live mean production."))
    default_environment: Literal["production", "non-production"] = Field(
        "production", description="For a label-routed alert that names no environment.")


class PagerDutyIntegration(BaseModel):
    """One sender pointed at OASIS as if it were PagerDuty (`POST /v2/enqueue`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="Shown in event keys and as the actor of its changes.")
    routing_key: SecretStr = Field(description=(
        "The 32-character integration key the sender puts in `routing_key`."))
    team: str | None = Field(None, description=(
        "Team id that owns its events (a `team` label; the organisation must have it)."))
    labels: dict[str, str] = Field(default_factory=dict, description=(
        "Labels added to every event, e.g. {environment: production, cluster: edge-1}."))


class SnsSettings(BaseModel):
    """Amazon SNS subscriptions posting to `POST /api/v1/events` (`triage.sns`)."""

    model_config = ConfigDict(extra="forbid")

    verify_signatures: bool = Field(True, description=(
        "Verify every SNS message's signature before trusting it (unsigned or forged: 403)."))
    confirm_subscriptions: bool = Field(True, description=(
        "Answer a SubscriptionConfirmation by fetching its SubscribeURL (SNS hosts only)."))
    hosts: list[str] = Field(default_factory=lambda: ["sns.*.amazonaws.com",
                                                      "sns.*.amazonaws.com.cn"],
                             description="Hosts (glob) signing certificates and subscribe "
                                         "URLs may come from.")
    require_https: bool = Field(True, description=(
        "Fetch certificates and subscribe URLs over HTTPS only (tests turn it off)."))


class JiraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="e.g. https://example.atlassian.net")
    email: str = Field(description="The account the API token belongs to")
    api_token: SecretStr = Field(description="Jira API token (OASIS_TRIAGE__JIRA__API_TOKEN)")
    project_key: str = Field(description="Project the tickets go to, e.g. OPS")
    issue_type: str = Field("Task", description="Issue type of created tickets")


class TriageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_file: Path | None = Field(
        None, description="YAML/JSON accounts and teams (examples/organisation.yaml). Unset: "
        "the built-in organisation, one team 'ops' and no accounts (docs/triage-events.md).")
    policy_file: Path | None = Field(
        None, description="Extra Acknowledge rules (examples/policy.yaml); the prototype's "
        "decision flow applies without it.")
    allow_interaction: bool = Field(
        False, description="Events that name no account go to a person (Accept/Discharge) "
        "instead of being discharged.")
    queue_size: int = Field(10_000, ge=1, description="Events buffered before the HTTP "
                                                      "endpoint pushes back with 429.")
    queue_claim_seconds: float = Field(
        120.0, gt=0, description="How long the worker holds a queued event. If OASIS dies "
        "while triaging it, it is taken up again (finishing what was done) this long after.")
    max_body_kb: int = Field(1024, ge=1, description="Largest accepted event body (413).")
    jira: JiraSettings | None = Field(None, description="Mirror tickets to Jira when set.")
    routing: LabelRouting = Field(default_factory=LabelRouting, description=(
        "How alerts from outside AWS (no account) find their team: by labels."))
    sns: SnsSettings = Field(default_factory=SnsSettings, description=(
        "Signature checks and subscription confirmation for SNS messages."))
    pagerduty: list[PagerDutyIntegration] = Field(default_factory=list, description=(
        "Integrations for the PagerDuty Events API v2 endpoints (/v2/enqueue); a routing "
        "key that is none of these is refused (400, as PagerDuty does)."))
