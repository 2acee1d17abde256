"""The Slack app's settings section; light on purpose (pydantic only), because
`oasis.config` imports it and importing the settings must not load FastAPI or slack_sdk."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SlackSettings(BaseModel):
    """Set under `slack:` in the YAML file or as `OASIS_SLACK__...` variables."""

    model_config = ConfigDict(extra="forbid")

    signing_secret: SecretStr | None = Field(None, description=(
        "The app's signing secret (Basic Information page). Without it every inbound "
        "request is refused."))
    bot_token: SecretStr | None = Field(None, description=(
        "Bot token (xoxb-...) used to post messages. Without it nothing is sent."))
    api_url: str = Field("https://slack.com/api/", description=(
        "Base URL of Slack's Web API; tests point it at a local stand-in."))
    default_channel: str | None = Field(None, description=(
        "Channel for messages whose owning team has no channel of its own."))
