"""How the response loop paces itself and judges whether a fix worked."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RespondSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_seconds: float = Field(
        2.0, gt=0, description="How often the loop proposes, runs approved actions and "
        "verifies; queued notifications are sent as often unless "
        "`notify.dispatch_interval_seconds` says otherwise.")
    verify_quiet_minutes: float = Field(
        5.0, gt=0, description="Minutes without any symptom, after the action finished, that "
        "count as the fix working (`mitigated`).")
    verify_window_minutes: float = Field(
        20.0, gt=0, description="Minutes after the action within which symptoms must stop; "
        "otherwise the incident is `failed` and escalated to people.")
    action_lease_seconds: float = Field(
        30.0, gt=0, description="A running action's claim; renewed while it runs. If OASIS "
        "dies mid-action, another process (or the restarted one) resumes it after this.")
    auto_resolve_recovered: bool = Field(
        True, description="Resolve incidents whose symptoms cleared without any action, "
        "withdrawing their proposals and sending the final report.")
