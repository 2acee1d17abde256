"""Approval settings: who may skip the question, and how long a link stays good."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from oasis.remediate.catalog import ActionKind, Risk


class AutoApproveRule(BaseModel):
    """Run `actions` on `services` without asking, if their risk is at most `max_risk`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Shown on the incident as the reason nobody was asked.")
    actions: list[ActionKind] = Field(min_length=1, description="Action kinds it allows.")
    services: list[str] = Field(min_length=1, description="Services it covers, by exact name.")
    max_risk: Risk = Field(Risk.LOW, description="Highest risk it allows.")


class ApproveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_url: str = Field(
        "http://127.0.0.1:8080", description="Base URL of the OASIS service as people reach "
        "it; approval links in messages start with it.")
    link_ttl_minutes: float = Field(
        60.0, gt=0, description="How long an approval link works.")
    secret: SecretStr | None = Field(
        None, description="Key that signs approval links. Unset: one is generated and kept in "
        "the state database, so every process sharing it agrees.")
    auto_approve: list[AutoApproveRule] = Field(
        default_factory=list, description="Policies that approve without asking; default "
        "none: every action waits for a person.")
